// End to end over HTTPS against the running webhook (standalone mode, policies from a folder):
// AdmissionReview bodies as the API server sends them; returned patches applied to the pod.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import https from 'node:https';
import tls from 'node:tls';
import jsonpatch from 'fast-json-patch';
import type { Pod } from '../../policy/types.ts';
import { verifyAnnotations } from '../../policy/sign.ts';
import { decodeProfileAnnotation } from '../../policy/profile-codec.ts';
import {
  AUDIT_CURL, BLOCK_SHADOW, GATEWAY_USER, podReview, policy, policyReview, realisticPod, review, startTestWebhook, type TestWebhook,
} from './fixtures.ts';
import { parsePrometheus, sampleValue } from '../support/prom-text.ts';

let w: TestWebhook;
before(async () => { w = await startTestWebhook(); });
after(async () => { await w.close(); });

interface ReviewAnswer { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; status?: { code: number; message: string }; patch?: string; patchType?: string; warnings?: string[] } }

function checkEcho(sent: Record<string, unknown>, got: ReviewAnswer): void {
  assert.equal(got.apiVersion, 'admission.k8s.io/v1');
  assert.equal(got.kind, 'AdmissionReview');
  assert.equal(got.response.uid, (sent.request as { uid: string }).uid);
}

async function admit(endpoint: string, body: Record<string, unknown>, headers?: Record<string, string>): Promise<ReviewAnswer> {
  const r = await w.post(endpoint, body, headers);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const got = r.json as ReviewAnswer;
  checkEcho(body, got);
  return got;
}

function applyPatch(pod: Pod, got: ReviewAnswer): Pod {
  assert.equal(got.response.patchType, 'JSONPatch');
  const ops = JSON.parse(Buffer.from(got.response.patch!, 'base64').toString('utf8')) as jsonpatch.Operation[];
  for (const op of ops) assert.ok(op.path === '/metadata/annotations' || op.path.startsWith('/metadata/annotations/'), `patch touches only annotations: ${op.path}`);
  return jsonpatch.applyPatch(structuredClone(pod), ops, true, false).newDocument;
}

function withoutAnnotations(p: Pod): unknown {
  const c = structuredClone(p);
  delete c.metadata!.annotations;
  return c;
}

const ours = (ann: Record<string, string> | undefined): string[] => Object.keys(ann ?? {}).filter((k) => k.startsWith('armorgate.io/')).sort();

test('health and readiness', async () => {
  assert.equal((await w.get('/healthz')).status, 200);
  const ready = await w.get('/readyz');
  assert.equal(ready.status, 200, ready.text);
});

test('validate-policy: valid policy allowed, with its warnings short enough', async () => {
  const body = policyReview(BLOCK_SHADOW);
  const got = await admit('/validate-policy', body);
  assert.equal(got.response.allowed, true);
  const warned = policy('args', 'shop', { selector: { matchLabels: { app: 'x' } }, process: { matchPaths: [{ path: '/bin/sh', allowedArgs: ['-c'] }] }, action: 'Block' });
  const g2 = await admit('/validate-policy', policyReview(warned));
  assert.equal(g2.response.allowed, true);
  assert.ok(g2.response.warnings !== undefined && g2.response.warnings.length >= 1, 'a warning');
  for (const x of g2.response.warnings) assert.ok(x.length < 120, x);
  assert.match(g2.response.warnings.join('\n'), /allowedArgs/);
});

test('validate-policy: every error with its field path in status.message; dryRun gives the same verdict', async () => {
  const bad = policy('bad', 'shop', { selector: { matchLabels: { app: 'web' } }, file: { matchPaths: [{ path: 'relative' }] }, action: 'Nope' });
  for (const dryRun of [false, true]) {
    const got = await admit('/validate-policy', policyReview(bad, { dryRun }));
    assert.equal(got.response.allowed, false);
    assert.match(got.response.status!.message, /spec\.file\.matchPaths\[0\]\.path/);
    assert.match(got.response.status!.message, /spec\.action/);
  }
  // UPDATE is checked too; DELETE is allowed (nothing to validate)
  const upd = await admit('/validate-policy', policyReview(bad, { operation: 'UPDATE', oldObject: BLOCK_SHADOW }));
  assert.equal(upd.response.allowed, false);
  const del = await admit('/validate-policy', policyReview(BLOCK_SHADOW, { operation: 'DELETE', object: null, oldObject: BLOCK_SHADOW }));
  assert.equal(del.response.allowed, true);
});

