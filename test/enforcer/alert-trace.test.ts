// One trace from admission to alert, on the host, through the real OTLP/HTTP exporters into a
// local receiver (demo/otlp-receiver.ts): the webhook's admission span continues the API server's
// traceparent and writes armorgate.io/traceparent into the pod; the enforcer's attach span
// continues it; kernel events (injected: the kernel itself needs the VM), an alert and a visibility
// log, become OpenTelemetry log records carrying that trace id and the attach span's id. Resource
// attributes come from the downward-API variables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import jsonpatch from 'fast-json-patch';
import { startReceiver } from '../../demo/otlp-receiver.ts';
import { alertRecorder } from '../../enforcer/alert-records.ts';
import type { KubeArmorAlert } from '../../enforcer/alerts.ts';
import type { KubeArmorLog } from '../../enforcer/visibility.ts';
import { CgroupResolver } from '../../enforcer/cgroup.ts';
import { Reconciler } from '../../enforcer/reconciler.ts';
import { verifyAnnotations } from '../../policy/sign.ts';
import type { Pod, Result } from '../../policy/types.ts';
import { setupTelemetry } from '../../telemetry/index.ts';
import { REPO_ROOT } from '../policy/kubearmor-data.ts';
import { podReview, realisticPod, startTestWebhook } from '../webhook/fixtures.ts';

const ok: Result<void> = { ok: true, value: undefined };
const fakeKernel = {
  setPod: () => ok, removePod: () => ok, sweep: () => ({ ok: true as const, value: 0 }),
  counts: () => ({ ok: false as const, error: { code: 'E_FAKE', message: 'no maps' } }),
};

