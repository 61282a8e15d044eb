// `armorgate validate` through the real command (bin/armorgate.js).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KUBEARMOR_DATA, missingData, REPO_ROOT } from '../policy/kubearmor-data.ts';

const BIN = join(REPO_ROOT, 'bin', 'armorgate.js');
let dir = '';

function run(...args: string[]): { code: number | null; out: string[]; err: string } {
  const r = spawnSync(process.execPath, [BIN, 'validate', ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout.split('\n').filter((l) => l !== ''), err: r.stderr };
}

const GOOD = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: block-shadow
  namespace: default
spec:
  selector:
    matchLabels:
      app: web
  file:
    matchPaths:
    - path: /etc/shadow
  action: Block
`;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ag-validate-'));
  writeFileSync(join(dir, 'good.yaml'), GOOD);
  mkdirSync(join(dir, 'tree', 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(dir, 'tree', 'a.yml'), GOOD.replace('block-shadow', 'a'));
  writeFileSync(join(dir, 'tree', 'sub', 'b.json'), JSON.stringify({ apiVersion: 'security.kubearmor.com/v1', kind: 'KubeArmorClusterPolicy', metadata: { name: 'b' }, spec: { process: { matchPaths: [{ path: '/bin/nc' }] } } }));
  writeFileSync(join(dir, 'tree', 'sub', 'deeper', 'multi.yaml'), `${GOOD}---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\napiVersion: security.kubearmor.com/v1\nkind: KubeArmorNetworkPolicy\nmetadata:\n  name: n\n---\n`);
  writeFileSync(join(dir, 'tree', 'sub', 'notes.txt'), 'not: [yaml');
  writeFileSync(join(dir, 'bad.yaml'), `${GOOD}---\n${GOOD.replace('/etc/shadow', 'etc/shadow').replace('action: Block', 'action: Block\n  presets:\n  - name: nope')}`);
  writeFileSync(join(dir, 'broken.yaml'), `${GOOD}---\nkind: KubeArmorPolicy\nspec:\n  tags: [a\n  b: c\n`);
  writeFileSync(join(dir, 'null-source.yaml'), GOOD.replace('- path: /etc/shadow', '- path: /etc/shadow\n      fromSource:'));
  writeFileSync(join(dir, 'latin1.yaml'), Buffer.concat([Buffer.from(GOOD.replace('block-shadow', 'caf')), Buffer.from([0xe9, 0x0a])]));
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('a valid file: no problem lines, summary, exit 0', () => {
  const r = run('good.yaml');
  assert.deepEqual(r.out, ['1 documents, 0 invalid, 0 warnings']);
  assert.equal(r.code, 0);
});

test('folders are searched recursively for .yaml/.yml/.json; non-policy documents are skipped with a warning', () => {
  const r = run('tree');
  assert.deepEqual(r.out, [
    'tree/sub/deeper/multi.yaml#2: warning: kind: not a KubeArmor policy (kind "Deployment"); skipped',
    'tree/sub/deeper/multi.yaml#3: warning: kind: KubeArmorNetworkPolicy is not supported yet; skipped',
    '5 documents, 0 invalid, 2 warnings',
  ]);
  assert.equal(r.code, 0, 'warnings alone keep exit 0');
});

test('problems: FILE#N: FIELD.PATH: message, then the summary; exit 1', () => {
  const r = run('bad.yaml', 'good.yaml');
  assert.deepEqual(r.out, [
    `bad.yaml#2: spec.file.matchPaths[0].path: must be an absolute path that does not end in '/': "etc/shadow"`,
    // every problem at once: the semantic checks run on a document the schema refused too
    'bad.yaml#2: warning: spec.presets: presets are validated but not enforced yet',
    'bad.yaml#2: warning: spec.presets[0].name: unknown preset "nope"; known: anonMapExec, exec, filelessExec, protectEnv, protectProc',
    '3 documents, 1 invalid, 2 warnings',
  ]);
  assert.equal(r.code, 1);
});

test('semantic warnings are printed with the warning marker', () => {
  writeFileSync(join(dir, 'warn.yaml'), GOOD.replace('action: Block', 'action: Block\n  presets:\n  - name: nope'));
  const r = run('warn.yaml');
  assert.deepEqual(r.out, [
    'warn.yaml#1: warning: spec.presets: presets are validated but not enforced yet',
    'warn.yaml#1: warning: spec.presets[0].name: unknown preset "nope"; known: anonMapExec, exec, filelessExec, protectEnv, protectProc',
    '1 documents, 0 invalid, 2 warnings',
  ]);
  assert.equal(r.code, 0);
});

