import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { decide } from '../../policy/decide.ts';
import { parseDocuments } from '../../policy/parse.ts';
import { validatePolicy } from '../../policy/validate.ts';
import { canonicalJson } from '../../policy/canonical.ts';
import { compile, compileProfile } from '../../policy/compile.ts';
import { DEFAULT_POSTURE } from '../../policy/posture.ts';
import { decodeProfileAnnotation } from '../../policy/profile-codec.ts';
import { selectPolicies } from '../../policy/select.ts';
import { signProfile, verifyAnnotations } from '../../policy/sign.ts';
import type { Access } from '../../policy/decide.ts';
import type { Namespace, Pod, Policy, Profile, ProfileRule } from '../../policy/types.ts';
import { namespace, pod, policy } from './profile-fixtures.ts';

const KEY = Buffer.from('test-signing-key-of-some-length!');
const options = { defaultPosture: DEFAULT_POSTURE, signingKey: KEY };
function profileOf(policies: Policy[], thePod = pod({})): Profile {
  return compileProfile(selectPolicies(thePod, null, policies), DEFAULT_POSTURE);
}

test('inheritance: action, severity, tags, message from rule, else section, else spec; missing action is Block', () => {
  const p = policy('inh', {
    severity: 2, tags: ['spec'], message: 'spec message', action: 'Audit',
    file: {
      severity: 4, tags: ['section'],
      matchPaths: [
        { path: '/a', severity: 7, tags: ['rule'], message: 'rule message', action: 'Allow' },
        { path: '/b' },
      ],
    },
    process: { matchPaths: [{ path: '/bin/x' }] },
  });
  const prof = profileOf([p]);
  const [a, b] = prof.file;
  assert.deepEqual([a!.action, a!.severity, a!.tags, a!.message], ['Allow', 7, ['rule'], 'rule message']);
  assert.deepEqual([b!.action, b!.severity, b!.tags, b!.message], ['Audit', 4, ['section'], 'spec message']);
  assert.deepEqual([prof.process[0]!.action, prof.process[0]!.severity, prof.process[0]!.tags], ['Audit', 2, ['spec']]);
  const bare = profileOf([policy('bare', { file: { matchPaths: [{ path: '/c' }] } })]);
  assert.deepEqual([bare.file[0]!.action, bare.file[0]!.severity, bare.file[0]!.tags, bare.file[0]!.message], ['Block', 0, [], '']);
});

test('every kind of KubeArmor rule becomes its target; N fromSource entries become N rules', () => {
  const p = policy('all', {
    process: {
      matchPaths: [{ path: '/usr/bin/apt', fromSource: [{ path: '/bin/sh' }, { path: '/bin/bash' }] }, { execname: 'dpkg', ownerOnly: true }],
      matchDirectories: [{ dir: '/sbin/', recursive: true }],
      matchPatterns: [{ pattern: '/tmp/**' }],
    },
    file: {
      matchPaths: [{ path: '/etc/shadow', readOnly: true }],
      matchDirectories: [{ dir: '/etc/ssl/', readOnly: true, recursive: true, fromSource: [{ path: '/usr/sbin/update-ca-certificates' }] }],
      matchPatterns: [{ pattern: '/home/*/.ssh/*' }],
    },
    network: { matchProtocols: [{ protocol: 'RAW' }, { protocol: 'tcp,UDP' }] },
    capabilities: { matchCapabilities: [{ capability: 'net_raw' }, { capability: 'CAP_SYS_ADMIN' }] },
    action: 'Block',
  }, { namespace: 'default' });
  const prof = profileOf([p]);
  assert.deepEqual(prof.process.map((r) => [r.target, r.fromSource, r.ownerOnly]), [
    [{ type: 'directory', dir: '/sbin/', recursive: true }, '', false],
    [{ type: 'execname', name: 'dpkg' }, '', true],
    [{ type: 'path', path: '/usr/bin/apt' }, '/bin/bash', false],
    [{ type: 'path', path: '/usr/bin/apt' }, '/bin/sh', false],
    [{ type: 'pattern', pattern: '/tmp/**' }, '', false],
  ]);
  assert.deepEqual(prof.file.map((r) => [r.target, r.fromSource, r.readOnly]), [
    [{ type: 'directory', dir: '/etc/ssl/', recursive: true }, '/usr/sbin/update-ca-certificates', true],
    [{ type: 'path', path: '/etc/shadow' }, '', true],
    [{ type: 'pattern', pattern: '/home/*/.ssh/*' }, '', false],
  ]);
  assert.deepEqual(prof.network.map((r) => r.target), [
    { type: 'protocol', protocol: 'raw' }, { type: 'protocol', protocol: 'tcp' }, { type: 'protocol', protocol: 'udp' },
  ]);
  assert.deepEqual(prof.capabilities.map((r) => r.target), [
    { type: 'capability', capability: 'net_raw' }, { type: 'capability', capability: 'sys_admin' },
  ]);
  for (const kind of ['process', 'file', 'network', 'capabilities'] as const) {
    for (const r of prof[kind]) assert.deepEqual(r.policies, ['default/all']);
  }
});

