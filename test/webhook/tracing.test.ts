// Admission spans: attributes with the SDK's in-memory exporter, W3C traceparent continued or
// ignored when malformed, and once through the OTLP/HTTP exporter into a local receiver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ContextOnlyTracer, contextFromTraceparent, formatTraceparent, setupTelemetry } from '../../telemetry/index.ts';
import { answerReview, type AppDeps } from '../../webhook/app.ts';
import { CompileCache, type GatewayView } from '../../webhook/decide.ts';
import { WebhookMetrics } from '../../webhook/metrics.ts';
import { DEFAULT_POSTURE } from '../../policy/posture.ts';
import { validatePolicy } from '../../policy/validate.ts';
import type { Policy } from '../../policy/types.ts';
import { BLOCK_SHADOW, GATEWAY_USER, podReview, realisticPod, startTestWebhook } from './fixtures.ts';

function deps(tracer: AppDeps['tracer']): AppDeps & { cache: CompileCache } {
  const policies = [validatePolicy(BLOCK_SHADOW).policy as Policy];
  const view: GatewayView = {
    policies: () => policies, policiesVersion: () => 1, namespace: () => null,
    signingKey: Buffer.alloc(32, 7), defaultPosture: { ...DEFAULT_POSTURE }, gatewayUser: GATEWAY_USER,
  };
  return { view, tracer, logger: pino({ level: 'silent' }), metrics: new WebhookMetrics(), notReady: () => null, cache: new CompileCache() };
}

test('traceparent helpers: continue a valid header, ignore a malformed one, format flags', () => {
  const ctx = contextFromTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  const sc = trace.getSpanContext(ctx)!;
  assert.equal(sc.traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(sc.isRemote, true);
  assert.equal(formatTraceparent(sc), '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  for (const bad of [undefined, '', 'garbage', '00-00000000000000000000000000000000-b7ad6b7169203331-01', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033-01']) {
    assert.equal(trace.getSpanContext(contextFromTraceparent(bad)), undefined, String(bad));
  }
  assert.equal(formatTraceparent({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 0 }), `00-${'a'.repeat(32)}-${'b'.repeat(16)}-00`);
  const none = setupTelemetry({ serviceName: 't', env: {}, global: false });
  assert.equal(none.exporting, false, 'nothing exported when no OTEL_* variable asks for it');
  const otlp = setupTelemetry({ serviceName: 't', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' }, global: false });
  assert.equal(otlp.exporting, true);
  const off = setupTelemetry({ serviceName: 't', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_TRACES_EXPORTER: 'none' }, global: false });
  assert.equal(off.exporting, false);
  void Promise.all([none.shutdown(), otlp.shutdown(), off.shutdown()]);
});

test('one span per admission request with uid, kind, namespace, name, operation, decision', () => {
  const mem = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: mem })] });
  const d = deps(provider.getTracer('t'));
  const pod = realisticPod();
  const unsigned = podReview('CREATE', pod, { name: 'web-1' });
  const a = answerReview('validate-pod', Buffer.from(JSON.stringify(unsigned)), {}, d);
  assert.equal(a.status, 200);
  const b = answerReview('mutate-pod', Buffer.from('{"nope'), { traceparent: 'not-a-traceparent' }, d);
  assert.equal(b.status, 400);
  const spans = mem.getFinishedSpans();
  assert.equal(spans.length, 2);
  const [s1, s2] = spans;
  assert.equal(s1!.name, 'admission validate-pod');
  assert.equal(s1!.parentSpanContext, undefined, 'a root span without traceparent');
  assert.deepEqual({ ...s1!.attributes }, {
    'armorgate.endpoint': 'validate-pod',
    'k8s.admission.uid': (unsigned.request as { uid: string }).uid,
    'k8s.admission.kind': 'v1/Pod',
    'k8s.admission.operation': 'CREATE',
    'k8s.namespace.name': 'shop',
    'k8s.object.name': 'web-1',
    'k8s.admission.dry_run': false,
    'armorgate.decision': 'denied',
    'armorgate.reason': s1!.attributes['armorgate.reason'],
  });
  assert.match(String(s1!.attributes['armorgate.reason']), /not what the gateway writes/);
  assert.equal(s2!.attributes['armorgate.decision'], 'bad_request');
  assert.equal(s2!.status.code, 2 /* ERROR */);
  assert.equal(d.metrics.requests.get({ endpoint: 'mutate-pod', decision: 'bad_request' }), 1);
});

