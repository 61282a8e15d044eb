// Live binding end to end: the real `armorgate webhook` process against the test API server
// (devtools/apiserver.ts). Policies, namespaces and pods change; the right running pods, and
// only them, are re-annotated with what admission would write; nothing is written once
// settled; faults (API server away, 410, 409, a pod deleted while patched) lose nothing; the
// Lease elects one writer and a killed leader's rebind is finished by the other replica.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { TestApiServer, type K8sObject } from '../support/apiserver.ts';
import { waitFor } from '../support/wait.ts';
import { makeSelfSigned } from '../../webhook/selfsigned.ts';
import { decodeProfileAnnotation } from '../../policy/profile-codec.ts';
import { keyId, signingKeyFromBytes, signProfile, verifyAnnotations } from '../../policy/sign.ts';
import { policy, podReview, realisticPod } from './fixtures.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');
const PODS = '/api/v1/pods';
const NAMESPACES = '/api/v1/namespaces';
const KSP = '/apis/security.kubearmor.com/v1/kubearmorpolicies';
const CSP = '/apis/security.kubearmor.com/v1/kubearmorclusterpolicies';
const HSP = '/apis/security.kubearmor.com/v1/kubearmorhostpolicies';
const LEASES = '/apis/coordination.k8s.io/v1/leases';
const AG = 'armorgate.io/';

async function cluster(): Promise<TestApiServer> {
  const api = await TestApiServer.start();
  api.resource(NAMESPACES, { kind: 'Namespace', apiVersion: 'v1', namespaced: false });
  api.resource(PODS, { kind: 'Pod', apiVersion: 'v1', namespaced: true });
  api.resource(KSP, { kind: 'KubeArmorPolicy', apiVersion: 'security.kubearmor.com/v1', namespaced: true, statusSubresource: true });
  api.resource(CSP, { kind: 'KubeArmorClusterPolicy', apiVersion: 'security.kubearmor.com/v1', namespaced: false, statusSubresource: true });
  api.resource(HSP, { kind: 'KubeArmorHostPolicy', apiVersion: 'security.kubearmor.com/v1', namespaced: false, statusSubresource: true });
  api.resource(LEASES, { kind: 'Lease', apiVersion: 'coordination.k8s.io/v1', namespaced: true });
  return api;
}

function pod(ns: string, name: string, labels: Record<string, string>, annotations: Record<string, string> = {}): K8sObject {
  const p = realisticPod(ns, labels, annotations) as unknown as K8sObject;
  p.metadata.name = name;
  return p;
}

const ours = (o: K8sObject | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries((o?.metadata.annotations ?? {}) as Record<string, string>).filter(([k]) => k.startsWith(AG)));
const noTrace = (a: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(a).filter(([k]) => k !== `${AG}traceparent`));
const get = (api: TestApiServer, list: string, ns: string | undefined, name: string): K8sObject | undefined =>
  api.objects(list).find((o) => o.metadata.name === name && (ns === undefined || o.metadata.namespace === ns));

interface Hook { child: ChildProcess; logs: Record<string, unknown>[]; exited: Promise<number | null>; port: number; certDir: string }

function files(key = crypto.randomBytes(32).toString('hex')): { dir: string; keyFile: string; certDir: string; key: Uint8Array } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-live-'));
  const certDir = path.join(dir, 'tls');
  fs.mkdirSync(certDir);
  const pair = makeSelfSigned(['localhost', '127.0.0.1']);
  fs.writeFileSync(path.join(certDir, 'tls.crt'), pair.cert);
  fs.writeFileSync(path.join(certDir, 'tls.key'), pair.key);
  const keyFile = path.join(dir, 'key');
  fs.writeFileSync(keyFile, key);
  const k = signingKeyFromBytes(Buffer.from(key));
  assert.ok(k.ok);
  return { dir, keyFile, certDir, key: k.value };
}

