import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decide, globMatches } from '../../policy/decide.ts';
import type { Access, Verdict } from '../../policy/decide.ts';
import type { Action, PostureSet, Profile, ProfileRule, RuleKind, Target } from '../../policy/types.ts';

function r(action: Action, target: Target, extra: Partial<ProfileRule> = {}): ProfileRule {
  return { action, target, readOnly: false, ownerOnly: false, fromSource: '', containers: [], policies: ['ns/p'], severity: 0, tags: [], message: '', ...extra };
}
function prof(kind: RuleKind, rules: ProfileRule[], posture: Partial<PostureSet> = {}): Profile {
  const p: Profile = { version: 1, posture: { file: 'audit', network: 'audit', capabilities: 'audit', process: 'audit', ...posture }, process: [], file: [], network: [], capabilities: [] };
  p[kind] = rules;
  return p;
}
const path = (p: string): Target => ({ type: 'path', path: p });
const dir = (d: string, recursive = false): Target => ({ type: 'directory', dir: d, recursive });
const pattern = (p: string): Target => ({ type: 'pattern', pattern: p });

interface Row { name: string; profile: Profile; access: Access; verdict: Verdict; byPosture?: boolean; rule?: number }

const TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';
const tokenRules = [r('Block', path(TOKEN)), r('Allow', path(TOKEN), { fromSource: '/usr/bin/cat' })];
const file = (p: string, source = '/bin/sh', extra: Partial<Access> = {}): Access => ({ kind: 'file', path: p, source, ...extra });

