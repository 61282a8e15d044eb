import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { encodeProfile } from '../../policy/profile-codec.ts';
import { signingKeyFromBytes, signProfile, verifyAnnotations } from '../../policy/sign.ts';
import type { Profile } from '../../policy/types.ts';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef');
const profile: Profile = {
  version: 1, posture: { file: 'block', network: 'audit', capabilities: 'audit', process: 'block' },
  process: [{ action: 'Block', target: { type: 'execname', name: 'apt' }, readOnly: false, ownerOnly: false, fromSource: '', containers: [], policies: ['ns/p'], severity: 3, tags: ['pkg'], message: 'no apt' }],
  file: [], network: [], capabilities: [],
};
function annotationsFor(p: Profile, ns = 'ns'): Record<string, string> {
  const e = encodeProfile(p);
  return {
    'armorgate.io/policies': 'ns/p@3',
    'armorgate.io/profile': e.annotation,
    'armorgate.io/profile-digest': e.digest,
    'armorgate.io/profile-signature': signProfile(KEY, ns, e.digest),
    'armorgate.io/posture': 'file=block,network=audit,capabilities=audit,process=block',
  };
}

test('signProfile is HMAC-SHA256 of NAMESPACE + "\\n" + DIGEST', () => {
  const digest = 'sha256:' + 'ab'.repeat(32);
  assert.equal(signProfile(KEY, 'prod', digest), 'hmac-sha256:' + createHmac('sha256', KEY).update(`prod\n${digest}`).digest('hex'));
  assert.notEqual(signProfile(KEY, 'prod', digest), signProfile(KEY, 'dev', digest));
});

test('verifyAnnotations accepts what the gateway wrote', () => {
  const r = verifyAnnotations(annotationsFor(profile), 'ns', KEY);
  assert.ok(r.ok, JSON.stringify(r));
  if (r.ok) {
    assert.deepEqual(r.value.profile, profile);
    assert.deepEqual(r.value.policies, ['ns/p@3']);
    assert.deepEqual(r.value.posture, profile.posture);
    assert.equal(r.value.digest, encodeProfile(profile).digest);
  }
});

test('verifyAnnotations: each tampering is an error value with its code', () => {
  const good = annotationsFor(profile);
  const other = encodeProfile({ ...profile, process: [] });
  const cases: [string, Record<string, string> | undefined, string, Uint8Array][] = [
    ['no annotations', undefined, 'ns', KEY],
    ['no profile', { ...good, 'armorgate.io/profile': '' }, 'ns', KEY],
    ['digest missing', { ...good, 'armorgate.io/profile-digest': '' }, 'ns', KEY],
    ['no signature', { ...good, 'armorgate.io/profile-signature': '' }, 'ns', KEY],
    ['other namespace', good, 'other', KEY],
    ['other key', good, 'ns', Buffer.from('another key')],
    ['empty key', good, 'ns', new Uint8Array()],
    ['signature flipped', { ...good, 'armorgate.io/profile-signature': good['armorgate.io/profile-signature']!.replace(/.$/, (c) => (c === '0' ? '1' : '0')) }, 'ns', KEY],
    ['profile swapped (digest kept)', { ...good, 'armorgate.io/profile': other.annotation }, 'ns', KEY],
    ['digest swapped (signature kept)', { ...good, 'armorgate.io/profile-digest': other.digest }, 'ns', KEY],
    ['posture annotation disagrees', { ...good, 'armorgate.io/posture': 'file=audit,network=audit,capabilities=audit,process=audit' }, 'ns', KEY],
    ['profile not canonical but signed', (() => {
      const text = JSON.stringify(profile);
      const digest = 'sha256:' + createHash('sha256').update(text).digest('hex');
      return { ...good, 'armorgate.io/profile': text, 'armorgate.io/profile-digest': digest, 'armorgate.io/profile-signature': signProfile(KEY, 'ns', digest) };
    })(), 'ns', KEY],
  ];
  const codes: Record<string, string> = {};
  for (const [name, ann, ns, key] of cases) {
    const r = verifyAnnotations(ann, ns, key);
    assert.equal(r.ok, false, name);
    if (!r.ok) { codes[name] = r.error.code; assert.ok(r.error.message.length > 10); }
  }
  assert.deepEqual(codes, {
    'no annotations': 'E_NO_PROFILE',
    'no profile': 'E_NO_PROFILE',
    'digest missing': 'E_DIGEST',
    'no signature': 'E_NO_SIGNATURE',
    'other namespace': 'E_SIGNATURE',
    'other key': 'E_SIGNATURE',
    'empty key': 'E_KEY',
    'signature flipped': 'E_SIGNATURE',
    'profile swapped (digest kept)': 'E_DIGEST',
    'digest swapped (signature kept)': 'E_SIGNATURE',
    'posture annotation disagrees': 'E_POSTURE',
    'profile not canonical but signed': 'E_PROFILE_INVALID',
  });
});

test('signingKeyFromBytes: trailing whitespace is not part of the key; at least 16 bytes', () => {
  const k = signingKeyFromBytes(Buffer.from('0123456789abcdef0123\r\n \t'));
  assert.ok(k.ok);
  if (k.ok) assert.equal(Buffer.from(k.value).toString(), '0123456789abcdef0123');
  const lead = signingKeyFromBytes(Buffer.from(' 0123456789abcdef\n'));
  assert.ok(lead.ok);
  if (lead.ok) assert.equal(lead.value.length, 17);
  const short = signingKeyFromBytes(Buffer.from('short-key\n'));
  assert.equal(short.ok, false);
  if (!short.ok) { assert.equal(short.error.code, 'E_KEY'); assert.match(short.error.message, /too short \(9 bytes/); }
});