test('identical rules from several policies merge: policies and tags unions, max severity, first message by policy', () => {
  const rule = (extra: Record<string, unknown>) => ({ file: { matchPaths: [{ path: '/etc/passwd', ...extra }] } });
  const ps = [
    policy('b', rule({ severity: 9, tags: ['y', 'x'], message: 'from b' })),
    policy('a', rule({ severity: 3, tags: ['z'] })),
    policy('c', rule({ severity: 5, message: 'from c' })),
    policy('d', rule({ action: 'Audit' })),
    policy('e', { file: { matchPaths: [{ path: '/etc/passwd' }] }, selector: { matchLabels: { 'kubearmor.io/container.name': '[main]' } } }),
    policy('cl', rule({ tags: ['x'] }), { kind: 'KubeArmorClusterPolicy' }),
  ];
  const prof = profileOf(ps);
  assert.equal(prof.file.length, 3);
  const [audit, withContainers, merged] = prof.file;
  assert.deepEqual(merged!.policies, ['cl', 'default/a', 'default/b', 'default/c']);
  assert.equal(merged!.severity, 9);
  assert.deepEqual(merged!.tags, ['x', 'y', 'z']);
  assert.equal(merged!.message, 'from b');
  assert.deepEqual(withContainers!.containers, ['main']);
  assert.deepEqual(withContainers!.policies, ['default/e']);
  assert.equal(audit!.action, 'Audit');
});

test('compile: the annotations of DESIGN.md, exactly', () => {
  const ps = [
    policy('p2', { file: { matchPaths: [{ path: '/x' }] } }, { namespace: 'prod', generation: 4 }),
    policy('p1', { process: { matchPaths: [{ execname: 'apt' }] } }, { namespace: 'prod' }),
    policy('cp', { capabilities: { matchCapabilities: [{ capability: 'net_raw' }] } }, { kind: 'KubeArmorClusterPolicy', generation: 2 }),
    policy('elsewhere', {}, { namespace: 'dev' }),
  ];
  const ns = namespace('prod', { 'kubearmor-file-posture': 'block' });
  const r = compile(pod({}, { namespace: 'prod' }), ns, ps, options);
  assert.ok(r.ok);
  if (!r.ok) return;
  const a = r.value.annotations;
  assert.deepEqual(Object.keys(a).sort(), ['armorgate.io/policies', 'armorgate.io/posture', 'armorgate.io/profile', 'armorgate.io/profile-digest', 'armorgate.io/profile-signature']);
  assert.equal(a['armorgate.io/policies'], 'cp@2,prod/p1@0,prod/p2@4');
  assert.deepEqual(r.value.bound, ['cp@2', 'prod/p1@0', 'prod/p2@4']);
  assert.equal(a['armorgate.io/posture'], 'file=block,network=audit,capabilities=audit,process=block');
  assert.match(a['armorgate.io/profile-digest']!, /^sha256:[0-9a-f]{64}$/);
  assert.equal(a['armorgate.io/profile-signature'], signProfile(KEY, 'prod', a['armorgate.io/profile-digest']!));
  const decoded = decodeProfileAnnotation(a['armorgate.io/profile']!);
  assert.ok(decoded.ok);
  if (decoded.ok) assert.deepEqual(decoded.value.profile, r.value.profile);
  assert.ok(verifyAnnotations(a, 'prod', KEY).ok);
  assert.equal(r.value.optedOut, false);
  assert.deepEqual(r.value.warnings, []);
  assert.equal(a['armorgate.io/traceparent'], undefined);
});

