// Admission under abuse: the bodies held at once are bounded (webhook/body-budget.ts). Unit
// behaviour of the budget, then a flood of large reviews against the app: every one is
// answered, and never more than the budget is held.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { trace } from '@opentelemetry/api';
import { BodyBudget } from '../../webhook/body-budget.ts';
import { createApp } from '../../webhook/app.ts';
import { CompileCache, type GatewayView } from '../../webhook/decide.ts';
import { WebhookMetrics } from '../../webhook/metrics.ts';
import { DEFAULT_POSTURE } from '../../policy/posture.ts';
import { GATEWAY_USER, podReview, realisticPod } from './fixtures.ts';

test('budget: what fits goes at once; the rest waits, and a smaller one that fits passes a larger one', () => {
  const b = new BodyBudget(10);
  const order: string[] = [];
  b.reserve(6, () => order.push('a6'));
  b.reserve(8, () => order.push('b8'));   // does not fit: waits
  b.reserve(3, () => order.push('c3'));   // fits beside a6
  const cancel = b.reserve(5, () => order.push('d5'));
  assert.deepEqual(order, ['a6', 'c3']);
  assert.equal(b.used, 9);
  assert.equal(b.waiting, 2);
  assert.equal(b.waited, 2);
  cancel();                               // d5 went away while waiting
  b.release(6);                           // 3 used: b8 does not fit yet
  assert.deepEqual(order, ['a6', 'c3']);
  b.release(3);
  assert.deepEqual(order, ['a6', 'c3', 'b8']);
  assert.equal(b.waiting, 0);
  assert.equal(b.peak, 9);
  b.release(8);
  assert.equal(b.used, 0);
  // a reservation larger than the whole budget is clamped to it (it waits for an empty budget)
  b.reserve(50, () => order.push('big'));
  assert.equal(b.used, 10);
});

test('a flood of large reviews: all answered, never more than the budget held at once', async () => {
  const budget = new BodyBudget(4 * 1024 * 1024);
  const view: GatewayView = {
    policies: () => [], policiesVersion: () => 1, namespace: () => null,
    signingKey: Buffer.alloc(32, 7), defaultPosture: { ...DEFAULT_POSTURE }, gatewayUser: GATEWAY_USER,
  };
  const listener = createApp({ view, tracer: trace.getTracer('t'), logger: pino({ level: 'silent' }), metrics: new WebhookMetrics(), notReady: () => null, cache: new CompileCache(), bodyBudget: budget });
  const server = http.createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    // 12 reviews of ~1.5 MiB each (a pod with a large annotation): 18 MiB sent at once, 4 MiB budget
    const body = JSON.stringify(podReview('CREATE', realisticPod('shop', { app: 'web' }, { 'example.com/blob': 'x'.repeat(1_500_000) })));
    const post = (): Promise<number> => new Promise((resolve, reject) => {
      const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/mutate-pod', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
    const statuses = await Promise.all(Array.from({ length: 12 }, post));
    assert.deepEqual(statuses, new Array(12).fill(200), 'every review answered');
    assert.ok(budget.peak <= budget.limit, `peak ${budget.peak} within ${budget.limit}`);
    assert.ok(budget.peak >= 2 * Buffer.byteLength(body), 'reviews were read side by side up to the budget');
    assert.ok(budget.waited > 0, 'some reviews waited for the budget');
    assert.equal(budget.used, 0, 'everything given back');
  } finally {
    server.close();
  }
});
