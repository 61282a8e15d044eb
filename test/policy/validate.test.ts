// Schema and semantic validation of single policies: every check, bad input, never throwing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isPolicyDocument, LIMITS, MAX_WARNING_LENGTH, nullFromSourceWarnings, validatePolicy } from '../../policy/validate.ts';
import type { Problem } from '../../policy/types.ts';

type Obj = Record<string, unknown>;

function ksp(spec: Obj, extra: Obj = {}): Obj {
  return { apiVersion: 'security.kubearmor.com/v1', kind: 'KubeArmorPolicy', metadata: { name: 'p', namespace: 'ns' }, spec: { selector: { matchLabels: { app: 'x' } }, ...spec }, ...extra };
}

function check(doc: unknown): { ok: boolean; errors: Problem[]; warnings: Problem[] } {
  const r = validatePolicy(doc);
  const errors = r.problems.filter((p) => p.level === 'error');
  const warnings = r.problems.filter((p) => p.level === 'warning');
  for (const w of warnings) assert.ok(`${w.path}: ${w.message}`.length < MAX_WARNING_LENGTH, `warning under ${MAX_WARNING_LENGTH} chars: ${w.path}: ${w.message}`);
  assert.equal(r.policy !== null, errors.length === 0, 'policy is non-null exactly when there is no error');
  return { ok: r.policy !== null, errors, warnings };
}

const paths = (ps: Problem[]): string[] => ps.map((p) => p.path);

test('a plain policy is valid and returned as given', () => {
  const doc = ksp({ file: { matchPaths: [{ path: '/etc/shadow', readOnly: true }] }, action: 'Block' });
  const r = validatePolicy(doc);
  assert.deepEqual(r.problems, []);
  assert.equal(r.policy, doc);
});

test('isPolicyDocument: the three KubeArmor kinds only', () => {
  assert.ok(isPolicyDocument(ksp({})));
  assert.ok(isPolicyDocument({ kind: 'KubeArmorHostPolicy' }));
  assert.ok(!isPolicyDocument({ apiVersion: 'v1', kind: 'Pod' }));
  assert.ok(!isPolicyDocument({ apiVersion: 'security.kubearmor.com/v1', kind: 'KubeArmorNetworkPolicy' }));
  assert.ok(!isPolicyDocument(null));
  assert.ok(!isPolicyDocument([ksp({})]));
  assert.ok(!isPolicyDocument('KubeArmorPolicy'));
});

test('schema errors name the field and say what is wrong, all at once', () => {
  const r = check(ksp({
    file: { matchDirectories: [{ dir: '/etc/' }, { dir: '/etc', recursive: 'yes' }], matchPaths: [{ path: '/a', bogus: 1 }] },
    process: { matchPaths: [{ path: '/bin/sh', severity: 11 }] },
    network: { matchProtocols: [{ protocol: 'http' }] },
    capabilities: { matchCapabilities: [{}] },
    action: 'Deny',
  }));
  assert.ok(!r.ok);
  const byPath = new Map(r.errors.map((e) => [e.path, e.message]));
  assert.match(byPath.get('spec.file.matchDirectories[1].dir') ?? '', /directory path ending in '\/'.*"\/etc"/);
  assert.match(byPath.get('spec.file.matchDirectories[1].recursive') ?? '', /must be true or false, not "yes"/);
  assert.equal(byPath.get('spec.file.matchPaths[0].bogus'), 'unknown field');
  assert.match(byPath.get('spec.process.matchPaths[0].severity') ?? '', /<= 10, not 11/);
  assert.match(byPath.get('spec.network.matchProtocols[0].protocol') ?? '', /must match|protocol/);
  assert.equal(byPath.get('spec.capabilities.matchCapabilities[0].capability'), 'is required');
  assert.match(byPath.get('spec.action') ?? '', /one of Allow, Audit, Block, not "Deny"/);
});

