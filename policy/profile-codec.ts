// The `armorgate.io/profile` annotation: canonical JSON of the profile, gzip+base64 past
// 32 KiB, and its digest. Decoding checks everything an enforcer must not take on trust
// except the signature (policy/sign.ts).
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PROFILE_GZIP_THRESHOLD } from './annotations.ts';
import { isCanonicalJsonOf } from './canonical.ts';
import { err, ok } from './types.ts';
import { validateProfileSchema } from './schema.ts';
import type { PostureSet, Profile, ProfileRule, Result, RuleKind, Target, VisibilityKind } from './types.ts';

export const GZIP_PREFIX = 'gz:';
/** Upper bound on a decompressed profile (the canonical JSON): low enough that a gzip bomb
 *  cannot exhaust memory and that the enforcer decodes, verifies and loads the largest profile
 *  in about a second (test/vm/scenarios/kernel-limits.ts measures it); the compiler
 *  refuses a profile past it (E_TOO_LARGE). 512 rules of the longest paths fit
 *  (KERNEL_LIMITS.rulesPerProfile). It was 8 MiB: 7 MB took 3-13 s to verify in a VM, and
 *  1 MiB with 1,024 rules 1.2-2 s there. */
export const MAX_DECODED_PROFILE_BYTES = 512 * 1024;

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
  return encodeCanonical(canonicalProfileJson(p));
}

/** Annotation and digest of a profile, as compile() needs them. */
export interface EncodedAnnotation {
  annotation: string;
  digest: string;
}

/** Recently encoded profiles by digest: pods of one workload share a profile, and its
 *  gzip needs computing once. Content-keyed, so never stale. */
const encodedCache = new Map<string, string>();
const ENCODED_CACHE_SIZE = 128;

/** Empties the encode cache (benchmarks measure the uncached cost with it). */
export function clearEncodeCache(): void {
  encodedCache.clear();
}

/** The annotation and digest of a profile's canonical JSON. */
export function encodeCanonical(canonical: string): EncodedProfile {
  return Object.freeze({ canonical, ...encodeCanonicalBytes(Buffer.from(canonical, 'utf8')) });
}

/** The annotation and digest of a profile's canonical JSON, given as UTF-8 bytes. */
export function encodeCanonicalBytes(bytes: Buffer): EncodedAnnotation {
  const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
  let annotation = encodedCache.get(digest);
  if (annotation !== undefined) {
    encodedCache.delete(digest);
  } else {
    // Level 1: on profile JSON it compresses within a few percent of level 9, several times faster.
    annotation = bytes.length > PROFILE_GZIP_THRESHOLD
      ? GZIP_PREFIX + gzipSync(bytes, { level: 1 }).toString('base64')
      : bytes.toString('utf8');
    if (encodedCache.size >= ENCODED_CACHE_SIZE) encodedCache.delete(encodedCache.keys().next().value!);
  }
  encodedCache.set(digest, annotation);
  return { annotation, digest };
}

// ---- RFC 8785 serialisation specialised to the Profile shape ----
// Same bytes as canonicalJson(profile) for every well-formed Profile (keys written in
// their sorted order, strings by JSON.stringify as RFC 8785 prescribes, integers as
// ECMAScript prints them), several times faster; the codec tests check the equality.

const str = JSON.stringify as (s: string) => string;

function strings(a: readonly string[]): string {
  if (a.length === 0) return '[]';
  let out = '[' + str(a[0]!);
  for (let i = 1; i < a.length; i++) out += ',' + str(a[i]!);
  return out + ']';
}

function targetJson(t: Target): string {
  switch (t.type) {
    case 'path': return `{"path":${str(t.path)},"type":"path"}`;
    case 'execname': return `{"name":${str(t.name)},"type":"execname"}`;
    case 'directory': return `{"dir":${str(t.dir)},"recursive":${t.recursive ? 'true' : 'false'},"type":"directory"}`;
    case 'pattern': return `{"pattern":${str(t.pattern)},"type":"pattern"}`;
    case 'protocol': return `{"protocol":${str(t.protocol)},"type":"protocol"}`;
    case 'capability': return `{"capability":${str(t.capability)},"type":"capability"}`;
  }
}

/** Canonical JSON of one profile rule. */
export function ruleJson(r: ProfileRule): string {
  return `{"action":${str(r.action)},"containers":${strings(r.containers)},"fromSource":${str(r.fromSource)},`
    + `"message":${str(r.message)},"ownerOnly":${r.ownerOnly ? 'true' : 'false'},"policies":${strings(r.policies)},`
    + `"readOnly":${r.readOnly ? 'true' : 'false'},"severity":${String(r.severity)},"tags":${strings(r.tags)},`
    + `"target":${targetJson(r.target)}}`;
}

/** Canonical JSON of a profile from its posture and the canonical JSON of each kind's rules, in order. */
export function profileJsonFromRules(posture: PostureSet, rules: Record<RuleKind, readonly string[]>, visibility?: readonly VisibilityKind[]): string {
  return `{"capabilities":[${rules.capabilities.join(',')}],"file":[${rules.file.join(',')}],"network":[${rules.network.join(',')}],`
    + `"posture":{"capabilities":${str(posture.capabilities)},"file":${str(posture.file)},"network":${str(posture.network)},"process":${str(posture.process)}},`
    + `"process":[${rules.process.join(',')}],"version":1${visibilityJson(visibility)}}`;
}