async function startHook(api: TestApiServer, token: string, f: { dir: string; keyFile: string; certDir: string }, extra: string[] = []): Promise<Hook> {
  const kc = path.join(f.dir, `kubeconfig-${token}.json`);
  fs.writeFileSync(kc, api.kubeConfig(token).exportConfig());
  const child = spawn(process.execPath, ['bin/armorgate.js', 'webhook', '--kubeconfig', kc, '--tls-cert-dir', f.certDir, '--signing-key-file', f.keyFile,
    '--port', '0', '--metrics-port=-1', '--shutdown-grace', '2', '--leader-elect-lease-namespace', 'armorgate',
    '--leader-elect-lease-duration', '2', '--leader-elect-renew-deadline', '1.5', '--leader-elect-retry-period', '0.3', ...extra],
  { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_TRACES_EXPORTER: 'none', POD_NAME: token } });
  const logs: Record<string, unknown>[] = [];
  createInterface(child.stderr!).on('line', (l) => { try { logs.push(JSON.parse(l) as Record<string, unknown>); } catch { logs.push({ msg: l }); } });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitFor(() => logs.some((l) => l.msg === 'webhook listening') || child.exitCode !== null, 'the listening log', 30_000);
  const listening = logs.find((l) => l.msg === 'webhook listening');
  assert.ok(listening, `the webhook started: ${JSON.stringify(logs.slice(-5))}`);
  return { child, logs, exited, port: listening.port as number, certDir: f.certDir };
}

async function stopHook(h: Hook): Promise<void> {
  if (h.child.exitCode === null && h.child.signalCode === null) h.child.kill('SIGTERM');
  await h.exited;
}

/** The webhook's answer to a CREATE review of this pod at `endpoint`. */
async function reviewed(h: Hook, endpoint: '/mutate-pod' | '/validate-pod', p: K8sObject): Promise<{ allowed: boolean; patch?: string; status?: { message?: string } }> {
  const body = Buffer.from(JSON.stringify(podReview('CREATE', p as never)));
  const ca = fs.readFileSync(path.join(h.certDir, 'tls.crt'));
  const text = await new Promise<string>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: h.port, path: endpoint, method: 'POST', ca, servername: 'localhost', agent: false, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      let t = '';
      res.on('data', (c: Buffer) => { t += c.toString(); });
      res.on('end', () => resolve(t));
    });
    req.on('error', reject);
    req.end(body);
  });
  return (JSON.parse(text) as { response: { allowed: boolean; patch?: string; status?: { message?: string } } }).response;
}

/** What /mutate-pod answers for this pod: its armorgate.io/* annotations after the patch. */
async function admitted(h: Hook, p: K8sObject): Promise<Record<string, string>> {
  const r = { response: await reviewed(h, '/mutate-pod', p) };
  const ops = JSON.parse(Buffer.from(r.response.patch ?? '', 'base64').toString() || '[]') as { op: string; path: string; value?: unknown }[];
  const out: Record<string, string> = {};
  for (const op of ops) {
    if (op.path === '/metadata/annotations') Object.assign(out, op.value as Record<string, string>);
    else if (op.path.startsWith('/metadata/annotations/') && op.op !== 'remove') out[op.path.slice('/metadata/annotations/'.length).replace(/~1/g, '/').replace(/~0/g, '~')] = String(op.value);
  }
  return ours({ metadata: { name: '', annotations: out } });
}

/** The visibility kinds in a pod's armorgate.io/profile (undefined: none asked). */
function visibilityOf(o: K8sObject | undefined): unknown {
  const d = decodeProfileAnnotation(ours(o)[`${AG}profile`] ?? '');
  assert.ok(d.ok, d.ok ? '' : d.error.message);
  return d.value.profile.visibility;
}

const patchesBy = (api: TestApiServer, token: string): number => api.requests.filter((r) => r.verb === 'patch' && r.listPath === PODS && r.token === token).length;
/** The most requests the log holds in any window of `ms` (a window starting at each request). */
function busiestWindow(times: number[], ms: number): number {
  const t = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < t.length; i++) { while (t[j]! < t[i]! - ms) j++; most = Math.max(most, i - j + 1); }
  return most;
}
const podPatches = (api: TestApiServer): number => api.verbs(PODS).patch;

