import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson, isCanonicalJsonOf, tryCanonicalJson } from '../../policy/canonical.ts';

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

test('isCanonicalJsonOf answers as canonicalJson(JSON.parse(text)) === text does', () => {
  const same = (text: string): void => {
    let value: unknown;
    try { value = JSON.parse(text); } catch { return; }
    let expected: boolean;
    try { expected = canonicalJson(value) === text; } catch { expected = false; }
    assert.equal(isCanonicalJsonOf(value, text), expected, text);
  };
  // what the fast path cannot see on its own: index keys, key order, lone surrogates, duplicates
  for (const t of ['{"10":1,"9":2}', '{"9":2,"10":1}', '{"b":1,"a":2}', '{"a":1,"a":2}', '{"a":1,"a":1}', '"\\ud800"',
    '{"\\ud800":1}', '-0', '1E2', '1e+21', '{"a":[{"c":1,"b":2}]}', '"\\u0041"', '"\\u001f"', '{"":0,"a":{}}', '[1, 2]']) same(t);
  fc.assert(fc.property(fc.jsonValue(), fc.boolean(), (v, pretty) => {
    const text = pretty ? JSON.stringify(v) : canonicalJson(v);
    same(text);
  }), { numRuns: 500 });
  // records whose key order may be shuffled, including index-like keys
  fc.assert(fc.property(fc.dictionary(fc.oneof(fc.string(), fc.nat().map(String)), fc.jsonValue(), { maxKeys: 6 }), (d) => {
    same(JSON.stringify(d));
    same(canonicalJson(d));
  }), { numRuns: 500 });
});
