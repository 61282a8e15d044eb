// The `armorgate.io/profile` annotation: canonical JSON of the profile, gzip+base64 past
// 32 KiB, and its digest. Decoding checks everything an enforcer must not take on trust
// except the signature (policy/sign.ts).
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PROFILE_GZIP_THRESHOLD } from './annotations.ts';
import { canonicalJson } from './canonical.ts';
import { err, ok } from './types.ts';
import { RULE_KINDS } from './types.ts';
import type { Problem, Profile, Result } from './types.ts';

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
  const problems = checkProfile(parsed);
  if (problems.length > 0) {
    const first = problems.slice(0, 3).map((p) => `${p.path || '(root)'}: ${p.message}`).join('; ');
    return err('E_PROFILE_INVALID', `profile does not match the profile schema: ${first}`, problems[0]?.path);
  }
  return ok({ profile: parsed as Profile, canonical });
}

const ACTIONS = new Set(['Allow', 'Audit', 'Block']);
const POSTURES = new Set(['audit', 'block']);
const TARGET_FIELDS: Record<string, Record<string, 'string' | 'boolean'>> = {
  path: { path: 'string' },
  execname: { name: 'string' },
  directory: { dir: 'string', recursive: 'boolean' },
  pattern: { pattern: 'string' },
  protocol: { protocol: 'string' },
  capability: { capability: 'string' },
};
const RULE_FIELDS = ['action', 'target', 'readOnly', 'ownerOnly', 'fromSource', 'containers', 'policies', 'severity', 'tags', 'message'];

/** Structural check of a decoded profile against the Profile type of policy/types.ts
 *  (the shape schemas/profile.schema.json describes): every problem, with its path. */
export function checkProfile(v: unknown): Problem[] {
  const problems: Problem[] = [];
  const bad = (path: string, message: string): void => { problems.push({ level: 'error', path, message }); };
  if (!isRecord(v)) { bad('', 'profile must be an object'); return problems; }
  const allowed = new Set(['version', 'posture', ...RULE_KINDS]);
  for (const k of Object.keys(v)) if (!allowed.has(k)) bad(k, 'unknown field');
  if (v['version'] !== 1) bad('version', 'must be 1');
  const posture = v['posture'];
  if (!isRecord(posture)) bad('posture', 'must be an object');
  else {
    for (const k of Object.keys(posture)) if (!['file', 'network', 'capabilities', 'process'].includes(k)) bad(`posture.${k}`, 'unknown field');
    for (const k of ['file', 'network', 'capabilities', 'process']) if (!POSTURES.has(posture[k] as string)) bad(`posture.${k}`, 'must be audit or block');
  }
  for (const kind of RULE_KINDS) {
    const rules = v[kind];
    if (!Array.isArray(rules)) { bad(kind, 'must be an array'); continue; }
    rules.forEach((r, i) => checkRule(r, `${kind}[${i}]`, bad));
  }
  return problems;
}

function checkRule(r: unknown, at: string, bad: (path: string, message: string) => void): void {
  if (!isRecord(r)) { bad(at, 'rule must be an object'); return; }
  for (const k of Object.keys(r)) if (!RULE_FIELDS.includes(k)) bad(`${at}.${k}`, 'unknown field');
  if (!ACTIONS.has(r['action'] as string)) bad(`${at}.action`, 'must be Allow, Audit or Block');
  const t = r['target'];
  const fields = isRecord(t) && typeof t['type'] === 'string' ? TARGET_FIELDS[t['type']] : undefined;
  if (!isRecord(t) || fields === undefined) bad(`${at}.target`, 'must be a target object with a known type');
  else {
    for (const k of Object.keys(t)) if (k !== 'type' && !(k in fields)) bad(`${at}.target.${k}`, 'unknown field');
    for (const [k, type] of Object.entries(fields)) if (typeof t[k] !== type) bad(`${at}.target.${k}`, `must be a ${type}`);
  }
  for (const k of ['readOnly', 'ownerOnly']) if (typeof r[k] !== 'boolean') bad(`${at}.${k}`, 'must be a boolean');
  for (const k of ['fromSource', 'message']) if (typeof r[k] !== 'string') bad(`${at}.${k}`, 'must be a string');
  for (const k of ['containers', 'policies', 'tags']) {
    const a = r[k];
    if (!Array.isArray(a) || !a.every((x) => typeof x === 'string')) bad(`${at}.${k}`, 'must be an array of strings');
  }
  const sev = r['severity'];
  if (typeof sev !== 'number' || !Number.isInteger(sev) || sev < 0 || sev > 10) bad(`${at}.severity`, 'must be an integer 0..10');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
