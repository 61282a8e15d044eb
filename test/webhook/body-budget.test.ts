// Admission under abuse: the bodies held at once are bounded (webhook/body-budget.ts). Unit
// behaviour of the budget; then, against the app, a flood of large reviews (every one is
// answered, never more than the budget held), a flood of small ones (the same), and slow
// senders (a small review is still answered at once; each slow body is refused at its read
// deadline and gives its budget back).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import pino from 'pino';
import { trace } from '@opentelemetry/api';
import { BodyBudget, type BodyShare } from '../../webhook/body-budget.ts';
import { createApp } from '../../webhook/app.ts';
import { CompileCache, type GatewayView } from '../../webhook/decide.ts';
import { WebhookMetrics } from '../../webhook/metrics.ts';
import { DEFAULT_POSTURE } from '../../policy/posture.ts';
import { GATEWAY_USER, podReview, realisticPod } from './fixtures.ts';
import { waitFor } from '../support/wait.ts';

/** A body of the budget, with what its callbacks saw. */
function body(b: BodyBudget, declared: number): { share: BodyShare; started: () => boolean; resumed: () => number } {
  let started = false, resumed = 0;
  const share = b.open(declared, () => { started = true; }, () => { resumed++; });
  return { share, started: () => started, resumed: () => resumed };
}

test('budget: large bodies reserve their size and never take the small bodies\' lane; a smaller one that fits passes a larger one', () => {
  const b = new BodyBudget({ limit: 60, largeFrom: 10, lane: 10 }); // large bodies: 50 at most
  const a = body(b, 30), w = body(b, 25), c = body(b, 15);
  assert.deepEqual([a.started(), w.started(), c.started()], [true, false, true], '30 and 15 fit in 50; 25 waits');
  assert.equal(b.largeUsed, 45);
  const gone = body(b, 40);
  assert.equal(b.waiting, 2);
  gone.share.release();                       // went away while waiting: nothing was held
  assert.equal(b.waiting, 1);
  // small bodies start at once and are counted as their bytes arrive, in the lane and beyond
  const s = body(b, 8);
  assert.equal(s.started(), true);
  assert.equal(b.used, 45, 'a small body holds nothing before its bytes arrive');
  assert.equal(s.share.add(8), true);
  assert.equal(b.used, 53);
  a.share.release();
  assert.equal(w.started(), true, 'the waiting large body starts once it fits');
  assert.equal(b.largeUsed, 40);
  a.share.release();                          // idempotent
  assert.equal(b.largeUsed, 40);
  for (const x of [w, c, s]) x.share.release();
  assert.equal(b.used, 0);
  assert.equal(b.waited, 2);
  // a large body larger than large bodies may hold is clamped to it (it waits for them all)
  assert.equal(body(b, 500).started(), true);
  assert.equal(b.largeUsed, 50);
});

test('budget: a small body is paused at the limit while another is read, resumed oldest first, and never left paused with nobody read', () => {
  const b = new BodyBudget({ limit: 100, largeFrom: 50, lane: 20 });
  const a = body(b, 50), x = body(b, 50), y = body(b, 50);
  assert.equal(a.share.add(10), true);
  assert.equal(x.share.add(40), true);
  assert.equal(x.share.add(20), true, '70: within the limit');
  assert.equal(y.share.add(50), false, '120: over the limit while others are read: paused');
  assert.equal(x.share.add(10), false, '130: paused too');
  assert.equal(b.waiting, 2);
  // a (the only one read) gives back its 10: 120 held, every body left is paused: the oldest
  // goes on anyway (it alone may pass the limit), the other waits
  a.share.release();
  assert.deepEqual([y.resumed(), x.resumed()], [1, 0]);
  assert.equal(y.share.add(5), true, 'the only body read is never paused');
  assert.equal(b.used, 125);
  y.share.release();                          // 70 held: x goes on
  assert.equal(x.resumed(), 1);
  assert.equal(x.share.add(10), true);
  x.share.release();
  assert.equal(b.used, 0);
  assert.equal(b.waiting, 0);
  // many paused: resumed while the room, less a socket read (64 KiB) for each one already
  // resumed whose bytes have not come, lasts
  const big = new BodyBudget({ limit: 200_000, largeFrom: 150_000, lane: 10 });
  const held = body(big, 150_000), ps = [body(big, 100_000), body(big, 100_000), body(big, 100_000), body(big, 100_000)];
  held.share.add(150_000);
  for (const p of ps) assert.equal(p.share.add(60_000), false);
  const resumed = (): number[] => ps.map((p) => p.resumed());
  held.share.release();                       // 240,000 held by the paused, none read: the oldest goes on
  assert.deepEqual(resumed(), [1, 0, 0, 0]);
  ps[0]!.share.release();                     // 180,000: room for one read
  assert.deepEqual(resumed(), [1, 1, 0, 0]);
  ps[1]!.share.add(1_000);                    // its read came (181,000): room for the next one
  assert.deepEqual(resumed(), [1, 1, 1, 0]);
  ps[2]!.share.release();                     // 121,000: room again
  assert.deepEqual(resumed(), [1, 1, 1, 1]);
});

