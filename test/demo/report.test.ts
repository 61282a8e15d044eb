// The demo's OTLP receiver and report, on the host: spans and log records exported by the real
// OTLP/HTTP exporters arrive with their parents and trace context, and the trace tree hangs each
// alert log record under the span it was recorded in; attempts and alerts print as the report promises.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { alertRecorder } from '../../enforcer/alert-records.ts';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { spansFromOtlpJson, startReceiver } from '../../demo/otlp-receiver.ts';
import { compactAlerts, formatAlerts, formatAttempts, formatTraceTree } from '../../demo/report.ts';

test('OTLP/HTTP JSON from the real exporters: parents, attributes, alert log records in their span', async () => {
  const receiver = await startReceiver();
  try {
    const provider = (service: string): TracerProvider => new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': service }),
      spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${receiver.endpoint}/v1/traces` }) })],
    });
    const hook = provider('armorgate-webhook');
    const node = provider('armorgate-enforcer');
    const admission = hook.getTracer('t').startSpan('admission mutate-pod', { attributes: { 'armorgate.endpoint': 'mutate-pod' } });
    const attach = node.getTracer('t').startSpan('armorgate.enforcer.attach', {}, trace.setSpan(context.active(), admission));
    attach.end();
    admission.end();
    const logProvider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': 'armorgate-enforcer' }),
      processors: [new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${receiver.endpoint}/v1/logs` }) })],
    });
    alertRecorder(logProvider.getLogger('t'))({
      Type: 'MatchedPolicy', UpdatedTime: new Date().toISOString(), Action: 'Block', Operation: 'File', ProcessName: '/usr/bin/head',
      Resource: '/run/secrets/token', Result: 'Operation not permitted', PolicyName: 'p',
    }, attach.spanContext());
    await hook.forceFlush();
    await node.forceFlush();
    await logProvider.forceFlush();
    await hook.shutdown();
    await node.shutdown();
    await logProvider.shutdown();

    assert.deepEqual(receiver.problems, []);
    const by = new Map(receiver.spans.map((s) => [s.name, s]));
    assert.equal(by.get('admission mutate-pod')?.service, 'armorgate-webhook');
    assert.equal(by.get('armorgate.enforcer.attach')?.parentSpanId, admission.spanContext().spanId);
    const [log] = receiver.logs;
    assert.equal(log?.traceId, admission.spanContext().traceId);
    assert.equal(log?.spanId, attach.spanContext().spanId);
    assert.equal((log?.body as Record<string, unknown>).Resource, '/run/secrets/token');
    assert.equal(log?.service, 'armorgate-enforcer');
    assert.ok((by.get('admission mutate-pod')?.startMs ?? 0) > 1.7e12, 'epoch milliseconds');

    const tree = formatTraceTree(receiver.spans, admission.spanContext().traceId, receiver.spans.length, undefined, receiver.logs).split('\n');
    assert.match(tree[0] ?? '', /^ {2}admission mutate-pod {2}\[armorgate-webhook\]/);
    assert.match(tree[1] ?? '', /^ {2}└─ armorgate\.enforcer\.attach {2}\[armorgate-enforcer\]/);
    assert.match(tree[2] ?? '', /^ {5}└┈ log: armorgate\.alert {2}\[armorgate-enforcer\] .*Block File \/usr\/bin\/head → \/run\/secrets\/token : Operation not permitted {2}\[p\]/);
  } finally {
    await receiver.close();
  }
});

test('OTLP JSON: base64 ids and {low, high} times are normalised', () => {
  const [s] = spansFromOtlpJson({
    resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'x' } }] }, scopeSpans: [{ spans: [{
      traceId: Buffer.from('0123456789abcdef0123456789abcdef', 'hex').toString('base64'), spanId: Buffer.from('0123456789abcdef', 'hex').toString('base64'),
      name: 'n', startTimeUnixNano: { low: 0, high: 1 }, endTimeUnixNano: '8589934592', attributes: [{ key: 'k', value: { intValue: '7' } }],
    }] }] }],
  });
  assert.equal(s?.traceId, '0123456789abcdef0123456789abcdef');
  assert.equal(s?.spanId, '0123456789abcdef');
  assert.equal(s?.startMs, 4294.967);
  assert.equal(s?.endMs, 8589.934);
  assert.equal(s?.attributes.k, 7);
});

test('report: attempts marked against expectations; alerts compacted, Block first', () => {
  const text = formatAttempts([
    { container: 'web', what: 'run dpkg', command: 'dpkg --version', expect: 'denied', outcome: 'denied', why: 'no-package-managers', detail: 'Operation not permitted' },
    { container: null, what: 'run dpkg outside', command: 'dpkg --version', expect: 'allowed', outcome: 'denied', why: 'none', detail: '' },
  ]);
  assert.match(text, /DENIED +container web/);
  assert.match(text, /DENIED \(expected allowed\) outside any pod/);
  const audit = (i: number) => ({ Action: 'Audit', Operation: 'File', Resource: `/f${i}` });
  const r = compactAlerts({ alerts: [...Array.from({ length: 40 }, (_, i) => audit(i)), { Action: 'Block', Operation: 'Process', Resource: '/usr/bin/dpkg' }], spans: [] });
  assert.equal(r.alertCount, 41);
  assert.equal(r.alerts.length, 13);
  assert.equal(r.alerts[0]?.Action, 'Block');
  assert.match(formatAlerts(r.alerts, r.alertCount ?? 0), /41 alerts in all: 1 Block, 40 others \(12 shown\)/);
});
