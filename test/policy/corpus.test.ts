// Every document of every file of KubeArmor's policy corpus gets the API server's verdict
// (corpus-verdicts.tsv: computed after pruning nulls, as the API server does).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocuments } from '../../policy/parse.ts';
import { pointerToPath } from '../../policy/paths.ts';
import { isPolicyDocument, MAX_WARNING_LENGTH, validatePolicy } from '../../policy/validate.ts';
import { KUBEARMOR_DATA, missingData } from './kubearmor-data.ts';

const skip = missingData('corpus-verdicts.tsv') || missingData('corpus');

test('KubeArmor corpus: the same accept/reject verdict on every document', { skip }, () => {
  const rows = readFileSync(join(KUBEARMOR_DATA, 'corpus-verdicts.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
  assert.equal(rows.length, 280, 'the corpus lists 280 files');
  const mismatches: string[] = [];
  let valid = 0;
  let invalid = 0;
  let documents = 0;
  for (const [file, , verdict] of rows) {
    assert.ok(file && verdict);
    const expected = verdict.split(';');
    const docs = parseDocuments(readFileSync(join(KUBEARMOR_DATA, 'corpus', file))).filter((d) => d.value !== null || d.error);
    if (docs.length !== expected.length) { mismatches.push(`${file}: ${docs.length} documents, verdicts for ${expected.length}`); continue; }
    docs.forEach((doc, i) => {
      documents++;
      const want = expected[i] as string;
      assert.equal(doc.error, undefined, `${file}#${doc.index} parses`);
      assert.ok(isPolicyDocument(doc.value), `${file}#${doc.index} is a policy document`);
      const { policy, problems } = validatePolicy(doc.value);
      for (const p of problems) {
        if (p.level === 'warning') assert.ok(`${p.path}: ${p.message}`.length < MAX_WARNING_LENGTH, `${file}: warning too long: ${p.path}: ${p.message}`);
      }
      const errors = problems.filter((p) => p.level === 'error');
      if (want === 'valid') {
        if (policy === null) mismatches.push(`${file}#${doc.index}: API server accepts, we reject: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
        return;
      }
      if (policy !== null) { mismatches.push(`${file}#${doc.index}: API server rejects (${want}), we accept`); return; }
      // The error names the field the API server names.
      const field = pointerToPath('/' + want.slice('invalid:'.length).split(':')[0]);
      assert.ok(errors.some((e) => e.path.startsWith(field)), `${file}: an error at ${field}, got ${JSON.stringify(errors)}`);
    });
    if (expected.every((v) => v === 'valid')) valid++;
    else invalid++;
  }
  assert.deepEqual(mismatches, []);
  assert.equal(valid, 277);
  assert.equal(invalid, 3);
  assert.ok(documents >= 280);
});