const view: GatewayView = {
  policies: () => [], policiesVersion: () => 1, namespace: () => null,
  signingKey: Buffer.alloc(32, 7), defaultPosture: { ...DEFAULT_POSTURE }, gatewayUser: GATEWAY_USER,
};

async function serve(budget: BodyBudget, bodyReadTimeoutMs?: number): Promise<{ server: http.Server; port: number; metrics: WebhookMetrics }> {
  const metrics = new WebhookMetrics();
  const listener = createApp({ view, tracer: trace.getTracer('t'), logger: pino({ level: 'silent' }), metrics, notReady: () => null, cache: new CompileCache(), bodyBudget: budget, bodyReadTimeoutMs });
  const server = http.createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, metrics };
}

function post(port: number, path: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A POST on a raw connection whose body is sent in two parts: the headers and the first `first`
 *  bytes at once, the rest when `rest()` is called; `status` is the answer's status code. */
function postInTwo(port: number, path: string, body: string, first: number): { rest: () => void; status: Promise<number> } {
  const bytes = Buffer.from(body);
  const socket = net.connect(port, '127.0.0.1');
  socket.write(`POST ${path} HTTP/1.1\r\nhost: webhook\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${bytes.length}\r\n\r\n`);
  socket.write(bytes.subarray(0, first));
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (c: string) => { text += c; });
  const status = new Promise<number>((resolve, reject) => {
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
    socket.on('error', reject);
  });
  return { rest: () => { socket.write(bytes.subarray(first)); }, status };
}

test('a flood of large reviews: all answered, never more than the budget held at once', async () => {
  const budget = new BodyBudget(4 * 1024 * 1024);
  const { server, port } = await serve(budget);
  try {
    // 12 reviews of ~1.5 MiB each (a pod with a large annotation): 18 MiB sent at once, 4 MiB
    // budget; every connection sends its headers and a first part before any body is complete
    // (sent whole, a busy machine can read and answer each before the next comes)
    const body = JSON.stringify(podReview('CREATE', realisticPod('shop', { app: 'web' }, { 'example.com/blob': 'x'.repeat(1_500_000) })));
    const calls = Array.from({ length: 12 }, () => postInTwo(port, '/mutate-pod', body, 100_000));
    await waitFor(() => budget.waited > 0, 'large reviews waiting for the budget', 20_000);
    for (const c of calls) c.rest();
    const statuses = await Promise.all(calls.map((c) => c.status));
    assert.deepEqual(statuses, new Array(12).fill(200), 'every review answered');
    assert.ok(budget.peak <= budget.limit, `peak ${budget.peak} within ${budget.limit}`);
    assert.ok(budget.peak >= 2 * Buffer.byteLength(body), 'reviews were read side by side up to the budget');
    assert.ok(budget.waited > 0, 'some reviews waited for the budget');
    assert.equal(budget.used, 0, 'everything given back');
  } finally {
    server.close();
  }
});