test('apiVersion, kind and metadata.name are checked', () => {
  assert.deepEqual(paths(check({ kind: 'KubeArmorPolicy', metadata: { name: 'a' }, spec: {} }).errors), ['apiVersion']);
  assert.deepEqual(paths(check(ksp({}, { apiVersion: 'security.kubearmor.com/v2' })).errors), ['apiVersion']);
  assert.deepEqual(paths(check(ksp({}, { metadata: {} })).errors), ['metadata.name']);
  assert.deepEqual(paths(check(ksp({}, { metadata: { name: 'Bad_Name' } })).errors), ['metadata.name']);
  const wrongKind = check({ apiVersion: 'security.kubearmor.com/v1', kind: 'Pod', metadata: { name: 'a' } });
  assert.deepEqual(paths(wrongKind.errors), ['kind']);
  assert.match(wrongKind.errors[0]?.message ?? '', /KubeArmorPolicy, KubeArmorClusterPolicy, KubeArmorHostPolicy/);
  assert.deepEqual(paths(check({ metadata: { name: 'a' } }).errors), ['kind', 'apiVersion']);
});

test('per-kind differences: selectors, nodeSelector, host fromSource', () => {
  // KubeArmorPolicy: matchExpressions key is label only
  assert.deepEqual(paths(check(ksp({ selector: { matchExpressions: [{ key: 'namespace', operator: 'In', values: ['a'] }] } })).errors), ['spec.selector.matchExpressions[0].key']);
  const csp = (spec: Obj): Obj => ({ apiVersion: 'security.kubearmor.com/v1', kind: 'KubeArmorClusterPolicy', metadata: { name: 'c' }, spec: { process: { matchPaths: [{ path: '/bin/sh' }] }, ...spec } });
  assert.ok(check(csp({ selector: { matchExpressions: [{ key: 'namespace', operator: 'NotIn', values: ['kube-system'] }] } })).ok);
  assert.deepEqual(paths(check(csp({ selector: { matchLabels: { a: 'b' } } })).errors), ['spec.selector.matchLabels']);
  assert.deepEqual(paths(check(csp({ selector: { matchExpressions: [{ key: 'label', operator: 'Exists' }] } })).errors), ['spec.selector.matchExpressions[0].operator']);
  const hsp = (spec: Obj): Obj => ({ apiVersion: 'security.kubearmor.com/v1', kind: 'KubeArmorHostPolicy', metadata: { name: 'h' }, spec });
  assert.deepEqual(paths(check(hsp({ process: { matchPaths: [{ path: '/bin/sh' }] } })).errors), ['spec.nodeSelector']);
  const host = check(hsp({ nodeSelector: { matchLabels: { 'kubernetes.io/hostname': 'n1' } }, network: { matchProtocols: [{ protocol: 'udp' }] }, capabilities: { matchCapabilities: [{ capability: 'net_raw' }] } }));
  assert.deepEqual(paths(host.errors).sort(), ['spec.capabilities.matchCapabilities[0].fromSource', 'spec.network.matchProtocols[0].fromSource']);
  const okHost = check(hsp({ nodeSelector: { matchLabels: { a: 'b' } }, device: { matchDevice: [{ class: 'USB', level: 1 }] }, process: { matchPaths: [{ path: '/bin/sh' }] } }));
  assert.ok(okHost.ok);
  assert.deepEqual(paths(okHost.warnings).sort(), ['kind', 'spec.device']);
  assert.deepEqual(paths(check(ksp({ nodeSelector: { matchLabels: {} } })).errors), ['spec.nodeSelector']);
  assert.deepEqual(paths(check(hsp({ nodeSelector: {}, presets: [{ name: 'exec' }] })).errors), ['spec.presets']);
});