test('spans leave through the OTLP/HTTP exporter into a local receiver', async () => {
  const received: { path: string; contentType: string; body: string }[] = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', contentType: String(req.headers['content-type']), body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const saved = { ...process.env };
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint; // the exporter reads the standard variables itself
  process.env.OTEL_SERVICE_NAME = 'armorgate-webhook-test';
  process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
  delete process.env.OTEL_TRACES_EXPORTER;
  delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const tel = setupTelemetry({ serviceName: 'armorgate-webhook' });
  const w = await startTestWebhook({ tracer: tel.tracer });
  try {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const r = await w.post('/mutate-pod', podReview('CREATE', realisticPod()), { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    assert.equal(r.status, 200);
    await tel.forceFlush();
    const traces = received.filter((x) => x.path === '/v1/traces');
    assert.ok(traces.length >= 1, `an export to /v1/traces (got ${received.map((x) => x.path).join(', ')})`);
    assert.match(traces[0]!.contentType, /application\/json/);
    const body = traces.map((x) => x.body).join('\n');
    assert.ok(body.includes(traceId), 'the span continues the incoming trace');
    assert.ok(body.includes('admission mutate-pod'));
    assert.ok(body.includes('armorgate-webhook-test'), 'service.name from OTEL_SERVICE_NAME');
    assert.ok(body.includes('armorgate.profile_digest'));
  } finally {
    await w.close();
    await tel.shutdown();
    process.env = saved;
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
});

test('nothing exported: spans carry only their context (ids, sampler flag), continue the trace, cost no recording', () => {
  const tel = setupTelemetry({ serviceName: 't', env: {}, global: false });
  assert.ok(tel.tracer instanceof ContextOnlyTracer);
  const root = tel.tracer.startSpan('root');
  assert.equal(root.isRecording(), false);
  const sc = root.spanContext();
  assert.match(sc.traceId, /^[0-9a-f]{32}$/);
  assert.match(sc.spanId, /^[0-9a-f]{16}$/);
  assert.ok(trace.isSpanContextValid(sc));
  assert.equal(sc.traceFlags, 1, 'parentbased_always_on: a root span is sampled');
  const other = tel.tracer.startSpan('root');
  assert.notEqual(other.spanContext().traceId, sc.traceId);
  assert.notEqual(other.spanContext().spanId, sc.spanId);
  // a child of an incoming traceparent: same trace, new span id, the parent's flag
  const child = tel.tracer.startSpan('child', {}, contextFromTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'k=v'));
  assert.equal(child.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.notEqual(child.spanContext().spanId, 'b7ad6b7169203331');
  assert.equal(child.spanContext().traceFlags, 1);
  assert.equal(child.spanContext().traceState?.get('k'), 'v');
  const unsampled = tel.tracer.startSpan('child', {}, contextFromTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00'));
  assert.equal(unsampled.spanContext().traceFlags, 0, 'parent-based: an unsampled parent gives an unsampled child');
  assert.equal(tel.tracer.startSpan('r', { root: true }, contextFromTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')).spanContext().traceId === '0af7651916cd43dd8448eb211c80319c', false, 'root: true starts a new trace');
  // the sampler from OTEL_TRACES_SAMPLER still decides the flag
  const off = setupTelemetry({ serviceName: 't', env: { OTEL_TRACES_SAMPLER: 'always_off' }, global: false });
  assert.equal(off.tracer.startSpan('x').spanContext().traceFlags, 0);
  // startActiveSpan: the span is active inside and its value returned
  const got = tel.tracer.startActiveSpan('active', (span) => { assert.equal(trace.getActiveSpan(), span); return 42; });
  assert.equal(got, 42);
  // and the webhook writes it as the pod's traceparent, continuing the incoming trace
  const d = deps(tel.tracer);
  const a = answerReview('mutate-pod', Buffer.from(JSON.stringify(podReview('CREATE', realisticPod()))), { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, d);
  const ops = JSON.parse(Buffer.from((JSON.parse(a.body) as { response: { patch: string } }).response.patch, 'base64').toString('utf8')) as { path: string; value: string }[];
  assert.match(ops.find((o) => o.path === '/metadata/annotations/armorgate.io~1traceparent')!.value, /^00-4bf92f3577b34da6a3ce929d0e0e4736-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$/);
  void Promise.all([tel.shutdown(), off.shutdown()]);
});

test('OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf by default (protobuf bodies), http/json honoured, grpc and unknown values refused naming the variable', async () => {
  const received: { path: string; contentType: string; body: Buffer }[] = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => { received.push({ path: req.url ?? '', contentType: String(req.headers['content-type']), body: Buffer.concat(chunks) }); res.writeHead(200); res.end(); });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const saved = { ...process.env };
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  for (const k of ['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) delete process.env[k];
  try {
    const tel = setupTelemetry({ serviceName: 't', global: false });
    const span = tel.tracer.startSpan('proto-span', {}, contextFromTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'));
    span.end();
    await tel.forceFlush();
    await tel.shutdown();
    const t = received.find((x) => x.path === '/v1/traces');
    assert.ok(t, 'exported');
    assert.equal(t.contentType, 'application/x-protobuf');
    assert.ok(t.body.includes(Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex')), 'the trace id, as protobuf bytes');
  } finally {
    process.env = saved;
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
  const refused = (env: Record<string, string>): string => {
    try { setupTelemetry({ serviceName: 't', env, global: false }); } catch (e) { return (e as Error).message; }
    return 'accepted';
  };
  assert.match(refused({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), /^OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported by this build.*http\/protobuf \(the default\) or http\/json/);
  assert.match(refused({ OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'thrift' }), /^OTEL_EXPORTER_OTLP_LOGS_PROTOCOL="thrift": unknown protocol; one of http\/protobuf, http\/json/);
  assert.match(refused({ OTEL_PROPAGATORS: 'tracecontext,b3' }), /^OTEL_PROPAGATORS="tracecontext,b3": "b3" is not supported; use tracecontext, baggage, or none/);
  assert.match(refused({ OTEL_LOGS_EXPORTER: 'zipkin' }), /^OTEL_LOGS_EXPORTER="zipkin": unknown exporter "zipkin"/);
  assert.equal(refused({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_PROPAGATORS: 'baggage,tracecontext' }), 'accepted');
});

test('OTEL_PROPAGATORS=none: an incoming traceparent header is not continued; the default continues it', () => {
  const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  try {
    setupTelemetry({ serviceName: 't', env: { OTEL_PROPAGATORS: 'none' } });
    assert.equal(trace.getSpanContext(contextFromTraceparent(tp)), undefined);
    setupTelemetry({ serviceName: 't', env: {} });
    assert.equal(trace.getSpanContext(contextFromTraceparent(tp))?.traceId, '0af7651916cd43dd8448eb211c80319c');
  } finally {
    setupTelemetry({ serviceName: 't', env: {} });
  }
});

test('the CLI refuses an OTEL_* value it cannot honour before starting (exit 2, the variable named)', async () => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, [path.join(import.meta.dirname, '..', '..', 'bin', 'armorgate.js'), 'webhook', '--policies-dir=/nonexistent'],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported/);
});