const rows: Row[] = [
  // 1. fromSource beats none
  { name: 'named binary reads the token', profile: prof('file', tokenRules), access: file(TOKEN, '/usr/bin/cat'), verdict: 'allow', rule: 1 },
  { name: 'any other binary is blocked from the token', profile: prof('file', tokenRules), access: file(TOKEN, '/bin/sh'), verdict: 'block', rule: 0 },
  { name: 'allow-list mode: unmatched file gets the file posture (audit)', profile: prof('file', tokenRules), access: file('/etc/hosts'), verdict: 'audit', byPosture: true },
  { name: 'allow-list mode: unmatched file gets the file posture (block)', profile: prof('file', tokenRules, { file: 'block' }), access: file('/etc/hosts'), verdict: 'block', byPosture: true },
  { name: 'fromSource Audit beats a non-fromSource Block on the same path', profile: prof('file', [r('Block', path('/x')), r('Audit', path('/x'), { fromSource: '/bin/sh' })]), access: file('/x'), verdict: 'audit', rule: 1 },
  { name: 'fromSource directory beats non-fromSource exact path', profile: prof('file', [r('Block', path('/d/x')), r('Allow', dir('/d/'), { fromSource: '/bin/sh' })]), access: file('/d/x'), verdict: 'allow', rule: 1 },
  // 2. specificity
  { name: 'exact path beats directory', profile: prof('file', [r('Block', dir('/etc/', true)), r('Allow', path('/etc/hosts'))]), access: file('/etc/hosts'), verdict: 'allow', rule: 1 },
  { name: 'deeper directory beats shallower', profile: prof('file', [r('Block', dir('/etc/', true)), r('Audit', dir('/etc/ssl/', true))]), access: file('/etc/ssl/certs/a.pem'), verdict: 'audit', rule: 1 },
  { name: 'directory beats pattern', profile: prof('file', [r('Block', pattern('/etc/**')), r('Allow', dir('/etc/'))]), access: file('/etc/hosts'), verdict: 'allow', rule: 1 },
  // 3. action at equal rank
  { name: 'Block beats Audit beats Allow at equal rank', profile: prof('file', [r('Allow', path('/x')), r('Block', path('/x')), r('Audit', path('/x'))]), access: file('/x'), verdict: 'block', rule: 1 },
  { name: 'Audit beats Allow at equal rank', profile: prof('file', [r('Allow', path('/x')), r('Audit', path('/x'))]), access: file('/x'), verdict: 'audit', rule: 1 },
  // directories
  { name: 'non-recursive directory: direct child only', profile: prof('file', [r('Block', dir('/etc/ssl/'))]), access: file('/etc/ssl/certs/a.pem'), verdict: 'allow' },
  { name: 'non-recursive directory: direct child', profile: prof('file', [r('Block', dir('/etc/ssl/'))]), access: file('/etc/ssl/a.pem'), verdict: 'block', rule: 0 },
  { name: 'directory rule covers the directory itself', profile: prof('file', [r('Block', dir('/etc/ssl/'))]), access: file('/etc/ssl'), verdict: 'block', rule: 0 },
  { name: 'prefix that is not a directory does not match', profile: prof('file', [r('Block', dir('/etc/ssl/'))]), access: file('/etc/sslx/a'), verdict: 'allow' },
  // readOnly / ownerOnly
  { name: 'readOnly Block: reads pass', profile: prof('file', [r('Block', dir('/etc/ssl/', true), { readOnly: true })]), access: file('/etc/ssl/a.pem', '/bin/cat', { write: false }), verdict: 'allow' },
  { name: 'readOnly Block: changes blocked', profile: prof('file', [r('Block', dir('/etc/ssl/', true), { readOnly: true })]), access: file('/etc/ssl/new.pem', '/bin/cp', { write: true }), verdict: 'block', rule: 0 },
  { name: 'readOnly Allow: a write is not allowed by it (posture)', profile: prof('file', [r('Allow', path('/data'), { readOnly: true })], { file: 'block' }), access: file('/data', '/bin/sh', { write: true }), verdict: 'block', byPosture: true },
  { name: 'readOnly Allow: a read is allowed', profile: prof('file', [r('Allow', path('/data'), { readOnly: true })], { file: 'block' }), access: file('/data', '/bin/sh', { write: false }), verdict: 'allow', rule: 0 },
  { name: 'ownerOnly Block: the owner passes', profile: prof('file', [r('Block', path('/home/u/k'), { ownerOnly: true })]), access: file('/home/u/k', '/bin/cat', { owner: true }), verdict: 'allow' },
  { name: 'ownerOnly Block: others are blocked', profile: prof('file', [r('Block', path('/home/u/k'), { ownerOnly: true })]), access: file('/home/u/k', '/bin/cat', { owner: false }), verdict: 'block', rule: 0 },
  { name: 'ownerOnly Allow: only the owner is allowed', profile: prof('file', [r('Allow', path('/home/u/k'), { ownerOnly: true })], { file: 'block' }), access: file('/home/u/k', '/bin/cat', { owner: false }), verdict: 'block', byPosture: true },
  // patterns
  { name: 'pattern * stays within a component', profile: prof('file', [r('Block', pattern('/home/*/secret'))]), access: file('/home/a/b/secret'), verdict: 'allow' },
  { name: 'pattern * matches a component', profile: prof('file', [r('Block', pattern('/home/*/secret'))]), access: file('/home/a/secret'), verdict: 'block', rule: 0 },
  // process: source of an exec is the calling executable
  { name: 'exec blocked by execname', profile: prof('process', [r('Block', { type: 'execname', name: 'apt' })]), access: { kind: 'process', path: '/usr/bin/apt', source: '/bin/bash' }, verdict: 'block', rule: 0 },
  { name: 'exec fromSource is the caller, not the new image', profile: prof('process', [r('Block', path('/usr/bin/apt'), { fromSource: '/usr/bin/apt' })]), access: { kind: 'process', path: '/usr/bin/apt', source: '/bin/bash' }, verdict: 'allow' },
  { name: 'exec fromSource matches the caller', profile: prof('process', [r('Block', path('/usr/bin/apt'), { fromSource: '/bin/bash' })]), access: { kind: 'process', path: '/usr/bin/apt', source: '/bin/bash' }, verdict: 'block', rule: 0 },
  { name: 'process allow-list: unlisted exec gets the process posture', profile: prof('process', [r('Allow', dir('/usr/bin/'))], { process: 'block' }), access: { kind: 'process', path: '/tmp/x', source: '/bin/sh' }, verdict: 'block', byPosture: true },
  // network and capabilities
  { name: 'raw socket refused', profile: prof('network', [r('Block', { type: 'protocol', protocol: 'raw' })]), access: { kind: 'network', protocols: ['raw', 'icmp'], source: '/bin/ping' }, verdict: 'block', rule: 0 },
  { name: 'tcp socket untouched by a raw rule', profile: prof('network', [r('Block', { type: 'protocol', protocol: 'raw' })]), access: { kind: 'network', protocols: ['tcp'], source: '/bin/curl' }, verdict: 'allow' },
  { name: 'protocol all matches any socket', profile: prof('network', [r('Audit', { type: 'protocol', protocol: 'all' })]), access: { kind: 'network', protocols: ['udp'], source: '/bin/x' }, verdict: 'audit', rule: 0 },
  { name: 'capability blocked', profile: prof('capabilities', [r('Block', { type: 'capability', capability: 'net_raw' })]), access: { kind: 'capabilities', capability: 'net_raw', source: '/bin/ping' }, verdict: 'block', rule: 0 },
  { name: 'other kinds do not count for allow-list mode', profile: prof('file', [r('Allow', path('/x'))]), access: { kind: 'capabilities', capability: 'chown', source: '/bin/x' }, verdict: 'allow' },
  // containers
  { name: 'container filter: applies to its container', profile: prof('file', [r('Block', path('/x'), { containers: ['a'] })]), access: file('/x', '/bin/sh', { container: 'a' }), verdict: 'block', rule: 0 },
  { name: 'container filter: other containers untouched, not in allow-list mode', profile: prof('file', [r('Allow', path('/x'), { containers: ['a'] })], { file: 'block' }), access: file('/y', '/bin/sh', { container: 'b' }), verdict: 'allow' },
  { name: 'no rules: allowed', profile: prof('file', []), access: file('/x'), verdict: 'allow' },
];

