// The API pod source (client-node ListWatch) against the list/watch test server: the node's field
// selector on both list and watch, jittered backoff after errors, relist after 410 Gone (as a watch
// ERROR event and as HTTP 410), and no change lost while the API server is away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../policy/types.ts';
import { ApiPodSource } from '../../enforcer/sources/api.ts';
import type { Log } from '../../enforcer/reconciler.ts';
import { TestApiServer, type K8sObject } from '../support/apiserver.ts';

const PODS = '/api/v1/pods';
const log: Log = { info() {}, warn() {}, error() {}, debug() {} };

function pod(name: string, nodeName: string): K8sObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop' }, spec: { nodeName, containers: [{ name: 'c' }] } };
}

/** A sink that keeps the set of pods the source says exist, and what it was told. */
class Mirror {
  pods = new Map<string, Pod>();
  syncs = 0;
  sync(pods: readonly Pod[]): void {
    this.syncs++;
    this.pods = new Map(pods.map((p) => [p.metadata?.name ?? '', p]));
  }
  upsert(p: Pod): void { this.pods.set(p.metadata?.name ?? '', p); }
  remove(p: Pod): void { this.pods.delete(p.metadata?.name ?? ''); }
  names(): string[] { return [...this.pods.keys()].sort(); }
}

async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function withServer(fn: (api: TestApiServer, src: ApiPodSource, m: Mirror) => Promise<void>): Promise<void> {
  const api = await TestApiServer.start({ https: true }); // the generated API client refuses plain HTTP
  api.resource(PODS, { kind: 'Pod', apiVersion: 'v1', namespaced: true });
  // random ≈ 1: each delay is its ceiling (20, 40, 80 ms…), so the waits below are known
  const src = new ApiPodSource({ kubeConfig: api.kubeConfig(), nodeName: 'node-1', log, backoff: { initialMs: 20, maxMs: 200 }, random: () => 0.999999 });
  const m = new Mirror();
  try {
    await fn(api, src, m);
  } finally {
    await src.stop();
    await api.stop();
  }
}

test('lists and watches only this node\'s pods: the field selector is on both requests', async () => {
  await withServer(async (api, src, m) => {
    api.create(PODS, pod('mine-1', 'node-1'));
    api.create(PODS, pod('theirs-1', 'node-2'));
    await src.start(m);
    assert.deepEqual(m.names(), ['mine-1']);
    await waitFor(() => api.openWatches(PODS) === 1, 'the watch');
    api.create(PODS, pod('mine-2', 'node-1'));
    api.create(PODS, pod('theirs-2', 'node-2'));
    await waitFor(() => m.pods.has('mine-2'), 'mine-2');
    api.remove(PODS, 'shop', 'mine-1');
    await waitFor(() => !m.pods.has('mine-1'), 'mine-1 deleted');
    assert.deepEqual(m.names(), ['mine-2']);
    const reqs = api.requests.filter((r) => r.path === PODS);
    assert.ok(reqs.some((r) => !r.watch) && reqs.some((r) => r.watch));
    for (const r of reqs) assert.equal(r.query.fieldSelector, 'spec.nodeName=node-1', `${r.watch ? 'watch' : 'list'} has the selector`);
  });
});

for (const mode of ['event', 'http'] as const) {
  test(`410 Gone (${mode}) relists, and the relist removes pods deleted meanwhile`, async () => {
    await withServer(async (api, src, m) => {
      api.create(PODS, pod('a', 'node-1'));
      api.create(PODS, pod('b', 'node-1'));
      await src.start(m);
      await waitFor(() => api.openWatches(PODS) === 1, 'the watch');
      api.closeWatches(PODS);
      api.remove(PODS, 'shop', 'a'); // happens while no watch is open, then history is compacted
      api.expire(PODS, mode);
      await waitFor(() => src.stats.relists >= 1 && m.syncs >= 2, 'a relist');
      await waitFor(() => !m.pods.has('a'), 'a removed by the relist');
      assert.deepEqual(m.names(), ['b']);
      await waitFor(() => api.openWatches(PODS) === 1, 'watching again');
      api.create(PODS, pod('c', 'node-1'));
      await waitFor(() => m.pods.has('c'), 'c after the relist');
    });
  });
}

test('errors are retried with growing backoff; the first list succeeds once the server recovers', async () => {
  await withServer(async (api, src, m) => {
    api.create(PODS, pod('a', 'node-1'));
    api.failNext(PODS, 500, 3);
    const t0 = Date.now();
    await src.start(m);
    const elapsed = Date.now() - t0;
    assert.deepEqual(m.names(), ['a']);
    assert.equal(src.stats.errors, 3);
    // 20 + 40 + 80 ms of backoff at least
    assert.ok(elapsed >= 140, `waited ${elapsed} ms`);
    // a watch failure is retried too
    await waitFor(() => api.openWatches(PODS) === 1, 'the watch');
    api.failNext(PODS, 503, 2);
    api.closeWatches(PODS);
    await waitFor(() => src.stats.errors >= 5 && api.openWatches(PODS) === 1, 'watch restarted after errors');
    api.create(PODS, pod('b', 'node-1'));
    await waitFor(() => m.pods.has('b'), 'b');
  });
});

for (const expire of [false, true]) {
  test(`the API server going away and coming back loses no change (${expire ? 'history compacted meanwhile: relist' : 'resumed from the last resourceVersion'})`, async () => {
    await withServer(async (api, src, m) => {
      api.create(PODS, pod('a', 'node-1'));
      api.create(PODS, pod('b', 'node-1'));
      await src.start(m);
      await waitFor(() => api.openWatches(PODS) === 1, 'the watch');
      const listsBefore = src.stats.lists;
      // the server goes away: the watch ends and the next requests fail
      api.failNext(PODS, 503, 4);
      api.closeWatches(PODS);
      // changes made while it is away
      api.remove(PODS, 'shop', 'a');
      api.update(PODS, { ...pod('b', 'node-1'), metadata: { name: 'b', namespace: 'shop', annotations: { 'armorgate.io/profile': 'new' } } });
      api.create(PODS, pod('c', 'node-1'));
      if (expire) api.expire(PODS, 'http');
      await waitFor(() => src.stats.errors >= 4 && api.openWatches(PODS) === 1, 'watching again after the outage');
      await waitFor(() => m.names().join() === 'b,c' && m.pods.get('b')?.metadata?.annotations?.['armorgate.io/profile'] === 'new', 'every change of the outage');
      if (expire) assert.ok(src.stats.relists >= 1, 'compacted history: relisted');
      else assert.equal(src.stats.lists, listsBefore, 'resumed from the last resourceVersion without a list');
      api.create(PODS, pod('d', 'node-1'));
      await waitFor(() => m.pods.has('d'), 'd after the outage');
    });
  });
}