test('syscalls, presets, apparmor, DNS are validated (and warned as not enforced)', () => {
  const bad = check(ksp({ syscalls: { matchSyscalls: [{ syscall: ['openat', 'frobnicate'] }], matchPaths: [{ path: 'relative', syscall: ['unlink'] }] } }));
  assert.deepEqual(paths(bad.errors).sort(), ['spec.syscalls.matchPaths[0].path', 'spec.syscalls.matchSyscalls[0].syscall[1]']);
  const r = check(ksp({
    syscalls: { matchSyscalls: [{ syscall: ['openat'], fromSource: [{ dir: '/bin/', recursive: true }] }] },
    presets: [{ name: 'filelessExec', action: 'Block' }, { name: 'noSuchPreset' }],
    apparmor: '#include <tunables/global>',
    network: { matchDNSQueries: [{ domain: 'example.com' }] },
  }));
  assert.ok(r.ok);
  assert.deepEqual(paths(r.warnings).sort(), ['spec', 'spec.apparmor', 'spec.network.matchDNSQueries', 'spec.presets', 'spec.presets[1].name', 'spec.syscalls']);
  assert.match(r.warnings.find((w) => w.path === 'spec')?.message ?? '', /no enforceable rule/);
  assert.match(r.warnings.find((w) => w.path === 'spec.presets[1].name')?.message ?? '', /unknown preset "noSuchPreset"/);
  for (const w of r.warnings.filter((x) => ['spec.apparmor', 'spec.syscalls', 'spec.presets', 'spec.network.matchDNSQueries'].includes(x.path))) {
    assert.match(w.message, /validated but not enforced yet/);
  }
});

test('allowedArgs and pts are warned as not enforced', () => {
  const r = check(ksp({ process: { matchPaths: [{ path: '/bin/ls', allowedArgs: ['-l'], pts: true }] }, file: { matchPaths: [{ path: '/a', pts: false }] } }));
  assert.ok(r.ok);
  assert.deepEqual(paths(r.warnings), ['spec.process.matchPaths[0].allowedArgs', 'spec.process.matchPaths[0].pts']);
});

test('process.matchPaths: path and execname, both or neither, is an error', () => {
  const r = check(ksp({ process: { matchPaths: [{ path: '/bin/sh', execname: 'sh' }, { ownerOnly: true }, { execname: 'sh' }] } }));
  assert.deepEqual(r.errors, [
    { level: 'error', path: 'spec.process.matchPaths[0]', message: 'has both path and execname: give exactly one' },
    { level: 'error', path: 'spec.process.matchPaths[1]', message: 'needs a path or an execname' },
  ]);
});

test('matchPatterns: an invalid glob is an error naming the pattern field', () => {
  const r = check(ksp({ file: { matchPatterns: [{ pattern: '/etc/*hado?' }, { pattern: '/etc/[a-' }, { pattern: 'etc/x' }] }, process: { matchPatterns: [{ pattern: '/bin/{a,b' }] } }));
  assert.deepEqual(paths(r.errors), ['spec.process.matchPatterns[0].pattern', 'spec.file.matchPatterns[1].pattern', 'spec.file.matchPatterns[2].pattern']);
  assert.match(r.errors[0]?.message ?? '', /invalid glob: a '\{' is never closed/);
  assert.match(r.errors[2]?.message ?? '', /absolute path/);
});

test('same target with opposite actions: Allow against Block is an error, Audit against Block a warning', () => {
  const r = check(ksp({
    file: {
      action: 'Allow',
      matchPaths: [
        { path: '/etc/passwd' },                         // Allow (section)
        { path: '/etc/passwd', action: 'Block' },        // contradicts [0]
        { path: '/etc/passwd', readOnly: true, action: 'Block' }, // another target: readOnly differs
        { path: '/etc/passwd', fromSource: [{ path: '/bin/cat' }], action: 'Block' }, // another source
      ],
      matchDirectories: [{ dir: '/var/', action: 'Audit' }, { dir: '/var/', recursive: true }, { dir: '/var/', action: 'Block' }],
    },
    network: { matchProtocols: [{ protocol: 'TCP', action: 'Allow' }, { protocol: 'tcp', action: 'Block' }] },
  }));
  assert.deepEqual(paths(r.errors), ['spec.file.matchPaths[1]', 'spec.network.matchProtocols[1]']);
  assert.match(r.errors[0]?.message ?? '', /Block contradicts Allow of spec\.file\.matchPaths\[0\]/);
  assert.deepEqual(paths(r.warnings), ['spec.file.matchDirectories[2]']);
  assert.match(r.warnings[0]?.message ?? '', /Block wins/);
  // the same with the same action, or in another kind, is fine
  assert.ok(check(ksp({ process: { matchPaths: [{ path: '/bin/sh' }, { path: '/bin/sh' }] }, file: { matchPaths: [{ path: '/bin/sh', action: 'Allow' }] } })).ok);
  // a fromSource shared by both rules conflicts
  const src = [{ path: '/bin/bash' }];
  assert.deepEqual(paths(check(ksp({ capabilities: { matchCapabilities: [{ capability: 'net_raw', fromSource: src, action: 'Allow' }, { capability: 'net_raw', fromSource: [{ path: '/bin/x' }, ...src] }] } })).errors), ['spec.capabilities.matchCapabilities[1]']);
});

