// Policy and namespace caches: ListWatch against the list/watch test server (events, 410 →
// relist, failures → restart, readiness), and the standalone folder reloaded on change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import net from 'node:net';
import { spawn } from 'node:child_process';
import type { Worker } from 'node:worker_threads';
import pino from 'pino';
import { stringify } from 'yaml';
import { folderStore, type PolicyStore } from '../../webhook/sources.ts';
import { clusterStore } from '../../webhook/cluster-store.ts';
import { TestApiServer, type K8sObject } from '../support/apiserver.ts';
import { waitFor } from '../support/wait.ts';
import { AUDIT_CURL, BLOCK_SHADOW, CLUSTER_NO_RAW, namespace, podReview, policiesDir, policy, realisticPod, startTestWebhook } from './fixtures.ts';

const NS = '/api/v1/namespaces';
const KSP = '/apis/security.kubearmor.com/v1/kubearmorpolicies';
const KCSP = '/apis/security.kubearmor.com/v1/kubearmorclusterpolicies';
const silent = pino({ level: 'silent' });

async function apiWithKinds(): Promise<TestApiServer> {
  const api = await TestApiServer.start();
  api.resource(NS, { kind: 'Namespace', apiVersion: 'v1', namespaced: false });
  api.resource(KSP, { kind: 'KubeArmorPolicy', apiVersion: 'security.kubearmor.com/v1', namespaced: true });
  api.resource(KCSP, { kind: 'KubeArmorClusterPolicy', apiVersion: 'security.kubearmor.com/v1', namespaced: false });
  return api;
}

const ids = (s: PolicyStore): string[] => s.policies().map((p) => `${p.metadata.namespace ?? ''}/${p.metadata.name}@${p.metadata.generation ?? 0}`);

test('cluster store: list, watch events, invalid policies left out, 410 → relist', async () => {
  const api = await apiWithKinds();
  api.create(NS, namespace('shop', { 'kubearmor-file-posture': 'block' }) as K8sObject);
  api.create(KSP, BLOCK_SHADOW as K8sObject);
  api.create(KCSP, CLUSTER_NO_RAW as K8sObject);
  const store = await clusterStore({ kubeconfigText: api.kubeConfig().exportConfig(), logger: silent });
  try {
    await waitFor(() => store.notSynced() === null, 'sync');
    assert.deepEqual(ids(store).sort(), ['/no-raw-sockets@1', 'shop/block-shadow@1']);
    assert.equal(store.namespace('shop')?.metadata?.annotations?.['kubearmor-file-posture'], 'block');
    await waitFor(() => api.openWatches() === 3, 'three watches');

    const v0 = store.policiesVersion();
    api.create(KSP, AUDIT_CURL as K8sObject);
    api.create(KSP, policy('broken', 'shop', { selector: {}, file: { matchPaths: [{ path: 'nope' }] }, action: 'Block' }) as K8sObject);
    await waitFor(() => ids(store).length === 3, 'the new valid policy (the broken one left out)');
    assert.ok(store.policiesVersion() > v0);
    api.update(KSP, { ...BLOCK_SHADOW, spec: { ...(BLOCK_SHADOW.spec as object), severity: 9 } } as unknown as K8sObject);
    await waitFor(() => ids(store).includes('shop/block-shadow@2'), 'generation bumped by the spec change');
    api.update(NS, namespace('shop', { 'armorgate.io/allow-opt-out': 'true' }) as K8sObject);
    await waitFor(() => store.namespace('shop')?.metadata?.annotations?.['armorgate.io/allow-opt-out'] === 'true', 'namespace update');

    const listsBefore = api.requests.filter((r) => r.path === KSP && !r.watch).length;
    api.expire();
    api.remove(KSP, 'shop', 'audit-curl');
    await waitFor(() => api.requests.filter((r) => r.path === KSP && !r.watch).length > listsBefore, 'a relist after 410');
    await waitFor(() => !ids(store).some((x) => x.includes('audit-curl')), 'the delete seen after relist');
    api.create(NS, namespace('late') as K8sObject);
    await waitFor(() => store.namespace('late') !== null, 'watching again after the relist');
  } finally { await store.close(); await api.stop(); }
});

