import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { canonicalJson } from '../../policy/canonical.ts';
import { canonicalProfileJson, decodeProfileAnnotation, encodeProfile, profileDigest } from '../../policy/profile-codec.ts';
import fc from 'fast-check';
import type { Profile, ProfileRule } from '../../policy/types.ts';

const rule = (path: string, extra: Partial<ProfileRule> = {}): ProfileRule => ({
  action: 'Block', target: { type: 'path', path }, readOnly: false, ownerOnly: false, fromSource: '',
  containers: [], policies: ['default/p'], severity: 5, tags: [], message: '', ...extra,
});
const profile = (file: ProfileRule[] = [rule('/etc/shadow')]): Profile => ({
  version: 1, posture: { file: 'audit', network: 'audit', capabilities: 'audit', process: 'audit' },
  process: [], file, network: [], capabilities: [],
});

test('small profiles: the annotation is the canonical JSON; digest is sha256 of its bytes', () => {
  const p = profile();
  const e = encodeProfile(p);
  assert.equal(e.canonical, canonicalJson(p));
  assert.equal(e.annotation, e.canonical);
  assert.equal(e.digest, 'sha256:' + createHash('sha256').update(Buffer.from(e.canonical)).digest('hex'));
  assert.equal(profileDigest(e.canonical), e.digest);
  const d = decodeProfileAnnotation(e.annotation);
  assert.ok(d.ok);
  if (d.ok) { assert.deepEqual(d.value.profile, p); assert.equal(d.value.canonical, e.canonical); }
});

test('past 32 KiB: gz: + standard base64 of gzip; digest still over the canonical JSON', () => {
  const many = Array.from({ length: 400 }, (_, i) => rule(`/srv/data/file-${String(i).padStart(4, '0')}`, { message: 'a long message to make the profile big' }));
  const p = profile(many);
  const e = encodeProfile(p);
  assert.ok(Buffer.byteLength(e.canonical) > 32 * 1024);
  assert.ok(e.annotation.startsWith('gz:'));
  assert.match(e.annotation.slice(3), /^[A-Za-z0-9+/]+=*$/);
  assert.equal(gunzipSync(Buffer.from(e.annotation.slice(3), 'base64')).toString('utf8'), e.canonical);
  assert.equal(e.digest, profileDigest(e.canonical));
  assert.ok(e.annotation.length < e.canonical.length / 4);
  const d = decodeProfileAnnotation(e.annotation);
  assert.ok(d.ok);
  if (d.ok) assert.deepEqual(d.value.profile, p);
  // deterministic: same profile, same bytes
  assert.equal(encodeProfile(profile(many)).annotation, e.annotation);
});

test('decode refuses non-JSON, non-canonical JSON, bad base64, bad gzip, gzip bombs and schema violations', () => {
  const good = encodeProfile(profile()).canonical;
  const cases: [string, RegExp][] = [
    ['{not json', /not JSON/],
    [JSON.stringify(profile(), null, 1), /not canonical/],
    ['gz:@@@@', /base64/],
    ['gz:QUJ', /base64/],
    ['gz:' + 'QUJD'.repeat(2_000_000), /gunzip/],
    ['x'.repeat(300_000), /not JSON/],
    ['gz:' + Buffer.from('not gzip').toString('base64'), /gunzip/],
    ['gz:' + gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x20)).toString('base64'), /gunzip/],
    ['gz:' + gzipSync(Buffer.from([0xff, 0xfe, 0xfd])).toString('base64'), /UTF-8/],
    [canonicalJson({ ...profile(), version: 2 }), /version/],
    [canonicalJson({ ...profile(), file: [{ ...rule('/x'), action: 'Deny' }] }), /action/],
    [canonicalJson({ ...profile(), file: [{ ...rule('/x'), target: { type: 'path' } }] }), /target/],
    [canonicalJson({ ...profile(), extra: 1 }), /schema/],
  ];
  for (const [value, why] of cases) {
    const d = decodeProfileAnnotation(value);
    assert.equal(d.ok, false, value.slice(0, 40));
    if (!d.ok) { assert.equal(d.error.code, 'E_PROFILE_INVALID'); assert.match(d.error.message, why); }
  }
  assert.ok(decodeProfileAnnotation(good).ok);
  assert.equal(decodeProfileAnnotation(42 as unknown as string).ok, false);
});

test('the Profile-specialised serialiser writes the same bytes as RFC 8785 canonicalize', () => {
  const text = fc.string({ unit: 'binary', maxLength: 12 });
  const target = fc.oneof(
    fc.record({ type: fc.constant('path' as const), path: text }),
    fc.record({ type: fc.constant('execname' as const), name: text }),
    fc.record({ type: fc.constant('directory' as const), dir: text, recursive: fc.boolean() }),
    fc.record({ type: fc.constant('pattern' as const), pattern: text }),
    fc.record({ type: fc.constant('protocol' as const), protocol: fc.constantFrom('tcp' as const, 'raw' as const, 'icmpv6' as const) }),
    fc.record({ type: fc.constant('capability' as const), capability: fc.constantFrom('net_raw', 'sys_admin') }),
  );
  const ruleArb = fc.record({
    action: fc.constantFrom('Allow' as const, 'Audit' as const, 'Block' as const), target, readOnly: fc.boolean(), ownerOnly: fc.boolean(),
    fromSource: text, containers: fc.array(text, { maxLength: 3 }), policies: fc.array(text, { maxLength: 3 }),
    severity: fc.integer({ min: 0, max: 10 }), tags: fc.array(text, { maxLength: 3 }), message: text,
  });
  const posture = fc.constantFrom('audit' as const, 'block' as const);
  const profileArb = fc.record({
    version: fc.constant(1 as const),
    posture: fc.record({ file: posture, network: posture, capabilities: posture, process: posture }),
    process: fc.array(ruleArb, { maxLength: 3 }), file: fc.array(ruleArb, { maxLength: 3 }),
    network: fc.array(ruleArb, { maxLength: 3 }), capabilities: fc.array(ruleArb, { maxLength: 3 }),
  });
  fc.assert(fc.property(profileArb, (p) => { assert.equal(canonicalProfileJson(p), canonicalJson(p)); }), { numRuns: 300 });
});