test('comma lists and unknown names in protocol/capability are warnings', () => {
  const r = check(ksp({ network: { matchProtocols: [{ protocol: 'tcp,udp' }, { protocol: 'xtcp' }] }, capabilities: { matchCapabilities: [{ capability: 'cap_net_raw' }] } }));
  assert.ok(r.ok);
  assert.deepEqual(paths(r.warnings), ['spec.network.matchProtocols[0].protocol', 'spec.network.matchProtocols[1].protocol']);
  assert.match(r.warnings[0]?.message ?? '', /comma list/);
  assert.match(r.warnings[1]?.message ?? '', /"xtcp" is not a protocol name/);
});

test('NotIn after In and an empty In are warnings', () => {
  const r = check(ksp({ selector: { matchExpressions: [{ key: 'label', operator: 'In', values: [] }, { key: 'label', operator: 'NotIn', values: ['a=b'] }] }, process: { matchPaths: [{ path: '/bin/sh' }] } }));
  assert.ok(r.ok);
  assert.deepEqual(paths(r.warnings), ['spec.selector.matchExpressions[0].values', 'spec.selector.matchExpressions[1]']);
});

test('null fields are pruned as the API server does; spec may be absent', () => {
  const doc = ksp({ file: { matchPaths: [{ path: '/etc/shadow', fromSource: null }] }, message: null });
  const r = validatePolicy(doc);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.policy?.spec, { selector: { matchLabels: { app: 'x' } }, file: { matchPaths: [{ path: '/etc/shadow' }] } });
  const empty = validatePolicy({ apiVersion: 'security.kubearmor.com/v1', kind: 'KubeArmorPolicy', metadata: { name: 'e' }, spec: null });
  assert.deepEqual(empty.policy?.spec, {});
  assert.deepEqual(paths(empty.problems), ['spec']);
  // a null inside a list is not pruned: the schema rejects it
  assert.deepEqual(paths(check(ksp({ tags: ['a', null] })).errors), ['spec.tags[1]']);
  assert.deepEqual(nullFromSourceWarnings(['spec.file.matchPaths[0].fromSource']).map((p) => [p.level, p.path]), [['warning', 'spec.file.matchPaths[0].fromSource']]);
});

test('bad input: wrong types, unknown fields, non-objects', () => {
  for (const doc of [null, undefined, 42, 'text', [], [ksp({})], true]) {
    const r = validatePolicy(doc);
    assert.equal(r.policy, null);
    assert.deepEqual(paths(r.problems), ['']);
    assert.match(r.problems[0]?.message ?? '', /a policy must be a mapping/);
  }
  assert.deepEqual(paths(check(ksp({}, { spec: 'x' })).errors), ['spec']);
  assert.deepEqual(paths(check(ksp({ file: [] })).errors), ['spec.file']);
  assert.deepEqual(paths(check(ksp({ file: { matchPaths: {} } })).errors), ['spec.file.matchPaths']);
  assert.deepEqual(paths(check(ksp({ unknownSection: {} }, { extra: 1 })).errors).sort(), ['extra', 'spec.unknownSection']);
});

