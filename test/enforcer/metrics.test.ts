// The enforcer's instruments, collected through a real MeterProvider.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { createMetrics } from '../../enforcer/metrics.ts';

class PullReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

test('events by action, attach latency, map entries and dropped events are recorded', async () => {
  const reader = new PullReader();
  const provider = new MeterProvider({ readers: [reader] });
  const counts = { pods: 3, rules: 17, cgroups: 5 };
  const m = createMetrics(provider.getMeter('test'), () => counts);
  m.events.add(1, { action: 'Block', result: 'denied' });
  m.events.add(2, { action: 'Audit', result: 'passed' });
  m.attachMs.record(1.5);
  m.attachMs.record(4);
  m.dropped.add(37);
  const { resourceMetrics } = await reader.collect();
  const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
  const byName = new Map(all.map((x) => [x.descriptor.name, x]));
  const events = byName.get('armorgate.enforcer.events');
  assert.deepEqual(events?.dataPoints.map((d) => [d.attributes.action, d.value]).sort(), [['Audit', 2], ['Block', 1]]);
  const hist = byName.get('armorgate.enforcer.attach.duration')?.dataPoints[0]?.value as { count: number; sum: number };
  assert.equal(hist.count, 2);
  assert.equal(hist.sum, 5.5);
  assert.equal(byName.get('armorgate.enforcer.events.dropped')?.dataPoints[0]?.value, 37);
  const gauge = byName.get('armorgate.enforcer.map.entries');
  assert.deepEqual(gauge?.dataPoints.map((d) => [d.attributes.map, d.value]).sort(), [['cgroups', 5], ['pods', 3], ['rules', 17]]);
  await provider.shutdown();
});

test('the enforcing gauges: 1 when enforcing, else 0 and the reason', async () => {
  const reader = new PullReader();
  const provider = new MeterProvider({ readers: [reader] });
  let why: string | null = 'E_NO_KUBEPODS';
  createMetrics(provider.getMeter('test'), () => null, () => why);
  const read = async (name: string) => {
    const { resourceMetrics } = await reader.collect();
    const m = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((x) => x.descriptor.name === name);
    return m?.dataPoints.map((d) => [d.attributes.reason ?? null, d.value]).sort();
  };
  assert.deepEqual(await read('armorgate.enforcer.enforcing'), [[null, 0]]);
  assert.deepEqual(await read('armorgate.enforcer.not_enforcing'), [['E_NO_KUBEPODS', 1], ['E_UNAVAILABLE', 0]]);
  why = null;
  assert.deepEqual(await read('armorgate.enforcer.enforcing'), [[null, 1]]);
  assert.deepEqual(await read('armorgate.enforcer.not_enforcing'), [['E_NO_KUBEPODS', 0], ['E_UNAVAILABLE', 0]]);
  await provider.shutdown();
});