test('cluster store: a namespace change costs what it changes (no new policy version, no revalidation); a policy change revalidates that policy only', async () => {
  const api = await apiWithKinds();
  api.create(NS, namespace('shop') as K8sObject);
  api.create(KSP, BLOCK_SHADOW as K8sObject);
  api.create(KCSP, CLUSTER_NO_RAW as K8sObject);
  const store = await clusterStore({ kubeconfigText: api.kubeConfig().exportConfig(), logger: silent });
  try {
    await waitFor(() => store.notSynced() === null && api.openWatches() === 3, 'sync and three watches');
    const v0 = store.policiesVersion();
    const before = store.policies();
    api.update(NS, namespace('shop', { 'kubearmor-file-posture': 'block' }) as K8sObject);
    api.create(NS, namespace('other') as K8sObject);
    await waitFor(() => store.namespace('other') !== null && store.namespace('shop')?.metadata?.annotations?.['kubearmor-file-posture'] === 'block', 'namespace events');
    assert.equal(store.policiesVersion(), v0, 'a namespace event leaves the policy set (and the compile cache keyed by it) alone');
    assert.equal(store.policies(), before, 'the validated policy list is the same array: nothing was revalidated');
    api.create(KSP, AUDIT_CURL as K8sObject);
    await waitFor(() => store.policies().length === 3, 'the new policy');
    assert.ok(store.policiesVersion() > v0);
    const after = store.policies();
    for (const p of before) assert.ok(after.includes(p), `${p.metadata.name}: the unchanged policy is the same validated object, not revalidated`);
    // a status write (the reconciler's) is a new object with the same spec: it keeps the
    // validation made of the old one, and leaves the policy set's version alone
    const [, watched] = store.policyObjects().find(([, o]) => o.metadata?.name === 'block-shadow')!;
    const validation = store.policyValidation(watched);
    const v1 = store.policiesVersion();
    const current = api.objects(KSP).find((o) => o.metadata.name === 'block-shadow')!;
    api.update(KSP, { ...current, status: { status: 'Bound', boundPods: 1 } });
    await waitFor(() => store.policyObjects().some(([, o]) => o.metadata?.name === 'block-shadow' && o !== watched), 'the status write seen');
    const [, rewritten] = store.policyObjects().find(([, o]) => o.metadata?.name === 'block-shadow')!;
    assert.deepEqual((rewritten as { status?: unknown }).status, { status: 'Bound', boundPods: 1 });
    assert.equal(store.policyValidation(rewritten), validation, 'the same validation result: not validated again');
    assert.equal(store.policiesVersion(), v1);
    // a spec change is validated again
    api.update(KSP, { ...current, spec: { ...(current.spec as object), severity: 3 } });
    await waitFor(() => store.policies().some((p) => p.metadata.name === 'block-shadow' && p.metadata.generation === 2), 'the spec change');
    const [, changed] = store.policyObjects().find(([, o]) => o.metadata?.name === 'block-shadow')!;
    assert.notEqual(store.policyValidation(changed), validation);
  } finally { await store.close(); await api.stop(); }
});

