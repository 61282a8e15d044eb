import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson, tryCanonicalJson } from '../../policy/canonical.ts';

test('RFC 8785: sorted keys by UTF-16 code units, no whitespace, ECMAScript numbers', () => {
  assert.equal(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 1e21, y: 0.000001, x: -0 } }),
    '{"a":[true,null,"x"],"b":1,"c":{"x":0,"y":0.000001,"z":1e+21}}');
  // RFC 8785 §3.2.3 sort example: code-unit order, not code-point or locale order
  assert.equal(canonicalJson({ '\u20ac': 1, '\r': 2, '\ud83d\ude00': 3, '1': 4, '\u00f6': 5 }),
    '{"\\r":2,"1":4,"\u00f6":5,"\u20ac":1,"\ud83d\ude00":3}');
  assert.equal(canonicalJson('\u2028\u0007"'), '"\u2028\\u0007\\""');
});

test('key order and whitespace of the input never change the output', () => {
  fc.assert(fc.property(fc.jsonValue(), (v) => {
    const text = canonicalJson(v);
    assert.equal(canonicalJson(JSON.parse(JSON.stringify(v, null, 2))), text);
    assert.equal(canonicalJson(JSON.parse(text)), text);
  }), { numRuns: 200 });
});

test('values JSON cannot represent are errors, as values with tryCanonicalJson', () => {
  assert.throws(() => canonicalJson(undefined), TypeError);
  const r = tryCanonicalJson({ a: Number.NaN });
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.code, 'E_CANONICAL');
  assert.deepEqual(tryCanonicalJson([1]), { ok: true, value: '[1]' });
});
