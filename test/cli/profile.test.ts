// `armorgate profile` through the real command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyAnnotations } from '../../policy/sign.ts';
import { decodeProfileAnnotation } from '../../policy/profile-codec.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'armorgate.js');
const EX = join(ROOT, 'examples');

interface Run { code: number | null; stdout: string; stderr: string }
function armorgate(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'profile', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'armorgate-profile-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const KEY = 'a-shared-signing-key-for-tests-0123456789';
const keyFile = join(dir, 'key');
writeFileSync(keyFile, KEY + '\n');
const shortKeyFile = join(dir, 'short-key');
writeFileSync(shortKeyFile, 'too-short\n');
const base = ['--pod', join(EX, 'pod.yaml'), '--policies', join(EX, 'policies'), '--namespace', join(EX, 'namespace.yaml')];

test('examples: prints the signed annotations the webhook would add', async () => {
  const r = await armorgate(...base, '--signing-key-file', keyFile);
  assert.equal(r.code, 0, r.stderr);
  const ann = JSON.parse(r.stdout) as Record<string, string>;
  assert.deepEqual(Object.keys(ann).sort(), ['armorgate.io/policies', 'armorgate.io/posture', 'armorgate.io/profile', 'armorgate.io/profile-digest', 'armorgate.io/profile-signature']);
  assert.equal(ann['armorgate.io/policies'], 'no-raw-sockets@0,shop/ca-certificates-read-only@0,shop/no-package-managers@0,shop/service-account-token-one-reader@0');
  assert.equal(ann['armorgate.io/posture'], 'file=audit,network=block,capabilities=audit,process=audit');
  const v = verifyAnnotations(ann, 'shop', Buffer.from(KEY));
  assert.ok(v.ok, JSON.stringify(v));
  if (!v.ok) return;
  const p = v.value.profile;
  assert.deepEqual(p.process.map((x) => x.target), [{ type: 'execname', name: 'apt' }, { type: 'execname', name: 'apt-get' }, { type: 'execname', name: 'dpkg' }]);
  assert.deepEqual(p.network.map((x) => [x.action, x.target]), [['Block', { type: 'protocol', protocol: 'raw' }]]);
  const token = p.file.filter((x) => x.policies.includes('shop/service-account-token-one-reader'));
  assert.equal(token.length, 4);
  assert.ok(token.every((x) => x.containers.join() === 'web'));
  assert.deepEqual(token.filter((x) => x.action === 'Allow').map((x) => x.fromSource), ['/usr/bin/cat', '/usr/bin/cat']);
  assert.equal(p.file.filter((x) => x.readOnly && x.action === 'Block').length, 3);
});

test('--output pod: the whole pod with the annotations applied; no key: no signature, said on stderr', async () => {
  const r = await armorgate(...base, '--output', 'pod', '--default-posture', 'network=audit');
  assert.equal(r.code, 0, r.stderr);
  const pod = JSON.parse(r.stdout) as { kind: string; metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> }; spec: { containers: unknown[] } };
  assert.equal(pod.kind, 'Pod');
  assert.equal(pod.metadata.name, 'web');
  assert.equal(pod.metadata.labels['app'], 'web');
  assert.equal(pod.spec.containers.length, 2);
  assert.equal(pod.metadata.annotations['armorgate.io/profile-signature'], undefined);
  assert.match(pod.metadata.annotations['armorgate.io/profile-digest']!, /^sha256:/);
  assert.ok(decodeProfileAnnotation(pod.metadata.annotations['armorgate.io/profile']!).ok);
  assert.match(r.stderr, /no --signing-key-file.*signature/);
});

test('default posture and opt-out come from the flags and the namespace', async () => {
  const ns = join(dir, 'ns.yaml');
  writeFileSync(ns, 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations:\n    armorgate.io/allow-opt-out: "true"\n');
  const podFile = join(dir, 'pod.yaml');
  writeFileSync(podFile, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  namespace: shop\n  labels: {app: web}\n  annotations:\n    kubearmor-policy: disabled\nspec:\n  containers: [{name: web, image: x}]\n');
  const out = await armorgate('--pod', podFile, '--policies', join(EX, 'policies'), '--namespace', ns);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), {});
  assert.match(out.stderr, /opted out/);
  const noNs = await armorgate('--pod', podFile, '--policies', join(EX, 'policies'), '--default-posture', 'file=block,network=audit');
  assert.equal(noNs.code, 0, noNs.stderr);
  const ann = JSON.parse(noNs.stdout) as Record<string, string>;
  assert.equal(ann['armorgate.io/posture'], 'file=block,network=audit,capabilities=audit,process=block');
  assert.match(noNs.stderr, /warning: pod annotation kubearmor-policy: disabled is ignored/);
});