test('live binding: policy, namespace (posture, visibility) and label changes reach exactly the right running pods; settled means no writes; faults lose nothing', { timeout: 120_000 }, async () => {
  const api = await cluster();
  const f = files();
  api.create(NAMESPACES, { metadata: { name: 'app' } });
  api.create(NAMESPACES, { metadata: { name: 'other' } });
  api.create(NAMESPACES, { metadata: { name: 'open', annotations: { 'armorgate.io/allow-opt-out': 'true' } } });
  // pods that exist before the webhook starts (installed late, or admitted while it was down)
  api.create(PODS, pod('app', 'web-1', { app: 'web' }));
  api.create(PODS, pod('app', 'db-1', { app: 'db' }));
  api.create(PODS, pod('other', 'web-2', { app: 'web' }));
  api.create(PODS, pod('open', 'quiet', { app: 'web' }, { 'kubearmor-policy': 'disabled' }));
  let hook: Hook | null = null;
  try {
    hook = await startHook(api, 'replica-a', f);
    const h = hook;
    // every pod present at start-up is annotated (the opted-out one stays bare)
    await waitFor(() => ['web-1', 'db-1', 'web-2'].every((n) => ours(get(api, PODS, undefined, n))[`${AG}profile-signature`] !== undefined), 'pods present at start-up annotated', 30_000);
    for (const n of ['web-1', 'db-1', 'web-2']) {
      const p = get(api, PODS, undefined, n)!;
      const v = verifyAnnotations(p.metadata.annotations as Record<string, string>, p.metadata.namespace!, f.key);
      assert.ok(v.ok, `${n} verifies`);
      assert.equal(ours(p)[`${AG}policies`], '', `${n}: no policy yet`);
      assert.match(ours(p)[`${AG}traceparent`] ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    }
    assert.deepEqual(ours(get(api, PODS, 'open', 'quiet')), {}, 'an honoured opt-out stays without annotations');
    // one source of truth: what the reconciler wrote is what admission answers for the same pod
    const web1 = get(api, PODS, 'app', 'web-1')!;
    assert.deepEqual(noTrace(ours(web1)), noTrace(await admitted(h, pod('app', 'web-1', { app: 'web' }))));

    // a new Block policy for app=web in `app`: web-1 only
    const rvs = (): Record<string, string> => Object.fromEntries(api.objects(PODS).map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p.metadata.resourceVersion!]));
    let before = rvs();
    api.create(KSP, policy('block-shadow', 'app', { selector: { matchLabels: { app: 'web' } }, file: { matchPaths: [{ path: '/etc/shadow' }] }, action: 'Block' }) as unknown as K8sObject);
    await waitFor(() => /app\/block-shadow@1/.test(ours(get(api, PODS, 'app', 'web-1'))[`${AG}policies`] ?? ''), 'web-1 bound to the new policy', 15_000);
    await waitFor(() => (get(api, KSP, 'app', 'block-shadow')?.status as { boundPods?: number } | undefined)?.boundPods === 1, 'the policy status counts 1 pod', 15_000);
    let after = rvs();
    for (const k of ['app/db-1', 'other/web-2', 'open/quiet']) assert.equal(after[k], before[k], `${k} not written`);
    assert.ok(verifyAnnotations(get(api, PODS, 'app', 'web-1')!.metadata.annotations as Record<string, string>, 'app', f.key).ok);
    assert.deepEqual(noTrace(ours(get(api, PODS, 'app', 'web-1'))), noTrace(await admitted(h, pod('app', 'web-1', { app: 'web' }))), 'the rebound pod carries what admission writes now');

    // settled: no writes
    const settled = podPatches(api);
    const statusWrites = api.verbs(KSP).patch;
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(podPatches(api), settled, 'no pod patch once settled');
    assert.equal(api.verbs(KSP).patch, statusWrites, `no status write once settled ${JSON.stringify(h.logs.filter((l) => l.msg === 'policy status written'))}`);

    // a pod's labels change: db-1 becomes web and is bound; nobody else is written
    before = rvs();
    const db = get(api, PODS, 'app', 'db-1')!;
    api.update(PODS, { ...db, metadata: { ...db.metadata, labels: { app: 'web' } } });
    await waitFor(() => /block-shadow/.test(ours(get(api, PODS, 'app', 'db-1'))[`${AG}policies`] ?? ''), 'db-1 bound after its label change', 15_000);
    after = rvs();
    for (const k of ['app/web-1', 'other/web-2']) assert.equal(after[k], before[k], `${k} not written`);
    await waitFor(() => (get(api, KSP, 'app', 'block-shadow')?.status as { boundPods?: number } | undefined)?.boundPods === 2, 'status counts 2', 15_000);

    // the namespace's posture changes: its pods only
    before = rvs();
    api.update(NAMESPACES, { metadata: { name: 'app', annotations: { 'kubearmor-file-posture': 'block' } } });
    await waitFor(() => /file=block/.test(ours(get(api, PODS, 'app', 'web-1'))[`${AG}posture`] ?? '') && /file=block/.test(ours(get(api, PODS, 'app', 'db-1'))[`${AG}posture`] ?? ''), 'posture reached app pods', 15_000);
    after = rvs();
    assert.equal(after['other/web-2'], before['other/web-2'], 'other/web-2 not written');

    // visibility: a namespace's kubearmor-visibility reaches its running pods' signed profiles, and only theirs
    before = rvs();
    assert.equal(visibilityOf(get(api, PODS, 'other', 'web-2')), undefined, 'no visibility asked yet');
    api.update(NAMESPACES, { metadata: { name: 'other', annotations: { 'kubearmor-visibility': 'process,file' } } });
    await waitFor(() => JSON.stringify(visibilityOf(get(api, PODS, 'other', 'web-2'))) === '["file","process"]', 'the namespace\'s visibility reached web-2\'s profile', 15_000);
    assert.ok(verifyAnnotations(get(api, PODS, 'other', 'web-2')!.metadata.annotations as Record<string, string>, 'other', f.key).ok, 'and it is signed');
    after = rvs();
    for (const k of ['app/web-1', 'app/db-1']) assert.equal(after[k], before[k], `${k} not written`);
    // admission: the namespace's for a new pod; the pod's own annotation over it
    assert.deepEqual(visibilityOf({ metadata: { name: '', annotations: await admitted(h, pod('other', 'web-3', { app: 'web' })) } }), ['file', 'process']);
    assert.deepEqual(visibilityOf({ metadata: { name: '', annotations: await admitted(h, pod('other', 'web-4', { app: 'web' }, { 'kubearmor-visibility': 'network' })) } }), ['network']);
    assert.equal(visibilityOf({ metadata: { name: '', annotations: await admitted(h, pod('app', 'web-5', { app: 'web' })) } }), undefined, 'a namespace without the annotation: none (the default)');

    // a policy that fails validation (created behind the validating webhook's back) never reaches a pod
    before = rvs();
    api.create(CSP, policy('broken', null, { selector: { matchLabels: { app: 'web' } }, file: { matchPaths: [{ path: 'relative/path' }] }, action: 'Block' }) as unknown as K8sObject);
    await waitFor(() => (get(api, CSP, undefined, 'broken')?.status as { status?: string } | undefined)?.status === 'Invalid', 'the invalid policy\'s status says so', 15_000);
    assert.deepEqual(rvs(), before, 'no pod written for an invalid policy');

    // a host policy binds nodes, not pods: no pod is written, and its status says so
    api.create(HSP, policy('node-shadow', null, { nodeSelector: { matchLabels: { 'kubernetes.io/hostname': 'n1' } }, file: { matchPaths: [{ path: '/etc/shadow' }] }, action: 'Block' }, 'KubeArmorHostPolicy') as unknown as K8sObject);
    await waitFor(() => (get(api, HSP, undefined, 'node-shadow')?.status as { status?: string } | undefined)?.status === 'Unbound', 'the host policy\'s status', 15_000);
    const hostStatus = get(api, HSP, undefined, 'node-shadow')!.status as { boundPods?: number; message?: string; warnings?: string[] };
    assert.equal(hostStatus.boundPods, 0);
    assert.match(hostStatus.message ?? '', /binds nodes, not pods/);
    assert.match((hostStatus.warnings ?? []).join(' '), /host policies are validated but not enforced yet/);
    assert.deepEqual(rvs(), before, 'no pod written for a host policy');

    // faults: 409 twice, then a 404 (the pod deleted while being patched), then the API server away
    api.failWrites('patch', PODS, 409, 2);
    const conflictsBefore = api.requests.length;
    api.create(KSP, policy('no-raw', 'app', { selector: { matchLabels: { app: 'web' } }, network: { matchProtocols: [{ protocol: 'raw' }] }, action: 'Block' }) as unknown as K8sObject);
    await waitFor(() => ['web-1', 'db-1'].every((n) => /no-raw/.test(ours(get(api, PODS, 'app', n))[`${AG}policies`] ?? '')), 'conflicts retried; both web pods of app bound', 20_000);
    assert.ok(api.requests.slice(conflictsBefore).filter((r) => r.verb === 'patch' && r.listPath === PODS).length >= 4, 'the two conflicts were retried (2 pods, 2 conflicts)');
    api.failWrites('patch', PODS, 404, 1);
    api.remove(KSP, 'app', 'no-raw');
    await waitFor(() => ['web-1', 'db-1'].some((n) => !/no-raw/.test(ours(get(api, PODS, 'app', n))[`${AG}policies`] ?? '')), 'the deleted policy removed from the pod the 404 spared', 20_000);
    assert.ok(!h.logs.some((l) => l.level === 50 && /patch/.test(String(l.msg))), 'a pod gone while patched is no error');
    // the API server goes away; a policy is deleted meanwhile; it comes back; history is also compacted (410)
    api.setDown(true);
    api.remove(KSP, 'app', 'block-shadow');
    api.expire(undefined, 'event');
    await new Promise((r) => setTimeout(r, 1500));
    api.setDown(false);
    await waitFor(() => ['web-1', 'db-1'].every((n) => ours(get(api, PODS, 'app', n))[`${AG}policies`] === ''), 'the deletion made while the API server was away reached the pods (and the pod the 404 spared is caught up)', 40_000);
    for (const p of api.objects(PODS).filter((x) => x.metadata.name !== 'quiet')) {
      assert.ok(verifyAnnotations(p.metadata.annotations as Record<string, string>, p.metadata.namespace!, f.key).ok, `${p.metadata.name} verifies`);
    }
    // leader: this replica holds the lease
    assert.equal((get(api, LEASES, 'armorgate', 'armorgate-webhook')?.spec as { holderIdentity?: string } | undefined)?.holderIdentity, 'replica-a');
    assert.ok(h.logs.some((l) => l.msg === 'reconcile batch'), 'progress logged per batch');
  } finally {
    if (hook !== null) await stopHook(hook);
    await api.stop();
  }
});