test('no policy binds: empty policies list and an empty profile, still signed', () => {
  const r = compile(pod({}), null, [], options);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.value.annotations['armorgate.io/policies'], '');
  assert.deepEqual(r.value.profile, { version: 1, posture: DEFAULT_POSTURE, process: [], file: [], network: [], capabilities: [] });
  assert.ok(verifyAnnotations(r.value.annotations, 'default', KEY).ok);
});

test('without a key the signature annotation is left out', () => {
  for (const signingKey of [null, undefined, new Uint8Array()]) {
    const r = compile(pod({}), null, [], { defaultPosture: DEFAULT_POSTURE, signingKey });
    assert.ok(r.ok);
    if (r.ok) assert.equal(r.value.annotations['armorgate.io/profile-signature'], undefined);
  }
});

test('opt-out honoured only where the namespace allows it; elsewhere a warning', () => {
  const p = pod({}, { namespace: 'n', annotations: { 'kubearmor-policy': 'disabled' } });
  const ps = [policy('x', { file: { matchPaths: [{ path: '/x' }] } }, { namespace: 'n' })];
  const allowed = compile(p, namespace('n', { 'armorgate.io/allow-opt-out': 'true' }), ps, options);
  assert.deepEqual(allowed, { ok: true, value: { optedOut: true, annotations: {}, profile: null, bound: [], warnings: [] } });
  for (const ns of [namespace('n'), namespace('n', { 'armorgate.io/allow-opt-out': 'yes' }), null]) {
    const r = compile(p, ns, ps, options);
    assert.ok(r.ok);
    if (!r.ok) continue;
    assert.equal(r.value.optedOut, false);
    assert.equal(r.value.annotations['armorgate.io/policies'], 'n/x@0');
    assert.equal(r.value.warnings.length, 1);
    assert.match(r.value.warnings[0]!, /kubearmor-policy: disabled is ignored.*armorgate\.io\/allow-opt-out/);
  }
});

test('large profiles are gzipped; past 256 KiB of annotations compile refuses with E_TOO_LARGE', () => {
  const paths = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ path: `/srv/${prefix}/${i.toString(36)}-${(i * 7919).toString(16)}` }));
  const mid = compile(pod({}), null, [policy('mid', { file: { matchPaths: paths(400, 'm') } })], options);
  assert.ok(mid.ok);
  if (mid.ok) assert.ok(mid.value.annotations['armorgate.io/profile']!.startsWith('gz:'));
  // high-entropy paths defeat gzip
  const random = (i: number) => ({ path: '/r/' + Buffer.from(signProfile(KEY, String(i), 'x')).toString('base64url').slice(0, 60) });
  const huge = compile(pod({}), null, [policy('huge', { file: { matchPaths: Array.from({ length: 12000 }, (_, i) => random(i)) } })], options);
  assert.equal(huge.ok, false);
  if (!huge.ok) {
    assert.equal(huge.error.code, 'E_TOO_LARGE');
    // refused before gzip: past the JSON an enforcer decodes (the annotation limit is tested below)
    assert.match(huge.error.message, /2\d{6} bytes of JSON, past the 524288 bytes an enforcer decodes/);
  }
  // existing annotations count too
  const big = pod({}, { annotations: { note: 'x'.repeat(262000) } });
  const r = compile(big, null, [], options);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.code, 'E_TOO_LARGE');
});

test('never throws on malformed input', () => {
  const bad = [
    { kind: 'KubeArmorPolicy', metadata: { name: 'w', namespace: 'default' }, spec: { file: { matchPaths: 'x', matchDirectories: [null, { dir: 5 }] }, network: { matchProtocols: [{ protocol: 'bogus' }] } } },
  ] as unknown as Policy[];
  const r = compile(pod({}), null, bad, options);
  assert.ok(r.ok);
  if (r.ok) assert.ok(r.value.warnings.some((w) => /bogus/.test(w)));
  const r2 = compile(null as never, null, bad, options);
  assert.equal(typeof r2.ok, 'boolean');
  const noMeta = { kind: 'KubeArmorPolicy', spec: { file: { matchPaths: [{ path: '/x' }] } } } as unknown as Policy;
  assert.equal(compileProfile([{ policy: noMeta, containers: [] }], DEFAULT_POSTURE).file.length, 1);
  assert.doesNotThrow(() => compileProfile([{ policy: null as unknown as Policy, containers: [] }], DEFAULT_POSTURE));
});

