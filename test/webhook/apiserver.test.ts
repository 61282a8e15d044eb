// The list/watch test server against @kubernetes/client-node's own ListWatch: list,
// watch events, bookmarks, field selectors, and 410 Gone (event and HTTP) forcing a relist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, ListWatch, Watch, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import { TestApiServer } from '../support/apiserver.ts';
import { waitFor } from '../support/wait.ts';

const NS = '/api/v1/namespaces';
const PODS = '/api/v1/pods';

async function setup(https = false): Promise<TestApiServer> {
  const api = await TestApiServer.start({ https });
  api.resource(NS, { kind: 'Namespace', apiVersion: 'v1', namespaced: false });
  api.resource(PODS, { kind: 'Pod', apiVersion: 'v1', namespaced: true });
  return api;
}

function nsWatch(api: TestApiServer): ListWatch<KubernetesObject> {
  const kc = api.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  return new ListWatch<KubernetesObject>(NS, new Watch(kc), () => core.listNamespace(), false);
}

const names = (lw: ListWatch<KubernetesObject>): string[] => lw.list().map((o) => o.metadata!.name!).sort();
const lists = (api: TestApiServer, path: string): number => api.requests.filter((r) => r.path === path && !r.watch).length;

for (const https of [false, true]) {
  test(`list, then ADDED/MODIFIED/DELETED over the watch stream (${https ? 'HTTPS' : 'HTTP'})`, async () => {
    const api = await setup(https);
    api.create(NS, { metadata: { name: 'a' } });
    api.create(NS, { metadata: { name: 'b', annotations: { x: '1' } } });
    const lw = nsWatch(api);
    try {
      await lw.start();
      assert.deepEqual(names(lw), ['a', 'b']);
      await waitFor(() => api.openWatches(NS) === 1, 'a watch');
      api.create(NS, { metadata: { name: 'c' } });
      api.update(NS, { metadata: { name: 'b', annotations: { x: '2' } } });
      const gone = api.remove(NS, undefined, 'a');
      await waitFor(() => names(lw).join() === 'b,c' && (lw.get('b')?.metadata?.annotations?.x === '2'), 'events applied');
      assert.equal(lw.latestResourceVersion(), gone.metadata.resourceVersion, 'resourceVersion follows the last event');
      assert.equal(lists(api, NS), 1, 'one list, then only watch events');
    } finally { await lw.stop(); await api.stop(); }
  });
}

test('410 Gone as an ERROR event closes the watch and makes the client relist', async () => {
  const api = await setup();
  api.create(NS, { metadata: { name: 'a' } });
  const lw = nsWatch(api);
  try {
    await lw.start();
    await waitFor(() => api.openWatches(NS) === 1, 'a watch');
    api.expire(NS);
    api.create(NS, { metadata: { name: 'b' } }); // may land before or after the relist: either way it must show
    await waitFor(() => lists(api, NS) >= 2, 'a relist');
    await waitFor(() => names(lw).join() === 'a,b', 'cache after relist');
    // the watch restarted from the relisted version, not the expired one
    await waitFor(() => api.openWatches(NS) === 1, 'the watch again');
    api.remove(NS, undefined, 'a');
    await waitFor(() => names(lw).join() === 'b', 'delete after relist');
  } finally { await lw.stop(); await api.stop(); }
});

test('410 Gone as an HTTP status on a watch with a too-old resourceVersion makes the client relist', async () => {
  const api = await setup();
  api.create(NS, { metadata: { name: 'a' } });
  const lw = nsWatch(api);
  try {
    await lw.start();
    await waitFor(() => api.openWatches(NS) === 1, 'a watch');
    api.expire(NS, 'http');
    await waitFor(() => lists(api, NS) >= 2, 'a relist');
    assert.ok(api.requests.some((r) => r.watch && r.query.resourceVersion !== undefined), 'watched with a resourceVersion');
    await waitFor(() => api.openWatches(NS) === 1, 'the watch again');
    api.create(NS, { metadata: { name: 'z' } });
    await waitFor(() => names(lw).join() === 'a,z', 'cache after relist');
  } finally { await lw.stop(); await api.stop(); }
});

test('list with a too-old resourceVersion is answered 410 with a Status', async () => {
  const api = await setup();
  api.create(NS, { metadata: { name: 'a' } });
  api.create(NS, { metadata: { name: 'b' } });
  api.expire();
  try {
    const r = await fetch(`${api.url}${NS}?resourceVersion=1`);
    assert.equal(r.status, 410);
    const body = await r.json() as { kind: string; code: number };
    assert.equal(body.kind, 'Status');
    assert.equal(body.code, 410);
    const w = await fetch(`${api.url}${NS}?watch=1&resourceVersion=1`);
    const line = JSON.parse((await w.text()).trim()) as { type: string; object: { code: number } };
    assert.deepEqual([line.type, line.object.code], ['ERROR', 410]);
  } finally { await api.stop(); }
});

test('fieldSelector spec.nodeName and namespaced paths filter pods; bookmarks carry the resourceVersion', async () => {
  const api = await setup();
  const pod = (ns: string, name: string, node: string): KubernetesObject & { spec: unknown } => ({ metadata: { name, namespace: ns }, spec: { nodeName: node, containers: [{ name: 'c' }] } });
  api.create(PODS, pod('x', 'p1', 'node-1') as never);
  api.create(PODS, pod('x', 'p2', 'node-2') as never);
  api.create(PODS, pod('y', 'p3', 'node-1') as never);
  const kc = api.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const lw = new ListWatch<V1Pod>(PODS, new Watch(kc), () => core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-1' }), false, undefined, 'spec.nodeName=node-1');
  try {
    await lw.start();
    assert.deepEqual(lw.list().map((p) => p.metadata!.name).sort(), ['p1', 'p3']);
    await waitFor(() => api.openWatches(PODS) === 1, 'a watch');
    api.create(PODS, pod('x', 'p4', 'node-2') as never);
    api.create(PODS, pod('x', 'p5', 'node-1') as never);
    await waitFor(() => lw.list().length === 3, 'p5 only');
    assert.deepEqual(lw.list().map((p) => p.metadata!.name).sort(), ['p1', 'p3', 'p5']);
    const inX = await (await fetch(`${api.url}/api/v1/namespaces/x/pods`)).json() as { items: { metadata: { name: string } }[] };
    assert.deepEqual(inX.items.map((p) => p.metadata.name).sort(), ['p1', 'p2', 'p4', 'p5']);
  } finally { await lw.stop(); }
  // bookmarks go only to watches that asked for them
  const ctl = new AbortController();
  const r = await fetch(`${api.url}${NS}?watch=true&allowWatchBookmarks=true&resourceVersion=1`, { signal: ctl.signal });
  const reader = r.body!.getReader();
  await waitFor(() => api.openWatches(NS) === 1, 'raw watch');
  api.bookmark(NS);
  const { value } = await reader.read();
  const ev = JSON.parse(new TextDecoder().decode(value).trim().split('\n').at(-1)!) as { type: string; object: { metadata: { resourceVersion: string } } };
  assert.equal(ev.type, 'BOOKMARK');
  assert.ok(Number(ev.object.metadata.resourceVersion) >= 6);
  ctl.abort();
  await api.stop();
});