test('answers are ASCII JSON with an exact Content-Length, whatever non-ASCII text they carry', async () => {
  const isAscii = (t: string): boolean => !/[\u0080-\uffff]/.test(t);
  // a uid, a denial message and warnings that echo non-ASCII input (é, an em dash, an emoji)
  const bad = policy('bad-é', 'shop', { selector: { matchLabels: { app: 'web' } }, file: { matchPaths: [{ path: 'relatív—😀' }] }, action: 'Block', message: 'Zugriff verweigert — ü' });
  const body = policyReview(bad, { uid: 'uid-é—😀' });
  const r = await w.post('/validate-policy', body);
  assert.equal(r.status, 200);
  const got = r.json as ReviewAnswer;
  assert.equal(got.response.uid, 'uid-é—😀');
  assert.equal(got.response.allowed, false);
  assert.match(got.response.status!.message, /relatív—😀/);
  // the bytes on the wire: the test client decoded them as UTF-8; ASCII bytes decode 1:1
  const wire = await w.raw('POST', '/validate-policy', JSON.stringify(body));
  assert.ok(isAscii(wire.text), wire.text.slice(0, 200));
  assert.equal(Number(wire.headers['content-length']), Buffer.byteLength(wire.text));
  assert.deepEqual(JSON.parse(wire.text), got);
  // an error that quotes the unparseable body
  const broken = await w.raw('POST', '/mutate-pod', '{"é😀": ');
  assert.equal(broken.status, 400);
  assert.ok(isAscii(broken.text), broken.text);
  assert.equal(Number(broken.headers['content-length']), Buffer.byteLength(broken.text));
  assert.match((JSON.parse(broken.text) as { error: string }).error, /not valid JSON/);
  // a mutation's answer too (the patch is base64; the rest carries the pod's uid echo)
  const pod = await w.raw('POST', '/mutate-pod?timeout=10s', JSON.stringify(podReview('CREATE', realisticPod(), { uid: 'ü-1' })));
  assert.equal(pod.status, 200);
  assert.ok(isAscii(pod.text));
  assert.equal(Number(pod.headers['content-length']), Buffer.byteLength(pod.text));
  assert.equal((JSON.parse(pod.text) as ReviewAnswer).response.uid, 'ü-1');
});