test('visibility: the namespace\'s kubearmor-visibility, the pod\'s over it, --default-visibility when neither says; in the signed profile', async () => {
  const ns = join(dir, 'ns-visibility.yaml');
  writeFileSync(ns, 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations:\n    kubearmor-visibility: process,file,dns\n');
  const plainNs = join(dir, 'ns-plain.yaml');
  writeFileSync(plainNs, 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n');
  const podFile = (name: string, annotations = ''): string => {
    const f = join(dir, `${name}.yaml`);
    writeFileSync(f, `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: shop\n  labels: {app: web}\n${annotations}spec:\n  containers: [{name: web, image: x}]\n`);
    return f;
  };
  const visibility = async (...args: string[]): Promise<{ kinds: unknown; stderr: string }> => {
    const r = await armorgate(...args, '--policies', join(EX, 'policies'), '--signing-key-file', keyFile);
    assert.equal(r.code, 0, r.stderr);
    const ann = JSON.parse(r.stdout) as Record<string, string>;
    const v = verifyAnnotations(ann, 'shop', Buffer.from(KEY));
    assert.ok(v.ok, JSON.stringify(v));
    return { kinds: v.ok ? v.value.profile.visibility : null, stderr: r.stderr };
  };
  const fromNs = await visibility('--pod', podFile('v1'), '--namespace', ns);
  assert.deepEqual(fromNs.kinds, ['file', 'process'], 'the namespace\'s annotation');
  assert.match(fromNs.stderr, /namespace shop: annotation kubearmor-visibility: 'dns' is not one of/, 'a word ArmorGate does not log is a warning');
  assert.deepEqual((await visibility('--pod', podFile('v2', '  annotations:\n    kubearmor-visibility: network\n'), '--namespace', ns)).kinds, ['network'], 'the pod\'s over the namespace\'s');
  assert.deepEqual((await visibility('--pod', podFile('v3', '  annotations:\n    kubearmor-visibility: none\n'), '--namespace', ns)).kinds, undefined, 'none: not in the profile');
  assert.deepEqual((await visibility('--pod', podFile('v4'), '--namespace', plainNs, '--default-visibility', 'process,network')).kinds, ['network', 'process'], 'neither says: the default');
  assert.deepEqual((await visibility('--pod', podFile('v5'), '--namespace', plainNs)).kinds, undefined, 'the default default: none');
  const bad = await armorgate('--pod', podFile('v6'), '--policies', join(EX, 'policies'), '--default-visibility', 'process,dns');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--default-visibility: 'dns' is not/);
});

test('invalid policies are an error naming them (exit 1)', async () => {
  const bad = join(dir, 'bad');
  mkdirSync(bad);
  writeFileSync(join(bad, 'ok.yaml'), 'apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: fine, namespace: shop}\nspec:\n  process:\n    matchPaths: [{path: /bin/ls}]\n  action: Block\n');
  writeFileSync(join(bad, 'broken.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n---\napiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: broken, namespace: shop}\nspec:\n  file:\n    matchDirectories:\n    - dir: relative/\n  action: Deny\n');
  const r = await armorgate('--pod', join(EX, 'pod.yaml'), '--policies', bad);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /broken\.yaml#2: /);
  assert.match(r.stderr, /broken\.yaml#1: warning: not a KubeArmor policy/);
  assert.match(r.stderr, /1 invalid policy/);
  assert.doesNotMatch(r.stderr, /ok\.yaml/);
});

test('usage errors and unreadable paths exit 2', async () => {
  const cases: string[][] = [
    ['--policies', join(EX, 'policies')],
    ['--pod', join(EX, 'pod.yaml')],
    [...base, '--output', 'yaml'],
    [...base, '--default-posture', 'file=deny'],
    ['--pod', join(dir, 'missing.yaml'), '--policies', join(EX, 'policies')],
    ['--pod', join(EX, 'pod.yaml'), '--policies', join(dir, 'missing-folder')],
    [...base, '--signing-key-file', shortKeyFile],
  ];
  const results = await Promise.all(cases.map((c) => armorgate(...c)));
  results.forEach((r, i) => {
    assert.equal(r.code, 2, `${cases[i]!.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.ok(r.stderr.length > 0);
  });
});
