// Canonical JSON (RFC 8785, JSON Canonicalization Scheme): the byte form the profile
// digest covers. Serialisation is the `canonicalize` library's; this module only fixes
// what counts as JSON-representable input.
import canonicalize from 'canonicalize';
import { err, ok } from './types.ts';
import type { Result } from './types.ts';

/** RFC 8785 canonical JSON of a JSON value (objects with sorted keys, no whitespace,
 *  ECMAScript number formatting). Throws TypeError only for data JSON cannot represent
 *  (undefined at top level, non-finite numbers, BigInt, cycles): a programming error,
 *  never input-dependent for values that came from JSON or YAML. Use `tryCanonicalJson`
 *  where the value is not under the caller's control. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('canonicalJson: value has no JSON representation');
  return text;
}

/** canonicalJson as a Result: E_CANONICAL names why the value cannot be serialised. */
export function tryCanonicalJson(value: unknown): Result<string> {
  try {
    return ok(canonicalJson(value));
  } catch (e) {
    return err('E_CANONICAL', `value cannot be written as canonical JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}