test('mutate-pod: binding pod gets signed annotations and nothing else changes; traceparent continues the trace', async () => {
  const pod = realisticPod();
  const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const body = podReview('CREATE', pod);
  const got = await admit('/mutate-pod', body, { traceparent: incoming });
  assert.equal(got.response.allowed, true);
  const out = applyPatch(pod, got);
  assert.deepEqual(withoutAnnotations(out), withoutAnnotations(pod), 'every other field untouched');
  const ann = out.metadata!.annotations!;
  assert.equal(ann['kubectl.kubernetes.io/restartedAt'], '2026-11-28T10:00:00Z');
  assert.deepEqual(ours(ann), ['armorgate.io/policies', 'armorgate.io/posture', 'armorgate.io/profile', 'armorgate.io/profile-digest', 'armorgate.io/profile-signature', 'armorgate.io/traceparent']);
  assert.equal(ann['armorgate.io/policies'], 'no-raw-sockets@0,shop/audit-curl@0,shop/block-shadow@0');
  assert.equal(ann['armorgate.io/posture'], 'file=block,network=audit,capabilities=audit,process=block');
  const v = verifyAnnotations(ann, 'shop', w.hook.signingKey);
  assert.ok(v.ok, JSON.stringify(v));
  const prof = decodeProfileAnnotation(ann['armorgate.io/profile']!);
  assert.ok(prof.ok);
  assert.equal(prof.value.profile.file[0]?.target.type, 'path');
  const tp = ann['armorgate.io/traceparent']!;
  assert.match(tp, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
  const span = w.spans.getFinishedSpans().find((s) => s.attributes['k8s.admission.uid'] === (body.request as { uid: string }).uid)!;
  assert.ok(span, 'a span for the request');
  assert.equal(tp, `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
  assert.equal(span.parentSpanContext?.spanId, '00f067aa0ba902b7');
  assert.equal(span.attributes['armorgate.decision'], 'patched');
  assert.equal(span.attributes['armorgate.profile_digest'], ann['armorgate.io/profile-digest']);
  assert.deepEqual(span.attributes['armorgate.policies'], ann['armorgate.io/policies']!.split(','));
  assert.equal(span.attributes['k8s.admission.operation'], 'CREATE');
  assert.equal(span.attributes['k8s.namespace.name'], 'shop');

  // the patched pod passes the validating webhook at CREATE
  const check = await admit('/validate-pod', podReview('CREATE', out));
  assert.equal(check.response.allowed, true, check.response.status?.message);
});

test('mutate-pod: creator-forged armorgate.io/* annotations are replaced or removed', async () => {
  const forged = realisticPod('shop', { app: 'web' }, {
    'armorgate.io/policies': '', 'armorgate.io/profile': '{"version":1}', 'armorgate.io/profile-signature': 'hmac-sha256:00', 'armorgate.io/extra': 'x',
  });
  const got = await admit('/mutate-pod', podReview('CREATE', forged));
  const out = applyPatch(forged, got);
  const ann = out.metadata!.annotations!;
  assert.equal(ann['armorgate.io/extra'], undefined);
  assert.notEqual(ann['armorgate.io/profile'], '{"version":1}');
  assert.ok(verifyAnnotations(ann, 'shop', w.hook.signingKey).ok);
  assert.match(ann['armorgate.io/policies']!, /shop\/block-shadow@0/);
});

test('mutate-pod: pod with no binding policy, pod without annotations, UPDATE untouched', async () => {
  const pod = realisticPod('strict', { app: 'db' });
  delete pod.metadata!.annotations;
  const got = await admit('/mutate-pod', podReview('CREATE', pod));
  const out = applyPatch(pod, got);
  assert.equal(out.metadata!.annotations!['armorgate.io/policies'], '');
  assert.ok(verifyAnnotations(out.metadata!.annotations, 'strict', w.hook.signingKey).ok);
  const upd = await admit('/mutate-pod', podReview('UPDATE', out, { oldObject: pod }));
  assert.equal(upd.response.allowed, true);
  assert.equal(upd.response.patch, undefined);
});

test('mutate-pod: opt-out honoured only where the namespace allows it', async () => {
  const open = realisticPod('open', { app: 'web' }, { 'kubearmor-policy': 'disabled', 'armorgate.io/profile': 'forged' });
  const got = await admit('/mutate-pod', podReview('CREATE', open));
  const out = applyPatch(open, got);
  assert.deepEqual(ours(out.metadata!.annotations), [], 'no armorgate.io/* annotation on an opted-out pod');
  const ok = await admit('/validate-pod', podReview('CREATE', out));
  assert.equal(ok.response.allowed, true, 'an opted-out pod passes validation');

  const strict = realisticPod('strict', { app: 'web' }, { 'kubearmor-policy': 'disabled' });
  const g2 = await admit('/mutate-pod', podReview('CREATE', strict));
  const o2 = applyPatch(strict, g2);
  assert.ok(ours(o2.metadata!.annotations).includes('armorgate.io/profile'));
  assert.ok(g2.response.warnings?.some((x) => /opt/i.test(x)), JSON.stringify(g2.response.warnings));
  for (const x of g2.response.warnings!) assert.ok(x.length < 120);
});

test('mutate-pod: annotations past 256 KiB are refused with a clear message', async () => {
  const big = realisticPod('shop', { app: 'web' }, { 'example.com/blob': 'x'.repeat(256 * 1024 - 500) });
  const got = await admit('/mutate-pod', podReview('CREATE', big));
  assert.equal(got.response.allowed, false);
  assert.match(got.response.status!.message, /E_TOO_LARGE/);
  assert.match(got.response.status!.message, /262144/);
});

test('validate-pod: unverified CREATE denied; annotation changes only by the gateway user', async () => {
  const plain = realisticPod();
  const denied = await admit('/validate-pod', podReview('CREATE', plain));
  assert.equal(denied.response.allowed, false, 'a pod whose mutation was skipped');
  assert.match(denied.response.status!.message, /armorgate\.io/);

  const got = await admit('/mutate-pod', podReview('CREATE', plain));
  const signed = applyPatch(plain, got);
  // tampering: a profile edited after signing
  const tampered = structuredClone(signed);
  tampered.metadata!.annotations!['armorgate.io/profile'] = tampered.metadata!.annotations!['armorgate.io/profile']!.replace('"Block"', '"Allow"');
  assert.equal((await admit('/validate-pod', podReview('CREATE', tampered))).response.allowed, false);
  // the same signed annotations in another namespace do not verify (the namespace is signed)
  const moved = structuredClone(signed);
  moved.metadata!.namespace = 'strict';
  assert.equal((await admit('/validate-pod', podReview('CREATE', moved))).response.allowed, false);

  const running = { ...structuredClone(signed), metadata: { ...signed.metadata!, name: 'web-7d9c8b6f4-abcde', uid: 'c0ffee00-0000-4000-8000-000000000001' } } as Pod;
  const relabelled = structuredClone(running);
  relabelled.metadata!.labels = { ...relabelled.metadata!.labels, extra: 'yes' };
  assert.equal((await admit('/validate-pod', podReview('UPDATE', relabelled, { oldObject: running }))).response.allowed, true, 'other changes pass');

  const changed = structuredClone(running);
  changed.metadata!.annotations!['armorgate.io/posture'] = 'file=audit,network=audit,capabilities=audit,process=audit';
  const removed = structuredClone(running);
  delete removed.metadata!.annotations!['armorgate.io/profile-signature'];
  const added = structuredClone(running);
  added.metadata!.annotations!['armorgate.io/new'] = '1';
  for (const [what, obj] of [['changed', changed], ['removed', removed], ['added', added]] as const) {
    const d = await admit('/validate-pod', podReview('UPDATE', obj, { oldObject: running, username: 'alice' }));
    assert.equal(d.response.allowed, false, what);
    assert.match(d.response.status!.message, new RegExp(`\\(${what}\\)`));
    assert.match(d.response.status!.message, /alice/);
    const g = await admit('/validate-pod', podReview('UPDATE', obj, { oldObject: running, username: GATEWAY_USER }));
    assert.equal(g.response.allowed, true, `${what} by the gateway user`);
  }
});

test('bad input: 4xx with a JSON error naming the problem, never a crash', async () => {
  const cases: [string, string | Record<string, unknown>, number, RegExp][] = [
    ['/mutate-pod', '{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionRev', 400, /not valid JSON/],
    ['/mutate-pod', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, 400, /request is missing/],
    ['/validate-pod', { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: {} }, 400, /apiVersion/],
    ['/validate-policy', podReview('CREATE', realisticPod()), 400, /validate-policy serves/],
    ['/mutate-pod', policyReview(AUDIT_CURL), 400, /mutate-pod serves/],
    ['/validate-pod', review({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' }, operation: 'CREATE', object: {} }), 400, /validate-pod serves/],
    ['/mutate-pod', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'x', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'PATCH' } }, 400, /operation/],
    ['/mutate-pod', '[]', 400, /JSON object/],
  ];
  for (const [endpoint, body, status, msg] of cases) {
    const r = await w.post(endpoint, body);
    assert.equal(r.status, status, `${endpoint} ${JSON.stringify(body).slice(0, 80)}`);
    assert.match((r.json as { error: string }).error, msg);
  }
  const huge = Buffer.alloc(8 * 1024 * 1024 + 10, 0x20);
  const r = await w.post('/validate-pod', huge);
  assert.equal(r.status, 413);
  assert.match((r.json as { error: string }).error, /larger than the limit/);
  // a body just under the limit is read (and is a well-formed review)
  const nearly = podReview('CREATE', realisticPod('shop', { app: 'web' }, { 'example.com/pad': 'y'.repeat(8 * 1024 * 1024 - 8000) }));
  const n = await w.post('/validate-pod', nearly);
  assert.equal(n.status, 200);
  assert.equal((n.json as ReviewAnswer).response.allowed, false);
  // chunked (no content-length): cut off once past the limit, still a 413 with a JSON error
  const chunked = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: w.hook.port, path: '/mutate-pod', method: 'POST', ca: fs.readFileSync(path.join(w.hook.certDir, 'tls.crt')), servername: 'localhost', agent: false, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', (e) => { if (!/EPIPE|ECONNRESET/.test(e.message)) reject(e); });
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    const pump = (): void => {
      while (sent < 9) { sent++; if (!req.write(chunk)) { req.once('drain', pump); return; } }
      req.end();
    };
    pump();
  });
  assert.equal(chunked.status, 413);
  assert.match((JSON.parse(chunked.text) as { error: string }).error, /larger than the limit/);
  const get = await w.get('/mutate-pod');
  assert.equal(get.status, 405);
  // the paths as the API server sends them (`?timeout=10s` appended) and as express also
  // matches them (a trailing slash, another case) give the same answer
  const viaPath = podReview('CREATE', realisticPod('shop', { app: 'web' })) as { request: { uid: string } };
  const uid = viaPath.request.uid;
  for (const p of ['/mutate-pod?timeout=10s', '/mutate-pod/', '/Mutate-Pod', '/mutate-pod/?timeout=10s']) {
    const a = await w.post(p, viaPath);
    assert.equal(a.status, 200, p);
    const res = (a.json as ReviewAnswer).response;
    assert.equal(res.uid, uid, p);
    assert.equal(res.patchType, 'JSONPatch', p);
  }
  assert.equal((await w.post('/mutate-pod-x', viaPath)).status, 404);
  assert.equal((await w.get('/nope')).status, 404);
  assert.equal((await w.get('/healthz')).status, 200, 'healthy after all of it');
});

test('reviews on many connections at once and pipelined ones each get their own answer, in order (the answers of a pass are written together); clients that leave right after sending leave the webhook healthy', { timeout: 20_000 }, async () => {
  const ca = fs.readFileSync(path.join(w.hook.certDir, 'tls.crt'));
  const requestBytes = (body: Record<string, unknown>): Buffer => {
    const b = Buffer.from(JSON.stringify(body));
    return Buffer.concat([Buffer.from(`POST /mutate-pod?timeout=10s HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${b.length}\r\n\r\n`), b]);
  };
  /** Sends `bodies` on one connection in a single write (pipelined); resolves with the uids of the answers, in the order they came. */
  const pipelined = (bodies: Record<string, unknown>[]): Promise<string[]> => new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: w.hook.port, ca, servername: 'localhost' }, () => socket.write(Buffer.concat(bodies.map(requestBytes))));
    let buf = Buffer.alloc(0);
    const uids: string[] = [];
    const fail = (e: unknown): void => { socket.destroy(); reject(e instanceof Error ? e : new Error(String(e))); };
    socket.setTimeout(10_000, () => fail(new Error(`connection with ${bodies.length} review(s): ${uids.length} answer(s) in 10 s`)));
    socket.on('data', (c: Buffer) => {
      try {
        buf = Buffer.concat([buf, c]);
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.subarray(0, end).toString('latin1');
          const length = Number(/content-length: (\d+)/i.exec(head)?.[1]);
          if (buf.length < end + 4 + length) return;
          assert.match(head, /^HTTP\/1\.1 200 /);
          const answer = JSON.parse(buf.subarray(end + 4, end + 4 + length).toString('latin1')) as ReviewAnswer;
          assert.equal(answer.response.patchType, 'JSONPatch');
          uids.push(answer.response.uid);
          buf = buf.subarray(end + 4 + length);
          if (uids.length === bodies.length) { socket.setTimeout(0); socket.end(); resolve(uids); }
        }
      } catch (e) { fail(e); }
    });
    socket.on('error', fail);
  });
  const batches = Array.from({ length: 12 }, (_, i) => Array.from({ length: 1 + (i % 3) }, () => podReview('CREATE', realisticPod('shop', { app: 'web', tier: 'frontend' }))));
  const got = await Promise.all(batches.map(pipelined));
  got.forEach((uids, i) => assert.deepEqual(uids, batches[i]!.map((b) => (b.request as { uid: string }).uid), `connection ${i}: its own answers, in order`));
  // a client that sends a whole review and leaves at once: its answer has nowhere to go
  await Promise.all(Array.from({ length: 6 }, () => new Promise<void>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: w.hook.port, ca, servername: 'localhost' }, () => {
      socket.write(requestBytes(podReview('CREATE', realisticPod())), () => { socket.destroy(); resolve(); });
    });
    socket.on('error', reject);
  })));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await w.get('/healthz')).status, 200);
  const after = await admit('/mutate-pod', podReview('CREATE', realisticPod()));
  assert.equal(after.response.patchType, 'JSONPatch', 'still answering');
});

test('metrics: Prometheus text with request counts', async () => {
  const r = await fetch(`http://127.0.0.1:${w.hook.metricsPort}/metrics`);
  assert.equal(r.status, 200);
  const text = await r.text();
  assert.match(text, /armorgate_admission_requests_total\{endpoint="mutate-pod",decision="patched"\} \d+/);
  assert.match(text, /armorgate_admission_duration_seconds_bucket\{le="0.005",endpoint="validate-pod"\} \d+/);
  assert.match(text, /armorgate_policies 3/);
  assert.match(text, /armorgate_ready 1/);
});

test('metrics: scraped and parsed: types, Prometheus names, process metrics, values that move with admissions and cache hits', async () => {
  const scrape = async () => parsePrometheus(await (await fetch(`http://127.0.0.1:${w.hook.metricsPort}/metrics`)).text());
  const before = await scrape();
  for (const [name, type] of [
    ['armorgate_admission_requests_total', 'counter'], ['armorgate_admission_duration_seconds', 'histogram'],
    ['armorgate_compile_cache_lookups_total', 'counter'], ['armorgate_compile_cache_entries', 'gauge'],
    ['armorgate_ready', 'gauge'], ['armorgate_policies', 'gauge'],
    ['process_cpu_seconds_total', 'counter'], ['process_resident_memory_bytes', 'gauge'], ['nodejs_eventloop_lag_seconds', 'gauge'],
  ] as const) assert.equal(before.types.get(name), type, name);
  for (const t of before.types.keys()) {
    assert.match(t, /^[a-z_][a-z0-9_]*$/, `${t}: Prometheus name`);
    if (before.types.get(t) === 'counter') assert.match(t, /_total$/, `${t}: a counter ends in _total`);
  }
  const patched = { endpoint: 'mutate-pod', decision: 'patched' };
  const n0 = sampleValue(before, 'armorgate_admission_requests_total', patched) ?? 0;
  const c0 = sampleValue(before, 'armorgate_admission_duration_seconds_count', { endpoint: 'mutate-pod' }) ?? 0;
  const hits0 = sampleValue(before, 'armorgate_compile_cache_lookups_total', { result: 'hit' }) ?? 0;
  // the same pod twice: the second is a cache hit
  await admit('/mutate-pod', podReview('CREATE', realisticPod()));
  await admit('/mutate-pod', podReview('CREATE', realisticPod()));
  const after = await scrape();
  assert.equal(sampleValue(after, 'armorgate_admission_requests_total', patched), n0 + 2);
  assert.equal(sampleValue(after, 'armorgate_admission_duration_seconds_count', { endpoint: 'mutate-pod' }), c0 + 2);
  assert.ok((sampleValue(after, 'armorgate_compile_cache_lookups_total', { result: 'hit' }) ?? 0) >= hits0 + 1, 'a cache hit counted');
  assert.ok((sampleValue(after, 'armorgate_compile_cache_entries') ?? 0) >= 1);
  // the metrics port also answers health
  assert.equal((await fetch(`http://127.0.0.1:${w.hook.metricsPort}/readyz`)).status, 200);
});

test('validate-policy: a path that never matches as written warns with its canonical form; ".." is refused naming the field', async () => {
  const slashes = policy('slashes', 'shop', { selector: { matchLabels: { app: 'x' } }, file: { matchPaths: [{ path: '/etc//shadow' }] }, action: 'Block' });
  const w1 = await admit('/validate-policy', policyReview(slashes));
  assert.equal(w1.response.allowed, true);
  assert.deepEqual(w1.response.warnings, ['spec.file.matchPaths[0].path: not canonical: enforced as "/etc/shadow"']);
  const dots = policy('dots', 'shop', { selector: { matchLabels: { app: 'x' } }, file: { matchDirectories: [{ dir: '/etc/../root/' }] }, action: 'Block' });
  const w2 = await admit('/validate-policy', policyReview(dots));
  assert.equal(w2.response.allowed, false);
  assert.match(w2.response.status!.message, /spec\.file\.matchDirectories\[0\]\.dir: has a "\.\." component: refused/);
});