test('cluster store: a pod mutated just before a policy or namespace change passes /validate-pod after it (the store remembers what it replaced)', async () => {
  const api = await apiWithKinds();
  api.create(NS, namespace('shop') as K8sObject);
  api.create(KSP, BLOCK_SHADOW as K8sObject);
  const store = await clusterStore({ kubeconfigText: api.kubeConfig().exportConfig(), logger: silent });
  const w = await startTestWebhook({ store });
  try {
    await waitFor(() => store.notSynced() === null && api.openWatches() === 3, 'sync and three watches');
    const mutate = async (pod: Record<string, unknown>): Promise<Record<string, unknown>> => {
      const got = await w.post('/mutate-pod', podReview('CREATE', pod as never));
      const ops = JSON.parse(Buffer.from((got.json as { response: { patch: string } }).response.patch, 'base64').toString()) as { op: string; path: string; value: unknown }[];
      const annotations = { ...((pod.metadata as { annotations?: Record<string, string> }).annotations ?? {}) };
      for (const op of ops) if (op.path === '/metadata/annotations') Object.assign(annotations, op.value); else if (op.path.startsWith('/metadata/annotations/')) annotations[op.path.slice(22).replace(/~1/g, '/').replace(/~0/g, '~')] = String(op.value);
      return { ...pod, metadata: { ...(pod.metadata as object), annotations } };
    };
    const allowed = async (pod: Record<string, unknown>): Promise<boolean> => ((await w.post('/validate-pod', podReview('CREATE', pod as never))).json as { response: { allowed: boolean } }).response.allowed;
    const pod = await mutate(realisticPod('shop', { app: 'web', tier: 'frontend' }) as Record<string, unknown>);
    assert.equal(await allowed(pod), true);
    // a policy that binds it is created between the two calls
    const v0 = store.policiesVersion();
    api.create(KSP, AUDIT_CURL as K8sObject);
    await waitFor(() => store.policiesVersion() > v0, 'the new policy seen');
    assert.equal(store.recent?.policySets()[0]?.version, v0, 'the replaced set is remembered');
    assert.equal(await allowed(pod), true, 'mutated before the change, validated after it');
    assert.equal(await allowed(await mutate(realisticPod('shop', { app: 'web', tier: 'frontend' }) as Record<string, unknown>)), true, 'and a pod mutated now');
    // the namespace's posture changes between the two calls
    const before = await mutate(realisticPod('shop', { app: 'web' }) as Record<string, unknown>);
    api.update(NS, namespace('shop', { 'kubearmor-file-posture': 'block' }) as K8sObject);
    await waitFor(() => store.namespace('shop')?.metadata?.annotations?.['kubearmor-file-posture'] === 'block', 'the namespace change seen');
    assert.equal(store.recent?.namespaces('shop')[0]?.metadata?.annotations?.['kubearmor-file-posture'], undefined, 'the replaced object is remembered');
    assert.equal(await allowed(before), true);
    // a profile of another pod of the namespace is still refused
    const other = await mutate(realisticPod('shop', { app: 'batch' }) as Record<string, unknown>);
    const copied = { ...before, metadata: { ...(before.metadata as object), annotations: (other.metadata as { annotations: unknown }).annotations } };
    assert.equal(await allowed(copied), false);
  } finally { await w.close(); await api.stop(); }
});

test('cluster store: a failing list is retried; the webhook is ready only once synced', async () => {
  const api = await apiWithKinds();
  api.create(NS, namespace('shop') as K8sObject);
  api.create(KSP, BLOCK_SHADOW as K8sObject);
  api.failNext(KSP, 500, 2);
  const store = await clusterStore({ kubeconfigText: api.kubeConfig().exportConfig(), logger: silent });
  // the folder the helper passes only switches on the generated key and certificate; the store serves the data
  const w = await startTestWebhook({ store });
  try {
    const first = await w.get('/readyz');
    assert.equal(first.status, 503, 'not ready while the policy list fails');
    assert.match(first.text, /kubearmorpolicies/);
    await waitFor(async () => (await w.get('/readyz')).status === 200, 'ready after the retried list', 10_000);
    const got = await w.post('/mutate-pod', podReview('CREATE', realisticPod()));
    const ops = JSON.parse(Buffer.from((got.json as { response: { patch: string } }).response.patch, 'base64').toString()) as { path: string; value: unknown }[];
    assert.ok(JSON.stringify(ops).includes('shop/block-shadow@1'), 'the cached policy binds');
  } finally { await w.close(); await api.stop(); }
});

