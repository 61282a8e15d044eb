// YAML/JSON streams to documents: indexes, errors naming the line, encodings, limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_DOCUMENTS, MAX_INPUT_BYTES, parseDocuments } from '../../policy/parse.ts';

test('multi-document YAML: 1-based indexes, empty documents kept as null', () => {
  const docs = parseDocuments('a: 1\n---\n---\nb: [x, z]\n');
  assert.deepEqual(docs.map((d) => [d.index, d.value]), [[1, { a: 1 }], [2, null], [3, { b: ['x', 'z'] }]]);
  assert.ok(docs.every((d) => d.error === undefined));
});

test('JSON input and bytes input parse the same', () => {
  const text = '{"kind": "KubeArmorPolicy", "spec": {"tags": ["a"]}}';
  assert.deepEqual(parseDocuments(text), parseDocuments(new TextEncoder().encode(text)));
  assert.deepEqual(parseDocuments(text)[0]?.value, { kind: 'KubeArmorPolicy', spec: { tags: ['a'] } });
});

test('nothing at all is no document', () => {
  assert.deepEqual(parseDocuments(''), []);
  assert.deepEqual(parseDocuments('# only a comment\n'), []);
});

test('a YAML error names the line; the other documents still parse', () => {
  const docs = parseDocuments('a: 1\n---\nkind: X\nspec:\n  tags: [a\n  b: 2\n---\nc: 3\n');
  assert.equal(docs.length, 3);
  assert.deepEqual(docs[0]?.value, { a: 1 });
  assert.equal(docs[1]?.value, null);
  assert.equal(docs[1]?.error?.code, 'E_YAML');
  assert.match(docs[1]?.error?.message ?? '', /^YAML line \d+, column \d+: /);
  assert.deepEqual(docs[2]?.value, { c: 3 });
  const dup = parseDocuments('a: 1\na: 2\n')[0];
  assert.match(dup?.error?.message ?? '', /^YAML line 2, column 1: Map keys must be unique/);
  const tab = parseDocuments('a:\n\t- b\n')[0];
  assert.match(tab?.error?.message ?? '', /^YAML line 2/);
});

test('YAML 1.1 scalars, as Kubernetes reads them', () => {
  assert.deepEqual(parseDocuments('readOnly: yes\nownerOnly: off\nmode: 0755\nflag: y\n')[0]?.value, { readOnly: true, ownerOnly: false, mode: 493, flag: true });
});

test('non-UTF-8 bytes: an error naming the byte, offset and line', () => {
  const bytes = new Uint8Array([...new TextEncoder().encode('kind: KubeArmorPolicy\nmetadata:\n  name: caf'), 0xe9, 0x0a]);
  const docs = parseDocuments(bytes);
  assert.equal(docs.length, 1);
  assert.equal(docs[0]?.error?.code, 'E_ENCODING');
  assert.equal(docs[0]?.error?.message, 'not valid UTF-8: byte 0xe9 at offset 43 (line 3)');
  // an encoded surrogate (CESU-8) and an overlong '/' are not UTF-8 either
  assert.match(parseDocuments(new Uint8Array([0x61, 0xed, 0xa0, 0x80]))[0]?.error?.message ?? '', /byte 0xed at offset 1/);
  assert.match(parseDocuments(new Uint8Array([0xc0, 0xaf]))[0]?.error?.message ?? '', /byte 0xc0 at offset 0/);
  assert.match(parseDocuments(new Uint8Array([0x61, 0xe2, 0x82]))[0]?.error?.message ?? '', /byte 0xe2 at offset 1/);
});

test('a byte-order mark is skipped', () => {
  assert.deepEqual(parseDocuments(new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0x3a, 0x20, 0x31]))[0]?.value, { a: 1 });
  assert.deepEqual(parseDocuments('\ufeffa: 1')[0]?.value, { a: 1 });
});

test('a 10 MB input is refused before parsing', () => {
  const big = new Uint8Array(10 * 1024 * 1024).fill(0x61);
  const docs = parseDocuments(big);
  assert.equal(docs[0]?.error?.code, 'E_TOO_LARGE');
  assert.match(docs[0]?.error?.message ?? '', new RegExp(`${big.length} bytes; the limit is ${MAX_INPUT_BYTES}`));
  assert.equal(parseDocuments('x'.repeat(MAX_INPUT_BYTES + 1))[0]?.error?.code, 'E_TOO_LARGE');
});

test('deep nesting is an error, not a crash', () => {
  const deep = '['.repeat(50_000) + ']'.repeat(50_000);
  const docs = parseDocuments(deep);
  assert.equal(docs.length, 1);
  assert.equal(docs[0]?.error?.code, 'E_YAML');
  assert.match(docs[0]?.error?.message ?? '', /nested too deeply/);
});

test('alias expansion is bounded (billion laughs)', () => {
  const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 10; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill('*' + String.fromCharCode(96 + i)).join(',')}]`);
  const docs = parseDocuments(lines.join('\n'));
  assert.equal(docs[0]?.error?.code, 'E_YAML');
  assert.match(docs[0]?.error?.message ?? '', /could not be read/);
});

test('fromSource: left null is reported by dotted path', () => {
  const docs = parseDocuments([
    'spec:',
    '  file:',
    '    matchPaths:',
    '    - path: /etc/shadow',
    '      fromSource:',
    '    - path: /etc/passwd',
    '      fromSource:',
    '      - path: /bin/cat',
    '  process:',
    '    matchDirectories:',
    '    - dir: /bin/',
    '      fromSource: ~',
  ].join('\n'));
  assert.deepEqual(docs[0]?.nullFromSource, ['spec.file.matchPaths[0].fromSource', 'spec.process.matchDirectories[0].fromSource']);
});

test('a stream of very many documents stops at the limit, saying so', () => {
  const docs = parseDocuments('a: 1\n---\n'.repeat(MAX_DOCUMENTS + 500));
  assert.equal(docs.length, MAX_DOCUMENTS + 1);
  assert.deepEqual(docs[MAX_DOCUMENTS - 1]?.value, { a: 1 });
  assert.equal(docs[MAX_DOCUMENTS]?.index, MAX_DOCUMENTS + 1);
  assert.equal(docs[MAX_DOCUMENTS]?.error?.code, 'E_TOO_LARGE');
  assert.match(docs[MAX_DOCUMENTS]?.error?.message ?? '', /more than 10000 documents/);
});