for (const row of rows) {
  test(`decide: ${row.name}`, () => {
    const d = decide(row.profile, row.access);
    assert.equal(d.verdict, row.verdict);
    assert.equal(d.byPosture, row.byPosture ?? false);
    assert.equal(d.rule, row.rule === undefined ? null : row.profile[row.access.kind][row.rule]);
  });
}

test('globMatches: **, *, ?, classes, braces, literals; invalid patterns match nothing', () => {
  const cases: [string, string, boolean][] = [
    ['/a/**', '/a/b/c', true], ['/a/*', '/a/b/c', false], ['/a/?', '/a/b', true], ['/a/?', '/a/bc', false],
    ['/a/[bc]', '/a/c', true], ['/a/[!bc]', '/a/c', false], ['/a.b', '/axb', false], ['/a(b)', '/a(b)', true], ['/a/{b,c}', '/a/c', true],
    ['/home/*/.ssh/*', '/home/u/.ssh/id_rsa', true], ['/x[', '/x[', false], ['relative', 'relative', false],
  ];
  for (const [p, s, want] of cases) assert.equal(globMatches(p, s), want, `${p} ~ ${s}`);
});

test('decide does not depend on the order of the rules', () => {
  const target = fc.oneof(
    fc.constantFrom('/a/b/c', '/a/b/d', '/x').map((p) => path(p)),
    fc.record({ d: fc.constantFrom('/', '/a/', '/a/b/'), r: fc.boolean() }).map(({ d, r: rec }) => dir(d, rec)),
    fc.constantFrom('/a/**', '/a/*/c', '/**').map((p) => pattern(p)),
  );
  const ruleArb = fc.record({
    action: fc.constantFrom('Allow' as const, 'Audit' as const, 'Block' as const), target,
    readOnly: fc.boolean(), ownerOnly: fc.boolean(), fromSource: fc.constantFrom('', '/bin/sh', '/bin/cat'),
    containers: fc.constantFrom<string[]>([], ['a']),
  }).map(({ action, target: t, ...rest }) => r(action, t, rest));
  const accessArb = fc.record({
    path: fc.constantFrom('/a/b/c', '/a/b/d', '/a/e', '/x', '/y/z'), source: fc.constantFrom('/bin/sh', '/bin/cat', '/bin/ls'),
    write: fc.boolean(), owner: fc.boolean(), container: fc.constantFrom('a', 'b'),
  }).map((a) => ({ kind: 'file' as const, ...a }));
  fc.assert(fc.property(fc.array(ruleArb, { maxLength: 8 }), accessArb, fc.constantFrom('audit' as const, 'block' as const), (rules, access, posture) => {
    const forward = decide(prof('file', rules, { file: posture }), access);
    const backward = decide(prof('file', [...rules].reverse(), { file: posture }), access);
    assert.equal(backward.verdict, forward.verdict);
    assert.equal(backward.byPosture, forward.byPosture);
  }), { numRuns: 500 });
});