test('cluster store: a watch worker that dies is replaced; the caches serve meanwhile and the new list drops what went', async () => {
  const api = await apiWithKinds();
  api.create(NS, namespace('shop') as K8sObject);
  api.create(NS, namespace('gone-later') as K8sObject);
  api.create(KSP, BLOCK_SHADOW as K8sObject);
  const workers: Worker[] = [];
  const relists: string[] = [];
  const store = await clusterStore({ kubeconfigText: api.kubeConfig().exportConfig(), logger: silent, restartMs: 300, onWorker: (w) => workers.push(w), onRelist: (c) => relists.push(c) });
  try {
    await waitFor(() => store.notSynced() === null, 'sync');
    await waitFor(() => api.openWatches() === 3, 'three watches');
    assert.deepEqual(ids(store), ['shop/block-shadow@1']);
    assert.deepEqual(relists.sort(), ['kubearmorclusterpolicies', 'kubearmorpolicies', 'namespaces']);
    await workers[0]!.terminate(); // as a crash would end it
    // while no worker runs: the last state is served, and changes happen that only a new list can show
    assert.notEqual(store.namespace('gone-later'), null);
    assert.deepEqual(ids(store), ['shop/block-shadow@1']);
    assert.equal(store.notSynced(), null, 'still ready: the caches hold the last state, as through a watch outage');
    api.remove(NS, '', 'gone-later');
    api.remove(KSP, 'shop', 'block-shadow');
    api.create(KCSP, CLUSTER_NO_RAW as K8sObject);
    api.failNext(KSP, 500, 2); // the new worker's policy list fails twice (retried after 0.5 s, then 1 s)
    await waitFor(() => workers.length === 2, 'a second worker started');
    await waitFor(() => store.namespace('gone-later') === null, 'the second worker listed the namespaces');
    // while its namespaced-policy list still fails, the last ones are served and the store stays ready
    assert.ok(ids(store).includes('shop/block-shadow@1'), ids(store).join());
    assert.equal(store.notSynced(), null);
    await waitFor(() => ids(store).join() === '/no-raw-sockets@1', 'the second worker\'s lists replaced the policies');
    await waitFor(() => store.namespace('gone-later') === null, 'a namespace deleted while no worker ran is gone');
    assert.notEqual(store.namespace('shop'), null);
    api.create(NS, namespace('after') as K8sObject);
    await waitFor(() => store.namespace('after') !== null, 'the second worker watches');
  } finally { await store.close(); await api.stop(); }
  assert.ok(workers.every((w) => w.threadId === -1), 'every worker has exited after close');
});

test('cluster store: a replacement worker that cannot start is tried again until one can', async () => {
  const api = await apiWithKinds();
  api.create(NS, namespace('shop') as K8sObject);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'agw-kc-')), 'kubeconfig.json');
  fs.writeFileSync(file, api.kubeConfig().exportConfig());
  const workers: Worker[] = [];
  const store = await clusterStore({ kubeconfig: file, logger: silent, restartMs: 50, onWorker: (w) => workers.push(w) });
  try {
    await waitFor(() => store.notSynced() === null, 'sync');
    fs.rmSync(file);
    await workers[0]!.terminate();
    await waitFor(() => workers.length >= 4, 'replacements tried while the kubeconfig is gone', 20_000);
    assert.notEqual(store.namespace('shop'), null, 'the last state is still served');
    api.create(NS, namespace('later') as K8sObject);
    fs.writeFileSync(file, api.kubeConfig().exportConfig());
    await waitFor(() => store.namespace('later') !== null, 'a replacement started once the kubeconfig was back', 20_000);
  } finally { await store.close(); await api.stop(); }
});

test('cluster mode: a webhook that cannot listen stops its watch worker (nothing keeps the process alive)', async () => {
  const api = await apiWithKinds();
  const taken = net.createServer();
  const port = await new Promise<number>((resolve) => taken.listen(0, '127.0.0.1', () => resolve((taken.address() as net.AddressInfo).port)));
  const workers: Worker[] = [];
  const store = await clusterStore({ kubeconfigText: api.kubeConfig().exportConfig(), logger: silent, onWorker: (w) => workers.push(w) });
  try {
    await assert.rejects(startTestWebhook({ store, port }), /EADDRINUSE/);
    assert.equal(workers.length, 1);
    await waitFor(() => workers[0]!.threadId === -1, 'the worker has exited');
  } finally { taken.close(); await store.close(); await api.stop(); }
});

