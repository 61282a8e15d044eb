// schemas/profile.schema.json describes exactly the Profile type: every Profile passes,
// anything else fails with a path, and the compiler's real output passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { validateProfileSchema } from '../../policy/schema.ts';
import { compileProfile } from '../../policy/compile.ts';
import { parseDocuments } from '../../policy/parse.ts';
import { validatePolicy } from '../../policy/validate.ts';
import type { Profile, ProfileRule, Protocol, Target } from '../../policy/types.ts';
import { KUBEARMOR_DATA, missingData } from './kubearmor-data.ts';

const PROTOCOLS: Protocol[] = ['tcp', 'udp', 'icmp', 'icmpv6', 'raw', 'sctp', 'stream', 'dgram', 'rdm', 'seqpacket', 'dccp', 'packet', 'all'];
const posture = fc.constantFrom('audit' as const, 'block' as const);
const target: fc.Arbitrary<Target> = fc.oneof(
  fc.record({ type: fc.constant('path' as const), path: fc.string() }),
  fc.record({ type: fc.constant('execname' as const), name: fc.string() }),
  fc.record({ type: fc.constant('directory' as const), dir: fc.string(), recursive: fc.boolean() }),
  fc.record({ type: fc.constant('pattern' as const), pattern: fc.string() }),
  fc.record({ type: fc.constant('protocol' as const), protocol: fc.constantFrom(...PROTOCOLS) }),
  fc.record({ type: fc.constant('capability' as const), capability: fc.stringMatching(/^[a-z_]{1,16}$/) }),
);
const rule: fc.Arbitrary<ProfileRule> = fc.record({
  action: fc.constantFrom('Allow' as const, 'Audit' as const, 'Block' as const),
  target, readOnly: fc.boolean(), ownerOnly: fc.boolean(), fromSource: fc.string(),
  containers: fc.array(fc.string()), policies: fc.array(fc.string()),
  severity: fc.integer({ min: 0, max: 10 }), tags: fc.array(fc.string()), message: fc.string(),
});
const profile: fc.Arbitrary<Profile> = fc.record({
  version: fc.constant(1 as const),
  posture: fc.record({ file: posture, network: posture, capabilities: posture, process: posture }),
  process: fc.array(rule, { maxLength: 3 }), file: fc.array(rule, { maxLength: 3 }),
  network: fc.array(rule, { maxLength: 3 }), capabilities: fc.array(rule, { maxLength: 3 }),
});

test('property: every Profile value passes the schema', () => {
  fc.assert(fc.property(profile, (p) => { assert.deepEqual(validateProfileSchema(p), []); }), { numRuns: 300, seed: 4 });
});

test('anything that is not a Profile fails, naming the field', () => {
  const base: Profile = {
    version: 1, posture: { file: 'audit', network: 'audit', capabilities: 'audit', process: 'audit' },
    process: [], file: [{ action: 'Block', target: { type: 'path', path: '/etc/shadow' }, readOnly: false, ownerOnly: false, fromSource: '', containers: [], policies: ['ns/p'], severity: 5, tags: [], message: '' }],
    network: [], capabilities: [],
  };
  assert.deepEqual(validateProfileSchema(base), []);
  const mutate = (f: (p: Record<string, any>) => void): string[] => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const p = structuredClone(base) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    f(p);
    return validateProfileSchema(p).map((x) => x.path);
  };
  assert.deepEqual(mutate((p) => { p.version = 2; }), ['version']);
  assert.deepEqual(mutate((p) => { delete p.posture.process; }), ['posture.process']);
  assert.deepEqual(mutate((p) => { p.posture.file = 'enforce'; }), ['posture.file']);
  assert.deepEqual(mutate((p) => { p.extra = 1; }), ['extra']);
  assert.deepEqual(mutate((p) => { delete p.network; }), ['network']);
  assert.deepEqual(mutate((p) => { p.file[0].severity = 11; }), ['file[0].severity']);
  assert.deepEqual(mutate((p) => { p.file[0].action = 'Deny'; }), ['file[0].action']);
  assert.deepEqual(mutate((p) => { delete p.file[0].message; }), ['file[0].message']);
  assert.deepEqual(mutate((p) => { p.file[0].fromSource = null; }), ['file[0].fromSource']);
  assert.deepEqual(mutate((p) => { p.file[0].target = { type: 'path' }; }), ['file[0].target.path']);
  assert.deepEqual(mutate((p) => { p.file[0].target = { type: 'path', path: '/a', dir: '/b/' }; }), ['file[0].target.dir']);
  assert.deepEqual(mutate((p) => { p.file[0].target = { type: 'socket', path: '/a' }; }), ['file[0].target.type']);
  assert.deepEqual(mutate((p) => { p.file[0].target = { type: 'protocol', protocol: 'http' }; }), ['file[0].target.protocol']);
  assert.deepEqual(mutate((p) => { p.file[0].target = { type: 'capability', capability: 'CAP_NET_RAW' }; }), ['file[0].target.capability']);
  assert.deepEqual(validateProfileSchema(null).map((x) => x.path), ['']);
  assert.deepEqual(validateProfileSchema([]).map((x) => x.path), ['']);
});

test('the compiler\'s profiles of the whole KubeArmor corpus pass the schema', { skip: missingData('corpus-verdicts.tsv') }, () => {
  const rows = readFileSync(join(KUBEARMOR_DATA, 'corpus-verdicts.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
  let compiled = 0;
  for (const [file] of rows) {
    for (const doc of parseDocuments(readFileSync(join(KUBEARMOR_DATA, 'corpus', file as string)))) {
      const { policy } = validatePolicy(doc.value);
      if (policy === null || policy.kind === 'KubeArmorHostPolicy') continue;
      const p = compileProfile([{ policy, containers: [] }], { file: 'block', network: 'audit', capabilities: 'audit', process: 'block' });
      assert.deepEqual(validateProfileSchema(p), [], file);
      compiled++;
    }
  }
  assert.ok(compiled > 200, `${compiled} profiles compiled`);
});
