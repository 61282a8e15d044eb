// The node label is a JSON merge patch of metadata.labels on the node, through the generated client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { ENFORCEMENT_LABEL, labelNode } from '../../enforcer/node-label.ts';

test('labels the node armorgate.io/enforcement with a merge patch; failures are values', async () => {
  const seen: { method: string; url: string; type: string; body: unknown }[] = [];
  let status = 200;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', type: req.headers['content-type'] ?? '', body: JSON.parse(body) });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(status === 200
        ? { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1', labels: { [ENFORCEMENT_LABEL]: 'bpf-lsm' } } }
        : { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: status, reason: 'Forbidden', message: 'nodes "node-1" is forbidden' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x',
    });
    const r = await labelNode(kc, 'node-1', 'bpf-lsm');
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(seen[0], {
      method: 'PATCH', url: '/api/v1/nodes/node-1', type: 'application/merge-patch+json',
      body: { metadata: { labels: { [ENFORCEMENT_LABEL]: 'bpf-lsm' } } },
    });
    status = 403;
    const denied = await labelNode(kc, 'node-1', 'unavailable');
    assert.equal(denied.ok, false);
    assert.ok(!denied.ok && denied.error.code === 'E_NODE_LABEL');
    assert.deepEqual(seen[1]?.body, { metadata: { labels: { [ENFORCEMENT_LABEL]: 'unavailable' } } });
  } finally {
    server.close();
  }
});
