import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { encodeProfile } from '../../policy/profile-codec.ts';
import { keyId, signingKeyFromBytes, signProfile, verifyAnnotations } from '../../policy/sign.ts';
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

test('signProfile is hmac-sha256:KEYID:HEX, HEX the HMAC-SHA256 of NAMESPACE + "\\n" + DIGEST, KEYID 8 hex digits of SHA-256 of the key', () => {
  const digest = 'sha256:' + 'ab'.repeat(32);
  const id = createHash('sha256').update(KEY).digest('hex').slice(0, 8);
  assert.equal(keyId(KEY), id);
  assert.equal(signProfile(KEY, 'prod', digest), `hmac-sha256:${id}:` + createHmac('sha256', KEY).update(`prod\n${digest}`).digest('hex'));
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

test('rotation: a verifier holding the current and the previous key accepts a signature by either, and names the key otherwise', () => {
  const OLD = KEY, NEW = Buffer.from('a-new-signing-key-of-32-bytes!!!');
  const byOld = annotationsFor(profile);
  const e = encodeProfile(profile);
  const byNew = { ...byOld, 'armorgate.io/profile-signature': signProfile(NEW, 'ns', e.digest) };
  assert.ok(verifyAnnotations(byOld, 'ns', [NEW, OLD]).ok, 'old key, held as previous');
  assert.ok(verifyAnnotations(byNew, 'ns', [NEW, OLD]).ok, 'new key, held as current');
  const dropped = verifyAnnotations(byOld, 'ns', [NEW]);
  assert.ok(!dropped.ok && dropped.error.code === 'E_SIGNATURE' && dropped.error.message.includes(`names key ${keyId(OLD)}, which is not held here (held: ${keyId(NEW)})`), JSON.stringify(dropped));
  // the key id only picks the key: a signature by another key under a held key's id does not verify
  const forged = { ...byOld, 'armorgate.io/profile-signature': signProfile(NEW, 'ns', e.digest).replace(keyId(NEW), keyId(OLD)) };
  const f = verifyAnnotations(forged, 'ns', [NEW, OLD]);
  assert.ok(!f.ok && f.error.code === 'E_SIGNATURE' && f.error.message.includes(`under key ${keyId(OLD)}`), JSON.stringify(f));
  // the old format (no key id) is refused, naming the format
  const legacy = { ...byOld, 'armorgate.io/profile-signature': 'hmac-sha256:' + createHmac('sha256', OLD).update(`ns\n${e.digest}`).digest('hex') };
  const l = verifyAnnotations(legacy, 'ns', [NEW, OLD]);
  assert.ok(!l.ok && l.error.message.includes('hmac-sha256:<8 hex digits of key id>:<64 hex digits>'), JSON.stringify(l));
});