test('cluster store: a kubeconfig that cannot be loaded is refused at start, naming it', async () => {
  const missing = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'agw-kc-')), 'nope.yaml');
  await assert.rejects(clusterStore({ kubeconfig: missing, logger: silent }), (e: Error) => e.message.includes(missing) && /ENOENT|no such file/.test(e.message));
  await assert.rejects(clusterStore({ kubeconfigText: 'apiVersion: v1\nkind: Config\nclusters: []\n', logger: silent }), /cannot load the kubeconfig given: .*no current cluster/);
});

test('cluster mode: the thread that answers admissions never loads @kubernetes/client-node', async () => {
  const api = await apiWithKinds();
  api.create(NS, namespace('shop') as K8sObject);
  api.create(KSP, BLOCK_SHADOW as K8sObject);
  // a child process: resolve hooks (this thread only) record every module the main thread
  // loads; the webhook starts in cluster mode, syncs and answers one review
  const script = `
    import { registerHooks } from 'node:module';
    const loaded = [];
    registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); loaded.push(r.url); return r; } });
    const { startTestWebhook, podReview, realisticPod } = await import(${JSON.stringify(new URL('./fixtures.ts', import.meta.url).href)});
    const { clusterStore } = await import(${JSON.stringify(new URL('../../webhook/cluster-store.ts', import.meta.url).href)});
    const { default: pino } = await import(${JSON.stringify(import.meta.resolve('pino'))});
    const store = await clusterStore({ kubeconfigText: process.env.KC, logger: pino({ level: 'warn' }, pino.destination(2)) });
    const w = await startTestWebhook({ store });
    for (let i = 0; i < 200 && store.notSynced() !== null; i++) await new Promise((r) => setTimeout(r, 25));
    const got = await w.post('/mutate-pod', podReview('CREATE', realisticPod()));
    await w.close();
    console.log(JSON.stringify({ synced: store.notSynced() === null, patched: typeof got.json?.response?.patch === 'string', clientNode: loaded.filter((u) => u.includes('@kubernetes/client-node')), modules: loaded.length }));
  `;
  try {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'agw-main-thread-')), 'main.mjs');
    fs.writeFileSync(file, script);
    // not spawnSync: the test API server answers from this process's event loop
    const child = spawn(process.execPath, [file], { env: { ...process.env, KC: api.kubeConfig().exportConfig() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(status, 0, stderr);
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as { synced: boolean; patched: boolean; clientNode: string[]; modules: number };
    assert.equal(out.synced, true, stderr);
    assert.equal(out.patched, true, 'the pod was patched from the cluster\'s policy');
    assert.ok(out.modules > 50, `the hook saw the main thread's modules (${out.modules})`);
    assert.deepEqual(out.clientNode, []);
  } finally { await api.stop(); }
});

test('folder store: reloaded on change; invalid documents are left out', async () => {
  const dir = policiesDir([BLOCK_SHADOW, namespace('shop')]);
  let reloads = 0;
  const store = folderStore(dir, silent, () => { reloads++; }, 200);
  try {
    assert.equal(store.notSynced(), null);
    assert.deepEqual(ids(store), ['shop/block-shadow@0']);
    const v = store.policiesVersion();
    fs.writeFileSync(path.join(dir, 'more.yaml'), [AUDIT_CURL, policy('bad', 'shop', { selector: {}, action: 'Nope' }), namespace('open')].map((d) => stringify(d)).join('---\n'));
    await waitFor(() => store.policiesVersion() > v && ids(store).length === 2, 'reload with the new file');
    assert.notEqual(store.namespace('open'), null);
    // what admission compiled from until the reload is remembered (for /validate-pod)
    const remembered = store.recent?.policySets().find((p) => p.version === v);
    assert.deepEqual(remembered?.policies.map((p) => p.metadata.name), ['block-shadow']);
    assert.deepEqual(store.recent?.namespaces('open'), [null], 'the namespace did not exist');
    fs.rmSync(path.join(dir, 'policies.yaml'));
    await waitFor(() => ids(store).join() === 'shop/audit-curl@0', 'reload after a delete');
    assert.ok(reloads >= 3);
  } finally { await store.close(); }
});