// ---- order independence (fast-check) ----

const PATHS = ['/etc/passwd', '/etc/shadow', '/bin/sh', '/usr/bin/apt'];
const DIRS = ['/etc/', '/etc/ssl/', '/tmp/'];
const SOURCES = ['/bin/bash', '/bin/sh', '/usr/bin/cat'];
const arbAction = fc.option(fc.constantFrom('Allow', 'Audit', 'Block'), { nil: undefined });
const arbTags = fc.option(fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'MITRE'), { maxLength: 3 }), { nil: undefined });
const arbSev = fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined });
const arbMsg = fc.option(fc.constantFrom('m1', 'm2', ''), { nil: undefined });
const arbFrom = fc.option(fc.uniqueArray(fc.constantFrom(...SOURCES), { minLength: 1, maxLength: 3 }).map((a) => a.map((path) => ({ path }))), { nil: undefined });
const clean = <T extends Record<string, unknown>>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
const arbCommon = { action: arbAction, tags: arbTags, severity: arbSev, message: arbMsg };
const arbFilePath = fc.record({ path: fc.constantFrom(...PATHS), readOnly: fc.boolean(), fromSource: arbFrom, ...arbCommon }).map(clean);
const arbFileDir = fc.record({ dir: fc.constantFrom(...DIRS), recursive: fc.boolean(), ownerOnly: fc.boolean(), fromSource: arbFrom, ...arbCommon }).map(clean);
const arbProcRule = fc.oneof(
  fc.record({ path: fc.constantFrom(...PATHS), fromSource: arbFrom, ...arbCommon }),
  fc.record({ execname: fc.constantFrom('apt', 'dpkg'), ...arbCommon }),
).map(clean);
const arbSpec = fc.record({
  action: arbAction, tags: arbTags, severity: arbSev, message: arbMsg,
  file: fc.option(fc.record({ matchPaths: fc.array(arbFilePath, { maxLength: 4 }), matchDirectories: fc.array(arbFileDir, { maxLength: 2 }), action: arbAction, tags: arbTags }).map(clean), { nil: undefined }),
  process: fc.option(fc.record({ matchPaths: fc.array(arbProcRule, { maxLength: 3 }) }), { nil: undefined }),
  network: fc.option(fc.record({ matchProtocols: fc.array(fc.record({ protocol: fc.constantFrom('tcp', 'UDP', 'raw', 'icmp,tcp'), fromSource: arbFrom }).map(clean), { maxLength: 3 }) }), { nil: undefined }),
  capabilities: fc.option(fc.record({ matchCapabilities: fc.array(fc.record({ capability: fc.constantFrom('net_raw', 'CAP_SYS_ADMIN', 'chown') }), { maxLength: 3 }) }), { nil: undefined }),
  selector: fc.option(fc.constantFrom({ matchLabels: { 'kubearmor.io/container.name': '[b, a]' } }, { matchLabels: { 'kubearmor.io/container.name': '[a,b]' } }, {}), { nil: undefined }),
}).map(clean);
const arbPolicies = fc.uniqueArray(
  fc.record({ name: fc.constantFrom('p1', 'p2', 'p3', 'p4', 'p5', 'p6'), cluster: fc.boolean(), spec: arbSpec, generation: fc.nat(5) }),
  { selector: (p) => `${p.cluster}/${p.name}`, maxLength: 6 },
).map((list) => list.map((p) => policy(p.name, p.spec, p.cluster ? { kind: 'KubeArmorClusterPolicy', generation: p.generation } : { generation: p.generation })));

/** Deterministic deep shuffle: every array in the value, driven by `seed`. */
function deepShuffle<T>(v: T, seed: number): T {
  let s = seed >>> 0 || 1;
  const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 32; };
  const go = (x: unknown): unknown => {
    if (Array.isArray(x)) {
      const a = x.map(go);
      for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(rnd() * (i + 1)); [a[i], a[j]] = [a[j], a[i]]; }
      return a;
    }
    if (x !== null && typeof x === 'object') {
      const entries = Object.entries(x).map(([k, val]) => [k, go(val)] as const);
      entries.sort(() => rnd() - 0.5);
      return Object.fromEntries(entries);
    }
    return x;
  };
  return go(v) as T;
}