test('YAML that does not parse: the line names the YAML line; exit 1', () => {
  const r = run('broken.yaml');
  assert.equal(r.out.length, 2);
  assert.match(r.out[0] ?? '', /^broken\.yaml#2: YAML line \d+, column \d+: /);
  assert.equal(r.out[1], '2 documents, 1 invalid, 0 warnings');
  assert.equal(r.code, 1);
});

test('fromSource: left null is a warning (seen only in raw YAML)', () => {
  const r = run('null-source.yaml');
  assert.deepEqual(r.out, [
    'null-source.yaml#1: warning: spec.file.matchPaths[0].fromSource: left empty (null), so dropped: the rule applies to every source',
    '1 documents, 0 invalid, 1 warnings',
  ]);
  assert.equal(r.code, 0);
});

test('non-UTF-8 bytes are an invalid document naming the byte', () => {
  const r = run('latin1.yaml');
  assert.match(r.out[0] ?? '', /^latin1\.yaml#1: not valid UTF-8: byte 0xe9 at offset \d+ \(line 14\)$/);
  assert.equal(r.code, 1);
});

test('a path that cannot be read: exit 2, the rest still validated', () => {
  const r = run('good.yaml', 'missing.yaml');
  assert.match(r.err, /armorgate validate: cannot read missing\.yaml: no such file or folder/);
  assert.deepEqual(r.out, ['1 documents, 0 invalid, 0 warnings']);
  assert.equal(r.code, 2);
});

test('no path at all is a usage error: exit 2', () => {
  const r = run();
  assert.equal(r.code, 2);
  assert.match(r.err, /missing required argument/);
});

test('the KubeArmor corpus: 3 invalid documents', { skip: missingData('corpus') }, () => {
  const r = run(join(KUBEARMOR_DATA, 'corpus'));
  assert.match(r.out.at(-1) ?? '', /^281 documents, 3 invalid, \d+ warnings$/);
  assert.equal(r.out.filter((l) => !l.includes(': warning: ') && !/^\d+ documents/.test(l)).length, 4, 'four error lines in three files');
  assert.equal(r.code, 1);
});

test('paths the rules never meet: "//" warns with the canonical form, ".." and a path past the kernel buffer are errors (issue 15)', () => {
  writeFileSync(join(dir, 'paths.yaml'), `${GOOD.replace('/etc/shadow', '/etc//shadow')}---\n${GOOD.replace('/etc/shadow', '/etc/ssl/../passwd')}---\n${GOOD.replace('/etc/shadow', '/a/' + '\u4e2d'.repeat(180))}`);
  const r = run('paths.yaml');
  assert.deepEqual(r.out, [
    'paths.yaml#1: warning: spec.file.matchPaths[0].path: not canonical: enforced as "/etc/shadow"',
    'paths.yaml#2: spec.file.matchPaths[0].path: has a ".." component: refused (symlinks make it ambiguous); name the path itself',
    'paths.yaml#3: spec.file.matchPaths[0].path: path of 543 bytes: the kernel\'s limit is 509 (AG_PATH_MAX)',
    '3 documents, 2 invalid, 1 warnings',
  ]);
  assert.equal(r.code, 1);
});

test('- reads standard input; -o json prints one object of findings and counts (CI pipelines)', () => {
  const bad = GOOD.replace('action: Block', 'action: Deny');
  const stdin = spawnSync(process.execPath, [BIN, 'validate', '-'], { cwd: dir, input: GOOD, encoding: 'utf8', timeout: 60_000 });
  assert.equal(stdin.status, 0);
  assert.equal(stdin.stdout.trim(), '1 documents, 0 invalid, 0 warnings');
  const r = spawnSync(process.execPath, [BIN, 'validate', '-o', 'json', '-', 'good.yaml'], { cwd: dir, input: bad, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1);
  const out = JSON.parse(r.stdout) as { documents: number; invalid: number; warnings: number; findings: { file: string; document: number; level: string; path: string; message: string }[]; unreadable: string[] };
  assert.equal(out.documents, 2);
  assert.equal(out.invalid, 1);
  assert.equal(out.findings.length, 1);
  assert.equal(out.findings[0]?.file, '-');
  assert.equal(out.findings[0]?.document, 1);
  assert.equal(out.findings[0]?.level, 'error');
  assert.equal(out.findings[0]?.path, 'spec.action');
  assert.deepEqual(out.unreadable, []);
  const usage = spawnSync(process.execPath, [BIN, 'validate', '-o', 'xml', 'good.yaml'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  assert.equal(usage.status, 2);
});