async function until(cond: () => boolean, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    assert.ok(Date.now() - t0 < 20_000, what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('admission span, attach span and the alert log record share the pod\'s trace; resource attributes from the downward API', async () => {
  const receiver = await startReceiver();
  const saved = { ...process.env };
  Object.assign(process.env, {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '50',
    NODE_NAME: 'node-7', POD_NAME: 'armorgate-enforcer-x1y2z', POD_NAMESPACE: 'armorgate', POD_UID: '0f0e0d0c-0b0a-4908-8706-050403020100',
  });
  for (const k of ['OTEL_TRACES_EXPORTER', 'OTEL_LOGS_EXPORTER', 'OTEL_SERVICE_NAME', 'OTEL_RESOURCE_ATTRIBUTES', 'OTEL_SDK_DISABLED', 'OTEL_PROPAGATORS']) delete process.env[k];
  const webhookTel = setupTelemetry({ serviceName: 'armorgate-webhook' });
  const enforcerTel = setupTelemetry({ serviceName: 'armorgate-enforcer', global: false });
  const w = await startTestWebhook({ tracer: webhookTel.tracer });
  try {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const original = realisticPod();
    original.metadata = { ...original.metadata, name: 'web-1', uid: '11111111-2222-4333-8444-555555555555' };
    const r = await w.post('/mutate-pod', podReview('CREATE', original), { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    assert.equal(r.status, 200);
    const patch = (r.json as { response: { patch: string } }).response.patch;
    const pod = jsonpatch.applyPatch(structuredClone(original), JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as jsonpatch.Operation[], true, false).newDocument as Pod;

    const alerts: KubeArmorAlert[] = [];
    const rec = new Reconciler({
      kernel: fakeKernel, resolver: new CgroupResolver('/nonexistent/cgroup'), verify: (a, ns) => verifyAnnotations(a, ns, w.hook.signingKey),
      emit: (a) => alerts.push(a), record: alertRecorder(enforcerTel.logger), log: { info() {}, warn() {}, error() {}, debug() {} },
      tracer: enforcerTel.tracer, clusterName: 'c', nodeName: 'node-7', processName: () => '/bin/sh',
    });
    assert.equal(rec.upsert(pod), 'enforced');
    rec.onKernelEvent({
      type: 'decision', cgroupId: 42n, podUid: pod.metadata!.uid!, pid: 4242, ppid: 4200, uid: 0, exe: '/bin/cat', source: '/bin/sh',
      target: '/etc/shadow', hook: 'file_open', kind: 'file', action: 'Block', denied: true, errno: 1, rule: null, timeNs: 1,
    });
    assert.equal(alerts.length, 1);
    // a visibility log of the same pod: a log record on the same trace too
    rec.onKernelEvent({
      type: 'log', cgroupId: 42n, podUid: pod.metadata!.uid!, pid: 4243, ppid: 4200, uid: 0, exe: '/bin/cat', source: '/bin/cat',
      target: '/etc/hostname', hook: 'open', kind: 'file', action: 'Allow', denied: false, errno: 0, rule: null, timeNs: 2,
    });
    assert.equal(alerts.length, 1, 'a log is no alert');
    await Promise.all([webhookTel.forceFlush(), enforcerTel.forceFlush()]);
    await until(() => receiver.logs.length >= 2 && receiver.spans.some((s) => s.name === 'armorgate.enforcer.attach'), 'spans and the two log records received');
    assert.deepEqual(receiver.problems, []);

    const admission = receiver.spans.find((s) => s.name === 'admission mutate-pod');
    const attach = receiver.spans.find((s) => s.name === 'armorgate.enforcer.attach');
    assert.equal(admission?.traceId, traceId, 'admission continues the API server\'s trace');
    assert.equal(attach?.traceId, traceId, 'attach continues the pod\'s armorgate.io/traceparent');
    assert.equal(attach?.parentSpanId, admission?.spanId);
    assert.ok(!receiver.spans.some((s) => s.name === 'armorgate.enforcer.alert'), 'an alert is no span');
    const log = receiver.logs.find((l) => (l.body as KubeArmorAlert).Type === 'MatchedPolicy');
    assert.ok(log);
    assert.equal(log.traceId, traceId, 'the alert is on the pod\'s trace');
    assert.equal(log.spanId, attach?.spanId, 'in the attach span');
    assert.equal(log.eventName, 'armorgate.alert');
    assert.equal(log.severityText, 'WARN');
    assert.equal((log.body as KubeArmorAlert).Resource, '/etc/shadow');
    assert.equal((log.body as KubeArmorAlert).PodName, 'web-1');
    assert.equal(log.attributes['k8s.pod.name'], 'web-1', 'the alerted pod, as an attribute');
    const visibility = receiver.logs.find((l) => (l.body as KubeArmorLog).Type === 'ContainerLog');
    assert.ok(visibility, 'the visibility log is a log record');
    assert.equal(visibility.traceId, traceId, 'on the pod\'s trace');
    assert.equal(visibility.spanId, attach?.spanId, 'in the attach span');
    assert.equal(visibility.severityText, 'INFO');
    assert.equal(visibility.attributes['armorgate.alert.type'], 'ContainerLog');
    assert.equal(visibility.attributes['armorgate.alert.operation'], 'File');
    assert.equal((visibility.body as KubeArmorLog).Resource, '/etc/hostname');
    assert.equal((visibility.body as KubeArmorLog).Data, 'lsm=FILE_OPEN');

    const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    assert.deepEqual(
      ['service.name', 'service.version', 'service.instance.id', 'k8s.node.name', 'k8s.pod.name', 'k8s.namespace.name'].map((k) => log.resource[k]),
      ['armorgate-enforcer', version, '0f0e0d0c-0b0a-4908-8706-050403020100', 'node-7', 'armorgate-enforcer-x1y2z', 'armorgate'],
      'the enforcer\'s own resource: the daemon pod, not the alerted pod',
    );
  } finally {
    await w.close();
    await webhookTel.shutdown();
    await enforcerTel.shutdown();
    process.env = saved;
    await receiver.close();
  }
});