test('same policies in any order (policies, rules, fromSource lists, tags, keys) give byte-identical annotations', () => {
  const thePod = pod({}, { containers: ['a', 'b', 'c'] });
  fc.assert(fc.property(arbPolicies, fc.integer(), (ps, seed) => {
    const first = compile(thePod, null, ps, options);
    const second = compile(thePod, null, deepShuffle(ps, seed), options);
    assert.ok(first.ok && second.ok);
    if (first.ok && second.ok) {
      assert.deepEqual(second.value.annotations, first.value.annotations);
      assert.equal(second.value.warnings.length, first.value.warnings.length);
    }
  }), { numRuns: 300 });
});

test('compiled profiles are deduplicated, sorted, and always pass the profile schema', () => {
  fc.assert(fc.property(arbPolicies, (ps) => {
    const r = compile(pod({}, { containers: ['a', 'b'] }), null, ps, options);
    assert.ok(r.ok);
    if (!r.ok) return;
    const profile: Profile = r.value.profile!;
    const d = decodeProfileAnnotation(r.value.annotations['armorgate.io/profile']!);
    assert.ok(d.ok, JSON.stringify(d));
    if (d.ok) assert.equal(d.value.canonical, canonicalJson(profile), 'the fast serialiser agrees with RFC 8785 canonicalize');
    for (const kind of ['process', 'file', 'network', 'capabilities'] as const) {
      const rules: ProfileRule[] = profile[kind];
      const keys = rules.map((x) => JSON.stringify([x.action, x.target, x.readOnly, x.ownerOnly, x.fromSource, x.containers]));
      assert.equal(new Set(keys).size, keys.length, `${kind}: duplicate rules`);
      for (const x of rules) {
        for (const list of [x.policies, x.tags, x.containers]) assert.deepEqual(list, [...new Set(list)].sort());
      }
    }
  }), { numRuns: 200 });
});

// ---- the shipped examples do what they say ----

test('examples: the seed cases compile to profiles that decide as intended', () => {
  const ex = new URL('../../examples/', import.meta.url);
  const load = (name: string): unknown[] => parseDocuments(readFileSync(new URL(name, ex))).map((d) => d.value);
  const policies = readdirSync(new URL('policies/', ex)).sort().flatMap((f) => load(`policies/${f}`)).map((doc) => {
    const v = validatePolicy(doc);
    assert.ok(v.policy !== null, JSON.stringify(v.problems));
    assert.deepEqual(v.problems.filter((p) => p.level === 'error'), []);
    return v.policy!;
  });
  const thePod = load('pod.yaml')[0] as Pod;
  const ns = load('namespace.yaml')[0] as Namespace;
  const r = compile(thePod, ns, policies, options);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.value.bound.length, 4);
  const p = r.value.profile!;
  const TOKEN = '/run/secrets/kubernetes.io/serviceaccount/..2026_01_01_00_00_00.000000001/token';
  const cases: [string, Access, string][] = [
    ['cat reads the token', { kind: 'file', container: 'web', source: '/usr/bin/cat', path: TOKEN, write: false }, 'allow'],
    ['sh reads the token', { kind: 'file', container: 'web', source: '/bin/sh', path: TOKEN, write: false }, 'block'],
    ['cat reads the token via /var/run', { kind: 'file', container: 'web', source: '/usr/bin/cat', path: '/var/run/secrets/kubernetes.io/serviceaccount/token' }, 'allow'],
    ['python reads the token via /var/run', { kind: 'file', container: 'web', source: '/usr/bin/python3', path: '/var/run/secrets/kubernetes.io/serviceaccount/token' }, 'block'],
    ['cat cannot write the token', { kind: 'file', container: 'web', source: '/usr/bin/cat', path: TOKEN, write: true }, 'block'],
    ['the sidecar is not limited by the token policy', { kind: 'file', container: 'log-shipper', source: '/bin/sh', path: TOKEN }, 'allow'],
    ['reading a CA certificate works', { kind: 'file', container: 'web', source: '/usr/bin/openssl', path: '/etc/ssl/certs/ca-certificates.crt', write: false }, 'audit'],
    ['adding a CA certificate is refused', { kind: 'file', container: 'log-shipper', source: '/bin/cp', path: '/usr/local/share/ca-certificates/evil.crt', write: true }, 'block'],
    ['removing from /etc/pki is refused', { kind: 'file', container: 'log-shipper', source: '/bin/rm', path: '/etc/pki/tls/cert.pem', write: true }, 'block'],
    ['reading /etc/ssl in the sidecar', { kind: 'file', container: 'log-shipper', source: '/bin/cat', path: '/etc/ssl/openssl.cnf', write: false }, 'allow'],
    ['apt may not run', { kind: 'process', container: 'web', source: '/bin/bash', path: '/usr/bin/apt' }, 'block'],
    ['apt-get may not run', { kind: 'process', container: 'log-shipper', source: '/bin/sh', path: '/usr/bin/apt-get' }, 'block'],
    ['dpkg may not run', { kind: 'process', container: 'web', source: '/bin/sh', path: '/usr/bin/dpkg' }, 'block'],
    ['ls runs', { kind: 'process', container: 'web', source: '/bin/sh', path: '/usr/bin/ls' }, 'allow'],
    ['raw sockets refused', { kind: 'network', container: 'web', source: '/usr/bin/ping', protocols: ['raw', 'icmp'] }, 'block'],
    ['tcp sockets work', { kind: 'network', container: 'web', source: '/usr/bin/curl', protocols: ['tcp'] }, 'allow'],
  ];
  for (const [name, access, verdict] of cases) assert.equal(decide(p, access).verdict, verdict, name);
});

