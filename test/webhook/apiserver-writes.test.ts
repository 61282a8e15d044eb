// The test API server's writes (devtools/apiserver.ts): single reads, merge and JSON patch
// with preconditions, the status subresource, create conflicts, verb counts, fault switches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestApiServer } from '../support/apiserver.ts';

const PODS = '/api/v1/pods';
const KSP = '/apis/security.kubearmor.com/v1/kubearmorpolicies';
const LEASES = '/apis/coordination.k8s.io/v1/leases';

async function call(api: TestApiServer, method: string, path: string, body?: unknown, type = 'application/json'): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(api.url + path, { method, headers: { 'content-type': type }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: await r.json() as Record<string, unknown> };
}

test('test API server: pod patches (merge and JSON patch) with resourceVersion and uid preconditions', async () => {
  const api = await TestApiServer.start();
  try {
    api.resource(PODS, { kind: 'Pod', apiVersion: 'v1', namespaced: true });
    const pod = api.create(PODS, { metadata: { name: 'p', namespace: 'ns', labels: { a: '1' }, annotations: { keep: 'x' } } });
    const path = '/api/v1/namespaces/ns/pods/p';
    assert.equal((await call(api, 'GET', path)).body.metadata !== undefined, true);
    let r = await call(api, 'PATCH', path, { metadata: { resourceVersion: pod.metadata.resourceVersion, annotations: { 'armorgate.io/x': 'y', keep: null } } }, 'application/merge-patch+json');
    assert.equal(r.status, 200);
    const meta = r.body.metadata as { annotations: Record<string, string>; resourceVersion: string };
    assert.deepEqual(meta.annotations, { 'armorgate.io/x': 'y' });
    // the old resourceVersion no longer matches
    r = await call(api, 'PATCH', path, { metadata: { resourceVersion: pod.metadata.resourceVersion, annotations: { z: '1' } } }, 'application/merge-patch+json');
    assert.equal(r.status, 409);
    r = await call(api, 'PATCH', path, { metadata: { uid: 'other', annotations: { z: '1' } } }, 'application/merge-patch+json');
    assert.equal(r.status, 409);
    r = await call(api, 'PATCH', path, [{ op: 'test', path: '/metadata/resourceVersion', value: meta.resourceVersion }, { op: 'add', path: '/metadata/annotations/z', value: '2' }], 'application/json-patch+json');
    assert.equal(r.status, 200);
    r = await call(api, 'PATCH', path, [{ op: 'test', path: '/metadata/resourceVersion', value: meta.resourceVersion }], 'application/json-patch+json');
    assert.equal(r.status, 409);
    assert.equal((await call(api, 'PATCH', '/api/v1/namespaces/ns/pods/gone', { metadata: {} }, 'application/merge-patch+json')).status, 404);
    assert.equal(api.verbs(PODS).patch, 6);
    assert.equal(api.verbs(PODS).get, 1);
    api.failWrites('patch', PODS, 500, 1);
    assert.equal((await call(api, 'PATCH', path, { metadata: {} }, 'application/merge-patch+json')).status, 500);
    assert.equal((await call(api, 'PATCH', path, { metadata: {} }, 'application/merge-patch+json')).status, 200);
    api.setDown(true);
    await assert.rejects(fetch(api.url + path));
    api.setDown(false);
    assert.equal((await call(api, 'GET', path)).status, 200);
  } finally { await api.stop(); }
});

test('test API server: the status subresource and leases (create conflict, PUT with resourceVersion)', async () => {
  const api = await TestApiServer.start();
  try {
    api.resource(KSP, { kind: 'KubeArmorPolicy', apiVersion: 'security.kubearmor.com/v1', namespaced: true, statusSubresource: true });
    api.resource(LEASES, { kind: 'Lease', apiVersion: 'coordination.k8s.io/v1', namespaced: true });
    api.create(KSP, { metadata: { name: 'k', namespace: 'ns' }, spec: { a: 1 } });
    let r = await call(api, 'PATCH', '/apis/security.kubearmor.com/v1/namespaces/ns/kubearmorpolicies/k/status', { status: { boundPods: 3 } }, 'application/merge-patch+json');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.status, { boundPods: 3 });
    assert.deepEqual(r.body.spec, { a: 1 });
    // a write to the object keeps the status
    r = await call(api, 'PATCH', '/apis/security.kubearmor.com/v1/namespaces/ns/kubearmorpolicies/k', { spec: { a: 2 }, status: { boundPods: 9 } }, 'application/merge-patch+json');
    assert.deepEqual(r.body.status, { boundPods: 3 });
    assert.equal((r.body.metadata as { generation: number }).generation, 2);

    const lease = { metadata: { name: 'l', namespace: 'armorgate' }, spec: { holderIdentity: 'a' } };
    r = await call(api, 'POST', '/apis/coordination.k8s.io/v1/namespaces/armorgate/leases', lease);
    assert.equal(r.status, 201);
    const rv = (r.body.metadata as { resourceVersion: string }).resourceVersion;
    assert.equal((await call(api, 'POST', '/apis/coordination.k8s.io/v1/namespaces/armorgate/leases', lease)).status, 409);
    r = await call(api, 'PUT', '/apis/coordination.k8s.io/v1/namespaces/armorgate/leases/l', { ...lease, metadata: { ...lease.metadata, resourceVersion: rv }, spec: { holderIdentity: 'b' } });
    assert.equal(r.status, 200);
    r = await call(api, 'PUT', '/apis/coordination.k8s.io/v1/namespaces/armorgate/leases/l', { ...lease, metadata: { ...lease.metadata, resourceVersion: rv }, spec: { holderIdentity: 'c' } });
    assert.equal(r.status, 409);
    assert.equal((await call(api, 'GET', '/apis/coordination.k8s.io/v1/namespaces/armorgate/leases/l')).body.spec !== undefined, true);
    assert.deepEqual({ ...api.verbs(LEASES), other: 0 }, { list: 0, watch: 0, get: 1, create: 2, update: 2, patch: 0, delete: 0, other: 0 });
  } finally { await api.stop(); }
});

test('test API server: lists in pages (limit, continue) hold every object once, at the first page\'s resourceVersion', async () => {
  const api = await TestApiServer.start();
  try {
    api.resource(PODS, { kind: 'Pod', apiVersion: 'v1', namespaced: true });
    for (let i = 0; i < 7; i++) api.create(PODS, { metadata: { name: `p${i}`, namespace: 'ns' } });
    const names: string[] = [];
    let token: string | undefined;
    let rv: string | undefined;
    let pages = 0;
    do {
      const r = await call(api, 'GET', `${PODS}?limit=3${token ? `&continue=${token}` : ''}`);
      const meta = r.body.metadata as { resourceVersion: string; continue?: string };
      rv ??= meta.resourceVersion;
      assert.equal(meta.resourceVersion, rv);
      names.push(...(r.body.items as { metadata: { name: string } }[]).map((o) => o.metadata.name));
      if (pages === 0) api.remove(PODS, 'ns', 'p0'); // a deletion between pages skips no other pod
      token = meta.continue;
      pages++;
    } while (token !== undefined);
    assert.equal(pages, 3);
    assert.deepEqual(names, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
  } finally { await api.stop(); }
});