test('bad input: a "__proto__" key is an unknown field, with or without nulls to prune', () => {
  const base = '"apiVersion": "security.kubearmor.com/v1", "kind": "KubeArmorPolicy", "metadata": {"name": "p"}';
  for (const extra of ['', ', "message": null']) {
    const doc: unknown = JSON.parse(`{${base}, "spec": {"__proto__": {"action": "Allow"}, "file": {"matchPaths": [{"path": "/a"}]}${extra}}}`);
    assert.deepEqual(paths(check(doc).errors), ['spec.__proto__']);
  }
});

test('bad input: a 10 MB policy is refused, naming the limit', () => {
  const big = check(ksp({ message: 'x'.repeat(10 * 1024 * 1024) }));
  assert.deepEqual(paths(big.errors), ['spec.message']);
  assert.match(big.errors[0]?.message ?? '', /policy too large/);
  const rules = Array.from({ length: 300_000 }, (_, i) => ({ path: `/f/${i}` }));
  const many = check(ksp({ file: { matchPaths: rules } }));
  assert.match(many.errors[0]?.message ?? '', /policy too large: more than \d+ values/);
});

test('bad input: deep nesting is refused without exhausting the stack', () => {
  let deep: unknown = 'leaf';
  for (let i = 0; i < 100_000; i++) deep = { a: deep };
  const r = check(ksp({ tags: [deep] }));
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0]?.message ?? '', new RegExp(`nested deeper than ${LIMITS.depth} levels`));
  assert.ok(r.errors[0]?.path.startsWith('spec.tags[0].a.a'));
});

test('a warning with its path stays under 120 characters, even for long values', () => {
  const long = 'x'.repeat(300);
  const r = check(ksp({ presets: [{ name: long }], network: { matchProtocols: [{ protocol: `${long},tcp` }] }, process: { matchPaths: Array.from({ length: 12 }, (_, i) => ({ path: `/bin/${i}`, pts: true, allowedArgs: ['-x'] })) } }));
  assert.ok(r.warnings.length >= 27);
});

test('schema problems are capped', () => {
  const r = check(ksp({ file: { matchPaths: Array.from({ length: 500 }, () => ({ path: 'relative' })) } }));
  assert.equal(r.errors.length, 101);
  assert.match(r.errors[100]?.message ?? '', /only the first 100/);
});

test('property: validatePolicy never throws and keeps its contract on arbitrary input', () => {
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
    const r = validatePolicy(v);
    assert.equal(r.policy !== null, !r.problems.some((p) => p.level === 'error'));
  }), { numRuns: 300, seed: 1 });
  // mutations of a valid policy: arbitrary values at known places
  fc.assert(fc.property(fc.constantFrom('action', 'file', 'process', 'selector', 'severity', 'tags', 'network', 'capabilities', 'syscalls', 'presets'), fc.jsonValue({ maxDepth: 4 }), (key, value) => {
    const r = validatePolicy(ksp({ [key]: value }));
    for (const p of r.problems) {
      assert.equal(typeof p.path, 'string');
      assert.ok(p.message.length > 0);
      if (p.level === 'warning') assert.ok(`${p.path}: ${p.message}`.length < MAX_WARNING_LENGTH);
    }
  }), { numRuns: 300, seed: 2 });
});

