// The profile signature of DESIGN.md: `hmac-sha256:KEYID:HEX`, HEX the HMAC-SHA256 of
// NAMESPACE + "\n" + DIGEST with the key shared by the gateway and the enforcers, KEYID the
// key's id (the first 8 hex digits of SHA-256 of the key), so that a verifier holding more than
// one key (the current and the previous one, during a rotation) knows which to check; and the
// enforcer-side verification of a pod's armorgate.io/* annotations.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ANN_POLICIES, ANN_POSTURE, ANN_PROFILE, ANN_PROFILE_DIGEST, ANN_PROFILE_SIGNATURE } from './annotations.ts';
import { formatPosture } from './posture.ts';
import { decodeProfileAnnotation, profileDigest } from './profile-codec.ts';
import { err, ok } from './types.ts';
import type { PostureSet, Profile, Result } from './types.ts';

export const SIGNATURE_PREFIX = 'hmac-sha256:';
/** Shortest signing key accepted. */
export const MIN_SIGNING_KEY_BYTES = 16;

/** The signing key held in a key file's bytes: the bytes without trailing whitespace
 *  (a final newline is not part of the key), at least 16 of them. */
export function signingKeyFromBytes(raw: Uint8Array): Result<Uint8Array> {
  let end = raw.length;
  while (end > 0 && (raw[end - 1] === 0x0a || raw[end - 1] === 0x0d || raw[end - 1] === 0x20 || raw[end - 1] === 0x09)) end--;
  if (end < MIN_SIGNING_KEY_BYTES) return err('E_KEY', `signing key is too short (${end} bytes; at least ${MIN_SIGNING_KEY_BYTES} needed)`);
  return ok(raw.subarray(0, end));
}

export interface VerifiedProfile {
  profile: Profile;
  digest: string;
  /** Entries of armorgate.io/policies (`NS/NAME@GEN` or `NAME@GEN`); informational: the
   *  signature covers the profile, which names the policies behind each rule. */
  policies: string[];
  /** The profile's posture (signed); the armorgate.io/posture annotation must agree with it. */
  posture: PostureSet;
}

const keyIds = new WeakMap<Uint8Array, string>();
/** A key's id: the first 8 hex digits of SHA-256 of its bytes (names the key in signatures
 *  and logs; reveals nothing usable of a key of 16 bytes or more). */
export function keyId(key: Uint8Array): string {
  let id = keyIds.get(key);
  if (id === undefined) { id = createHash('sha256').update(key).digest('hex').slice(0, 8); keyIds.set(key, id); }
  return id;
}

/** 'hmac-sha256:' + key id + ':' + hex HMAC-SHA256(key, namespace + "\n" + digest). */
export function signProfile(key: Uint8Array, namespace: string, digest: string): string {
  return `${SIGNATURE_PREFIX}${keyId(key)}:${createHmac('sha256', key).update(`${namespace}\n${digest}`, 'utf8').digest('hex')}`;
}

const SIGNATURE_FORMAT = /^hmac-sha256:([0-9a-f]{8}):[0-9a-f]{64}$/;

function equalConstantTime(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  // timingSafeEqual needs equal lengths; compare against itself to keep the work the same.
  if (x.length !== y.length) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

/** Whether `signature` is what signProfile makes for namespace + digest under one of `keys` whose
 *  key id it names (every such key compared, in constant time: the answer tells nothing about a
 *  near miss). */
export function signatureMatches(signature: string, namespace: string, digest: string, keys: readonly Uint8Array[]): boolean {
  const format = SIGNATURE_FORMAT.exec(signature);
  if (format === null) return false;
  // every candidate is compared (two keys with one id are possible, if unlikely)
  let match = false;
  for (const k of keys) if (keyId(k) === format[1] && equalConstantTime(signature, signProfile(k, namespace, digest))) match = true;
  return match;
}

/** Checks a pod's armorgate.io/* annotations: the profile decodes (gz: included) and is
 *  canonical and well-formed, the digest matches its canonical bytes, the signature
 *  matches namespace + digest under the held key its key id names (`keys`: one key, or the
 *  current and the previous one during a rotation; compared in constant time), and the
 *  posture annotation agrees with the profile. Errors as values: E_NO_PROFILE,
 *  E_DIGEST, E_NO_SIGNATURE, E_SIGNATURE, E_PROFILE_INVALID, E_POSTURE, E_KEY. */
export function verifyAnnotations(annotations: Record<string, string> | undefined, namespace: string, keys: Uint8Array | readonly Uint8Array[]): Result<VerifiedProfile> {
  try {
    const held = (keys instanceof Uint8Array ? [keys] : keys).filter((k) => k instanceof Uint8Array && k.length > 0);
    if (held.length === 0) return err('E_KEY', 'no signing key to verify the profile with');
    const ann = annotations !== null && typeof annotations === 'object' ? annotations : {};
    const value = ann[ANN_PROFILE];
    if (typeof value !== 'string' || value === '') return err('E_NO_PROFILE', `pod has no ${ANN_PROFILE} annotation`, ANN_PROFILE);
    const digest = ann[ANN_PROFILE_DIGEST];
    if (typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
      return err('E_DIGEST', `${ANN_PROFILE_DIGEST} is missing or not sha256:<64 hex digits>`, ANN_PROFILE_DIGEST);
    }
    const signature = ann[ANN_PROFILE_SIGNATURE];
    if (typeof signature !== 'string' || signature === '') return err('E_NO_SIGNATURE', `pod has no ${ANN_PROFILE_SIGNATURE} annotation`, ANN_PROFILE_SIGNATURE);
    if (typeof namespace !== 'string' || namespace === '') return err('E_SIGNATURE', 'no namespace to verify the signature against');
    // Signature first: nothing of an unsigned profile is decoded.
    const format = SIGNATURE_FORMAT.exec(signature);
    if (format === null) return err('E_SIGNATURE', `${ANN_PROFILE_SIGNATURE} is not hmac-sha256:<8 hex digits of key id>:<64 hex digits>`, ANN_PROFILE_SIGNATURE);
    const candidates = held.filter((k) => keyId(k) === format[1]);
    if (candidates.length === 0) {
      return err('E_SIGNATURE', `${ANN_PROFILE_SIGNATURE} names key ${format[1]}, which is not held here (held: ${held.map(keyId).join(', ')})`, ANN_PROFILE_SIGNATURE);
    }
    if (!signatureMatches(signature, namespace, digest, candidates)) {
      return err('E_SIGNATURE', `${ANN_PROFILE_SIGNATURE} does not match namespace ${namespace} and the profile digest under key ${format[1]}`, ANN_PROFILE_SIGNATURE);
    }
    const decoded = decodeProfileAnnotation(value);
    if (!decoded.ok) return decoded;
    if (!equalConstantTime(profileDigest(decoded.value.canonical), digest)) {
      return err('E_DIGEST', `${ANN_PROFILE_DIGEST} does not match the profile`, ANN_PROFILE_DIGEST);
    }
    const profile = decoded.value.profile;
    const postureAnn = ann[ANN_POSTURE];
    if (postureAnn !== undefined && postureAnn !== formatPosture(profile.posture)) {
      return err('E_POSTURE', `${ANN_POSTURE} '${postureAnn}' disagrees with the signed profile's posture '${formatPosture(profile.posture)}'`, ANN_POSTURE);
    }
    const list = ann[ANN_POLICIES];
    const policies = typeof list === 'string' && list !== '' ? list.split(',') : [];
    return ok({ profile, digest, policies, posture: profile.posture });
  } catch (e) {
    return err('E_INTERNAL', `verifying the profile failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