/** The profile's optional last member: `,"visibility":[…]`, nothing when no kind is visible
 *  (so profiles without visibility keep their bytes and digests). */
function visibilityJson(v: readonly VisibilityKind[] | undefined): string {
  return v === undefined || v.length === 0 ? '' : `,"visibility":${strings(v)}`;
}

const bytesOf = (text: string): Buffer => Buffer.from(text, 'utf8');
const CAPABILITIES_OPEN = bytesOf('{"capabilities":[');
const FILE_OPEN = bytesOf('],"file":[');
const NETWORK_OPEN = bytesOf('],"network":[');
const POSTURE_OPEN = bytesOf('],"posture":');
const PROCESS_OPEN = bytesOf(',"process":[');
const PROFILE_CLOSE = bytesOf('],"version":1}');
const COMMA = bytesOf(',');
const postureBytes = new Map<string, Buffer>();

/** profileJsonFromRules as UTF-8 bytes, from each rule's canonical JSON as UTF-8 bytes. */
export function profileBytesFromRules(posture: PostureSet, rules: Record<RuleKind, readonly Buffer[]>, visibility?: readonly VisibilityKind[]): Buffer {
  const key = `${posture.capabilities},${posture.file},${posture.network},${posture.process}`;
  let p = postureBytes.get(key);
  if (p === undefined) {
    p = bytesOf(`{"capabilities":${str(posture.capabilities)},"file":${str(posture.file)},"network":${str(posture.network)},"process":${str(posture.process)}}`);
    if (postureBytes.size < 64) postureBytes.set(key, p);
  }
  const parts: Buffer[] = [];
  const add = (list: readonly Buffer[]): void => {
    for (let i = 0; i < list.length; i++) {
      if (i > 0) parts.push(COMMA);
      parts.push(list[i]!);
    }
  };
  parts.push(CAPABILITIES_OPEN); add(rules.capabilities);
  parts.push(FILE_OPEN); add(rules.file);
  parts.push(NETWORK_OPEN); add(rules.network);
  parts.push(POSTURE_OPEN, p, PROCESS_OPEN); add(rules.process);
  if (visibility === undefined || visibility.length === 0) parts.push(PROFILE_CLOSE);
  else parts.push(bytesOf(`],"version":1${visibilityJson(visibility)}}`));
  return Buffer.concat(parts);
}

/** Canonical JSON (RFC 8785) of a well-formed Profile; equal to canonicalJson(p). */
export function canonicalProfileJson(p: Profile): string {
  return profileJsonFromRules(p.posture, {
    process: p.process.map(ruleJson), file: p.file.map(ruleJson), network: p.network.map(ruleJson), capabilities: p.capabilities.map(ruleJson),
  }, p.visibility);
}

// Standard base64 with padding: checked as a character run plus a length rule (a grouped
// RegExp would recurse per group and overflow the stack on long input).
const BASE64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;
const isBase64 = (s: string): boolean => s.length % 4 === 0 && BASE64_CHARS.test(s);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes an `armorgate.io/profile` value: `gz:` + standard base64 of gzip, or the JSON
 *  itself. The JSON must be in canonical form (so its bytes are what the digest covers)
 *  and the profile must pass the profile schema. Errors: E_PROFILE_INVALID. */
export function decodeProfileAnnotation(value: string): Result<{ profile: Profile; canonical: string }> {
  try {
    return decode(value);
  } catch (e) {
    return err('E_PROFILE_INVALID', `profile annotation cannot be decoded: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function decode(value: string): Result<{ profile: Profile; canonical: string }> {
  if (typeof value !== 'string') return err('E_PROFILE_INVALID', 'profile annotation is not a string');
  let canonical = value;
  if (value.startsWith(GZIP_PREFIX)) {
    const b64 = value.slice(GZIP_PREFIX.length);
    if (!isBase64(b64)) return err('E_PROFILE_INVALID', 'profile annotation: gz: payload is not standard base64');
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
  if (canonical.length > MAX_DECODED_PROFILE_BYTES) return err('E_PROFILE_INVALID', `profile annotation: more than ${MAX_DECODED_PROFILE_BYTES} bytes of JSON`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(canonical);
  } catch (e) {
    return err('E_PROFILE_INVALID', `profile annotation is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isCanonicalJsonOf(parsed, canonical)) return err('E_PROFILE_INVALID', 'profile annotation is not canonical JSON (RFC 8785)');
  const problems = validateProfileSchema(parsed);
  if (problems.length > 0) {
    const first = problems.slice(0, 3).map((p) => `${p.path || '(root)'}: ${p.message}`).join('; ');
    return err('E_PROFILE_INVALID', `profile does not match the profile schema: ${first}`, problems[0]?.path);
  }
  return ok({ profile: parsed as Profile, canonical });
}