test('live binding: one writer through the Lease; a leader killed mid-rebind leaves the other to finish; a new key re-signs every pod', { timeout: 120_000 }, async () => {
  const api = await cluster();
  const f = files();
  api.create(NAMESPACES, { metadata: { name: 'app' } });
  const N = 40;
  for (let i = 0; i < N; i++) api.create(PODS, pod('app', `web-${i}`, { app: 'web' }));
  const hooks: Hook[] = [];
  try {
    // a slow rate so that the rebind is still under way when the leader dies
    const slow = ['--reconcile-rate', '8', '--reconcile-burst', '1'];
    hooks.push(await startHook(api, 'replica-a', f, slow));
    await waitFor(() => (get(api, LEASES, 'armorgate', 'armorgate-webhook')?.spec as { holderIdentity?: string } | undefined)?.holderIdentity === 'replica-a', 'replica-a leads', 15_000);
    hooks.push(await startHook(api, 'replica-b', f, slow));
    await waitFor(() => api.objects(PODS).every((p) => ours(p)[`${AG}profile-signature`] !== undefined), 'all pods annotated', 60_000);
    assert.equal(patchesBy(api, 'replica-b'), 0, 'the replica that does not lead patches nothing');
    assert.ok(patchesBy(api, 'replica-a') >= N);
    // the pace, as the API server saw it: at --reconcile-rate 8 and --reconcile-burst 1, any one
    // second holds at most 8 + 1 writes (pod patches and status writes share the bucket); a
    // generous bound (+3: one patch under way, arrival jitter) that only a broken pace passes
    const writes = api.requests.filter((r) => r.verb === 'patch' && r.token === 'replica-a').map((r) => r.at);
    const busiest = busiestWindow(writes, 1000);
    assert.ok(busiest <= 8 + 1 + 3, `at most 12 writes in any second, saw ${busiest}`);
    const span = Math.max(...writes) - Math.min(...writes);
    assert.ok(span >= ((N - 1 - 1) / 8) * 1000 * 0.8, `${N} pods at 8/s take about ${N / 8} s: ${Math.round(span)} ms`);

    api.create(KSP, policy('block-shadow', 'app', { selector: { matchLabels: { app: 'web' } }, file: { matchPaths: [{ path: '/etc/shadow' }] }, action: 'Block' }) as unknown as K8sObject);
    const bound = (): number => api.objects(PODS).filter((p) => /block-shadow/.test(ours(p)[`${AG}policies`] ?? '')).length;
    await waitFor(() => bound() >= 3, 'the rebind has started', 20_000);
    hooks[0]!.child.kill('SIGKILL');
    await hooks[0]!.exited;
    const byA = patchesBy(api, 'replica-a');
    await waitFor(() => bound() === N, 'the other replica finished the rebind', 60_000);
    assert.equal(patchesBy(api, 'replica-a'), byA);
    assert.ok(patchesBy(api, 'replica-b') > 0, 'replica-b patched after taking over');
    assert.equal((get(api, LEASES, 'armorgate', 'armorgate-webhook')?.spec as { holderIdentity?: string } | undefined)?.holderIdentity, 'replica-b');
    await stopHook(hooks[1]!);
    // SIGTERM released the lease
    assert.equal((get(api, LEASES, 'armorgate', 'armorgate-webhook')?.spec as { holderIdentity?: string } | undefined)?.holderIdentity, '');

    // a new signing key: every desired signature differs, so every pod is re-signed
    const g = files();
    hooks.push(await startHook(api, 'replica-c', { ...g }, ['--reconcile-rate', '200', '--reconcile-burst', '50']));
    await waitFor(() => api.objects(PODS).every((p) => verifyAnnotations(p.metadata.annotations as Record<string, string>, 'app', g.key).ok), 'every pod re-signed with the new key', 30_000);
  } finally {
    for (const h of hooks) await stopHook(h);
    await api.stop();
  }
});