test('V13: paths in non-canonical form warn with the canonical form; ".." is refused (issue 15)', () => {
  const r = check(ksp({
    action: 'Block',
    file: {
      matchPaths: [{ path: '/etc//shadow' }, { path: '/etc/./passwd', fromSource: [{ path: '/usr//bin/cat' }] }, { path: '/etc/ssl/../shadow' }, { path: '/etc/hosts/.' }],
      matchDirectories: [{ dir: '/var/./log/' }, { dir: '/srv/../etc/' }],
    },
    process: { matchPaths: [{ path: '/bin/./sh' }], matchDirectories: [{ dir: '//usr/bin/' }] },
  }));
  assert.ok(!r.ok);
  const warn = new Map(r.warnings.map((w) => [w.path, w.message]));
  assert.equal(warn.get('spec.file.matchPaths[0].path'), 'not canonical: enforced as "/etc/shadow"');
  assert.equal(warn.get('spec.file.matchPaths[1].path'), 'not canonical: enforced as "/etc/passwd"');
  assert.equal(warn.get('spec.file.matchPaths[1].fromSource[0].path'), 'not canonical: enforced as "/usr/bin/cat"');
  assert.equal(warn.get('spec.file.matchPaths[3].path'), 'not canonical: enforced as "/etc/hosts"');
  assert.equal(warn.get('spec.file.matchDirectories[0].dir'), 'not canonical: enforced as "/var/log/"');
  assert.equal(warn.get('spec.process.matchPaths[0].path'), 'not canonical: enforced as "/bin/sh"');
  assert.equal(warn.get('spec.process.matchDirectories[0].dir'), 'not canonical: enforced as "/usr/bin/"');
  assert.deepEqual(paths(r.errors).sort(), ['spec.file.matchDirectories[1].dir', 'spec.file.matchPaths[2].path']);
  for (const e of r.errors) assert.match(e.message, /"\.\." component: refused/);
  // canonical paths: no warning
  assert.deepEqual(check(ksp({ action: 'Block', file: { matchPaths: [{ path: '/etc/shadow' }], matchDirectories: [{ dir: '/' }] } })).warnings, []);
});

test('V3 compares canonical targets: "/etc//shadow" Allow against "/etc/shadow" Block contradicts', () => {
  const r = check(ksp({ file: { matchPaths: [{ path: '/etc/shadow', action: 'Block' }, { path: '/etc//shadow', action: 'Allow' }] } }));
  assert.ok(!r.ok);
  assert.match(r.errors[0]!.message, /Allow contradicts Block/);
});

test('V14: targets and sources longer than the kernel compares are refused, naming the limit', () => {
  const dir = '/' + 'd'.repeat(600) + '/';
  const exec = 'x'.repeat(510);
  const long = '/' + '\u00e9'.repeat(199); // 199 characters (the CRD's 200), 399 bytes: fits
  const longer = '/a/' + '\u4e2d'.repeat(180); // 183 characters, 543 bytes: does not
  const r = check(ksp({
    action: 'Block',
    file: { matchDirectories: [{ dir }], matchPaths: [{ path: long }, { path: longer }, { path: '/x', fromSource: [{ path: longer }] }] },
    process: { matchPaths: [{ execname: exec }] },
  }));
  assert.ok(!r.ok);
  const err = new Map(r.errors.map((e) => [e.path, e.message]));
  assert.equal(err.get('spec.file.matchDirectories[0].dir'), 'directory of 602 bytes: the kernel\'s limit is 509 (AG_PATH_MAX)');
  assert.equal(err.get('spec.file.matchPaths[1].path'), 'path of 543 bytes: the kernel\'s limit is 509 (AG_PATH_MAX)');
  assert.equal(err.get('spec.file.matchPaths[2].fromSource[0].path'), 'path of 543 bytes: the kernel\'s limit is 509 (AG_PATH_MAX)');
  assert.equal(err.get('spec.process.matchPaths[0].execname'), 'execname of 510 bytes: the kernel\'s limit is 509 (AG_PATH_MAX)');
  assert.equal(err.has('spec.file.matchPaths[0].path'), false);
});

test('V15: one policy never puts more rules that each decide something on one target than the kernel holds', () => {
  // 16 combinations of action/readOnly/ownerOnly/recursive on one directory: Audit and Block of
  // the same flags merge (Block wins), so 8 remain, which fits
  const rules: Obj[] = [];
  for (const action of ['Audit', 'Block']) for (const readOnly of [false, true]) for (const ownerOnly of [false, true]) for (const recursive of [false, true]) rules.push({ dir: '/srv/', action, readOnly, ownerOnly, recursive });
  const r = check(ksp({ file: { matchDirectories: rules } }));
  assert.ok(r.ok, JSON.stringify(r.errors));
  assert.ok(r.errors.every((e) => !/AG_MAX_ENT/.test(e.message)));
});