test('a flood of small reviews: all answered, the bytes held bounded by the budget (and one socket read a body)', async () => {
  const budget = new BodyBudget({ limit: 1024 * 1024, largeFrom: 1024 * 1024, lane: 256 * 1024 });
  const { server, port } = await serve(budget);
  try {
    // 24 reviews of ~600 KB (small: they start at once and are counted as they arrive): 14 MB at
    // once, 1 MiB budget. Every connection sends the first 500 KB of its body before any body is
    // complete, so that the bodies are in flight together however the two sides are scheduled
    // (sent whole, on a busy machine, each was read and answered before the next one came)
    const body = JSON.stringify(podReview('CREATE', realisticPod('shop', { app: 'web' }, { 'example.com/blob': 'x'.repeat(600_000) })));
    const calls = Array.from({ length: 24 }, () => postInTwo(port, '/mutate-pod', body, 500_000));
    await waitFor(() => budget.waited > 0, `bodies paused at the limit (peak ${budget.peak})`, 20_000);
    for (const c of calls) c.rest();
    const statuses = await Promise.all(calls.map((c) => c.status));
    assert.deepEqual(statuses, new Array(24).fill(200), 'every review answered');
    assert.ok(budget.peak <= budget.limit + Buffer.byteLength(body) + 24 * 64 * 1024, `peak ${budget.peak}: the limit, one body past it, a socket read each`);
    assert.equal(budget.used, 0, 'everything given back');
  } finally {
    server.close();
  }
});

/** A raw connection that declares `declared` bytes and sends one: what it is answered, once it closes. */
function slowSender(port: number, declared: number): { answered: Promise<string> } {
  const socket = net.connect(port, '127.0.0.1');
  socket.write(`POST /validate-pod?timeout=5s HTTP/1.1\r\nhost: webhook\r\ncontent-type: application/json\r\ncontent-length: ${declared}\r\n\r\n{`);
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (c: string) => { text += c; });
  return { answered: new Promise((resolve) => { socket.on('close', () => resolve(text)); socket.on('error', () => { /* closed by the server */ }); }) };
}

test('slow senders: connections that declare 8 MiB or 512 KiB and send one byte do not stop a small review; each is refused 408 at its read deadline and gives its budget back', { timeout: 30_000 }, async () => {
  const budget = new BodyBudget(); // the daemon's: 24 MiB, large from 1 MiB, a 4 MiB lane
  const DEADLINE = 1500;
  const { server, port, metrics } = await serve(budget, DEADLINE);
  try {
    const large = Array.from({ length: 3 }, () => slowSender(port, 8 * 1024 * 1024));
    const small = Array.from({ length: 60 }, () => slowSender(port, 512 * 1024));   // 30 MiB declared
    await waitFor(() => budget.largeUsed === 16 * 1024 * 1024 && budget.waiting === 1 && budget.used >= budget.largeUsed + 60, 'two large bodies reading, the third waiting, the small ones reading');
    // a review of the usual size is read and answered at once, beside them
    const started = performance.now();
    const r = await Promise.race([
      post(port, '/validate-pod', JSON.stringify(podReview('CREATE', realisticPod('shop', { app: 'web' })))),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the small review was not answered within 1 s')), 1000)),
    ]);
    const ms = performance.now() - started;
    assert.equal(r.status, 200);
    assert.match(r.text, /"kind":"AdmissionReview"/);
    assert.ok(ms < DEADLINE, `answered in ${Math.round(ms)} ms, before any slow body's deadline`);
    // each slow body is refused at its deadline (the third large one once the first two gave
    // their reservations back), its connection closed
    const answers = await Promise.all([...large, ...small].map((s) => s.answered));
    for (const a of answers) {
      assert.match(a, /^HTTP\/1\.1 408 /);
      assert.match(a, /connection: close/i);
      assert.match(a, /\{"error":"body not received within 1500 ms \(1 of \d+ bytes arrived\); the connection is closed"\}$/);
    }
    assert.equal(metrics.requests.get({ endpoint: 'validate-pod', decision: 'timeout' }), 63);
    await waitFor(() => budget.used === 0 && budget.waiting === 0, 'everything given back');
    assert.ok(budget.largeUsed === 0 && budget.peak <= budget.limit);
  } finally {
    server.close();
  }
});
