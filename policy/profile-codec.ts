// The `armorgate.io/profile` annotation: canonical JSON of the profile, gzip+base64 past
// 32 KiB, and its digest. Decoding checks everything an enforcer must not take on trust
// except the signature (policy/sign.ts).
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PROFILE_GZIP_THRESHOLD } from './annotations.ts';
import { canonicalJson } from './canonical.ts';
import { err, ok } from './types.ts';
import { validateProfileSchema } from './schema.ts';
import type { Profile, Result } from './types.ts';

export const GZIP_PREFIX = 'gz:';
/** Upper bound on a decompressed profile: far above what fits in 256 KiB of annotations
 *  at any sane ratio, and low enough that a gzip bomb cannot exhaust memory. */
export const MAX_DECODED_PROFILE_BYTES = 8 * 1024 * 1024;

export interface EncodedProfile {
  /** RFC 8785 canonical JSON of the profile: the bytes the digest covers. */
  canonical: string;
  /** Value of `armorgate.io/profile`: `canonical`, or `gz:` + base64(gzip(canonical)) past 32 KiB. */
  annotation: string;
  /** `sha256:` + hex SHA-256 of `canonical`. */
  digest: string;
}

/** 'sha256:' + lower-case hex SHA-256 of the UTF-8 bytes of `canonical`. */
export function profileDigest(canonical: string): string {
  return 'sha256:' + createHash('sha256').update(canonical, 'utf8').digest('hex');
}

export function encodeProfile(p: Profile): EncodedProfile {
  const canonical = canonicalJson(p);
  const bytes = Buffer.from(canonical, 'utf8');
  const annotation = bytes.length > PROFILE_GZIP_THRESHOLD
    ? GZIP_PREFIX + gzipSync(bytes, { level: 9 }).toString('base64')
    : canonical;
  return { canonical, annotation, digest: profileDigest(canonical) };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes an `armorgate.io/profile` value: `gz:` + standard base64 of gzip, or the JSON
 *  itself. The JSON must be in canonical form (so its bytes are what the digest covers)
 *  and the profile must pass the profile schema. Errors: E_PROFILE_INVALID. */
export function decodeProfileAnnotation(value: string): Result<{ profile: Profile; canonical: string }> {
  if (typeof value !== 'string') return err('E_PROFILE_INVALID', 'profile annotation is not a string');
  let canonical = value;
  if (value.startsWith(GZIP_PREFIX)) {
    const b64 = value.slice(GZIP_PREFIX.length);
    if (!BASE64.test(b64)) return err('E_PROFILE_INVALID', 'profile annotation: gz: payload is not standard base64');
    let raw: Buffer;
    try {
      raw = gunzipSync(Buffer.from(b64, 'base64'), { maxOutputLength: MAX_DECODED_PROFILE_BYTES });
    } catch (e) {
      return err('E_PROFILE_INVALID', `profile annotation: gz: payload does not gunzip (${e instanceof Error ? e.message : String(e)})`);
    }
    try {
      canonical = utf8.decode(raw);
    } catch {
      return err('E_PROFILE_INVALID', 'profile annotation: decompressed profile is not UTF-8');
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(canonical);
  } catch (e) {
    return err('E_PROFILE_INVALID', `profile annotation is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  let again: string;
  try {
    again = canonicalJson(parsed);
  } catch {
    return err('E_PROFILE_INVALID', 'profile annotation is not canonical JSON');
  }
  if (again !== canonical) return err('E_PROFILE_INVALID', 'profile annotation is not canonical JSON (RFC 8785)');
  const problems = validateProfileSchema(parsed);
  if (problems.length > 0) {
    const first = problems.slice(0, 3).map((p) => `${p.path || '(root)'}: ${p.message}`).join('; ');
    return err('E_PROFILE_INVALID', `profile does not match the profile schema: ${first}`, problems[0]?.path);
  }
  return ok({ profile: parsed as Profile, canonical });
}