test('live binding: the three-step key rotation of docs/install.md, end to end: nothing refused, every pod re-signed, the old key refused at the end', { timeout: 120_000 }, async () => {
  const api = await cluster();
  const oldKey = files(), newKey = files();
  api.create(NAMESPACES, { metadata: { name: 'app' } });
  api.create(KSP, policy('block-shadow', 'app', { selector: { matchLabels: { app: 'web' } }, file: { matchPaths: [{ path: '/etc/shadow' }] }, action: 'Block' }) as unknown as K8sObject);
  for (let i = 0; i < 6; i++) api.create(PODS, pod('app', `web-${i}`, { app: i % 2 === 0 ? 'web' : 'db' }));
  const signedBy = (key: Uint8Array): boolean => api.objects(PODS).every((p) => verifyAnnotations(p.metadata.annotations as Record<string, string>, 'app', key).ok);
  const keyIds = (): string[] => [...new Set(api.objects(PODS).map((p) => ours(p)[`${AG}profile-signature`]!.split(':')[1]!))];
  /** A pod carrying what a replica signing with `key` writes for it (the other replicas of a rollout). */
  const signedWith = async (h: Hook, key: Uint8Array): Promise<K8sObject> => {
    const fresh = pod('app', 'new', { app: 'web' });
    const a = await admitted(h, fresh);
    fresh.metadata.annotations = { ...a, [`${AG}profile-signature`]: signProfile(key, 'app', a[`${AG}profile-digest`]!) };
    return fresh;
  };
  const steady = async (what: string): Promise<void> => {
    const before = podPatches(api);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(podPatches(api), before, `${what}: no pod written`);
  };
  const fast = ['--reconcile-rate', '200', '--reconcile-burst', '50'];
  let h: Hook | null = null;
  try {
    // before: one key; every pod signed with it
    h = await startHook(api, 'step-0', oldKey, fast);
    await waitFor(() => api.objects(PODS).every((p) => ours(p)[`${AG}profile-signature`] !== undefined) && signedBy(oldKey.key), 'every pod signed with the old key', 30_000);
    await stopHook(h);
    // 1. everyone learns the new key (previous = next.key): pods keep the old key's signature;
    //    a pod signed with the new key (by a replica already at step 2) is accepted
    h = await startHook(api, 'step-1', oldKey, [...fast, '--previous-signing-key-file', newKey.keyFile]);
    await steady('step 1');
    assert.deepEqual(keyIds(), [keyId(oldKey.key)]);
    let r = await reviewed(h, '/validate-pod', await signedWith(h, newKey.key));
    assert.equal(r.allowed, true, `step 1 accepts the new key: ${r.status?.message}`);
    await stopHook(h);
    // 2. the gateway signs with the new key (previous = the old one): every running pod is
    //    re-signed; a pod signed with the old key (by a replica still at step 1) is accepted
    h = await startHook(api, 'step-2', newKey, [...fast, '--previous-signing-key-file', oldKey.keyFile]);
    await waitFor(() => signedBy(newKey.key), 'every pod re-signed with the new key', 30_000);
    assert.deepEqual(keyIds(), [keyId(newKey.key)], 'no pod still carries the old key\'s id (the check docs/install.md gives)');
    r = await reviewed(h, '/validate-pod', await signedWith(h, oldKey.key));
    assert.equal(r.allowed, true, `step 2 accepts the old key: ${r.status?.message}`);
    await steady('step 2, settled');
    await stopHook(h);
    // 3. the old key is dropped: nothing to re-sign; a pod signed with it is refused
    h = await startHook(api, 'step-3', newKey, fast);
    await steady('step 3');
    assert.ok(signedBy(newKey.key));
    r = await reviewed(h, '/validate-pod', await signedWith(h, oldKey.key));
    assert.equal(r.allowed, false);
    assert.match(r.status?.message ?? '', /armorgate\.io\/profile-signature \(differs\)/);
    r = await reviewed(h, '/validate-pod', await signedWith(h, newKey.key));
    assert.equal(r.allowed, true, `step 3 accepts the new key: ${r.status?.message}`);
  } finally {
    if (h !== null) await stopHook(h);
    await api.stop();
  }
});

test('live binding flags: a bad rate, burst, lease timing or body read timeout is a usage error naming the flag', async () => {
  const { spawnSync } = await import('node:child_process');
  const run = (...extra: string[]): { status: number | null; stderr: string } => {
    const r = spawnSync(process.execPath, ['bin/armorgate.js', 'webhook', '--kubeconfig', '/nonexistent', ...extra], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stderr: r.stderr };
  };
  let r = run('--reconcile-rate', '0');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--reconcile-rate must be a positive number/);
  r = run('--reconcile-burst', '1.5');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--reconcile-burst must be a whole number/);
  r = run('--body-read-timeout', '0');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--body-read-timeout must be a positive number of seconds/);
  r = run('--leader-elect-renew-deadline', '20');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /retry period < renew deadline < lease duration/);
});