test('paths are compiled in canonical form; a ".." rule is skipped with a warning (issue 15)', () => {
  const r = compile(pod({}), null, [policy('canon', { action: 'Block', file: { matchPaths: [{ path: '/etc//shadow', fromSource: [{ path: '/usr/./bin/cat' }] }, { path: '/etc/ssl/../shadow' }], matchDirectories: [{ dir: '/var//log/./' }] }, process: { matchDirectories: [{ dir: '/usr/bin/.' + '/' }] } })], options);
  assert.ok(r.ok);
  const p = r.value.profile!;
  assert.deepEqual(p.file.map((x) => [x.target, x.fromSource]), [[{ type: 'directory', dir: '/var/log/', recursive: false }, ''], [{ type: 'path', path: '/etc/shadow' }, '/usr/bin/cat']]);
  assert.deepEqual(p.process.map((x) => x.target), [{ type: 'directory', dir: '/usr/bin/', recursive: false }]);
  assert.ok(r.value.warnings.some((w) => /spec\.file\.matchPaths\[1\]\.path: a "\.\." component; rule skipped/.test(w)), r.value.warnings.join('\n'));
});

test('across policies: rules on one target merge where one always overrules; past the kernel slot, compile names the policies', () => {
  const containers = Array.from({ length: 10 }, (_, i) => `c${i}`);
  const thePod = pod({ app: 'x' }, { containers });
  const forC = (c: string, spec: Record<string, unknown>): Policy => policy(`p-${c}`, { selector: { matchLabels: { app: 'x', 'kubearmor.io/container.name': `[${c}]` } }, ...spec });
  // ten Audits for single containers and one Block for all: the Block overrules them all
  const audits = containers.map((c) => forC(c, { file: { matchPaths: [{ path: '/etc/shadow', action: 'Audit' }] } }));
  const block = policy('block-all', { selector: { matchLabels: { app: 'x' } }, file: { matchPaths: [{ path: '/etc/shadow', action: 'Block' }] } });
  const ok1 = compile(thePod, null, [...audits, block], options);
  assert.ok(ok1.ok, ok1.ok ? '' : ok1.error.message);
  assert.equal(ok1.value.profile!.file.length, 11, 'the profile keeps every rule (alerts need them); the enforcer merges');
  // ten readOnly Allows for single containers: none overrules another
  const allows = containers.map((c) => forC(c, { file: { matchPaths: [{ path: '/etc/shadow', action: 'Allow', readOnly: true }] } }));
  const bad = compile(thePod, null, [...allows, block], options);
  assert.ok(!bad.ok);
  assert.equal(bad.error.code, 'E_KERNEL_LIMIT');
  assert.match(bad.error.message, /11 file rules on one target, none overruled by another, where the kernel holds 8 \(AG_MAX_ENT\)/);
  assert.match(bad.error.message, /Block "\/etc\/shadow" \(default\/block-all\)/);
  assert.match(bad.error.message, /Allow "\/etc\/shadow" in c3 \(default\/p-c3\)/);
});
