// The enforcer's instruments, read back through the Prometheus text they render.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from '../../enforcer/metrics.ts';
import { parsePrometheus, sampleValue } from '../support/prom-text.ts';

test('events by action, attach and swap latency, map entries, fill ratio, rules, pods and dropped events are recorded', async () => {
  const counts = { pods: 3, rules: 17, cgroups: 5 };
  const m = createMetrics({
    counts: () => counts, capacity: () => ({ pods: 16384, rules: 262144, cgroups: 65536 }),
    pods: () => [{ state: 'enforced', reason: '', count: 2 }, { state: 'not_enforced', reason: 'E_SIGNATURE', count: 1 }],
  });
  m.events.inc({ action: 'Block', result: 'denied' });
  m.events.inc({ action: 'Audit', result: 'passed' }, 2);
  m.attachSeconds.observe({ op: 'attach' }, 0.0015);
  m.attachSeconds.observe({ op: 'swap' }, 0.004);
  m.dropped.inc({}, 37);
  m.alerts.inc({ type: 'MatchedPolicy', operation: 'File' });
  const s = parsePrometheus(await m.registry.text());
  assert.equal(s.types.get('armorgate_enforcer_events_total'), 'counter');
  assert.equal(sampleValue(s, 'armorgate_enforcer_events_total', { action: 'Block', result: 'denied' }), 1);
  assert.equal(sampleValue(s, 'armorgate_enforcer_events_total', { action: 'Audit', result: 'passed' }), 2);
  assert.equal(s.types.get('armorgate_enforcer_attach_duration_seconds'), 'histogram');
  assert.equal(sampleValue(s, 'armorgate_enforcer_attach_duration_seconds_count', { op: 'attach' }), 1);
  assert.equal(sampleValue(s, 'armorgate_enforcer_attach_duration_seconds_sum', { op: 'swap' }), 0.004);
  assert.equal(sampleValue(s, 'armorgate_enforcer_events_dropped_total'), 37);
  assert.equal(sampleValue(s, 'armorgate_enforcer_alerts_total', { type: 'MatchedPolicy', operation: 'File' }), 1);
  assert.equal(sampleValue(s, 'armorgate_enforcer_map_entries', { map: 'rules' }), 17);
  assert.equal(sampleValue(s, 'armorgate_enforcer_rules_loaded'), 17);
  assert.equal(sampleValue(s, 'armorgate_enforcer_map_fill_ratio', { map: 'pods' }), 3 / 16384);
  assert.equal(sampleValue(s, 'armorgate_enforcer_pods', { state: 'enforced' }), 2);
  assert.equal(sampleValue(s, 'armorgate_enforcer_pods', { state: 'not_enforced', reason: 'E_SIGNATURE' }), 1);
  counts.rules = 20;
  assert.equal(sampleValue(parsePrometheus(await m.registry.text()), 'armorgate_enforcer_rules_loaded'), 20, 'gauges are read at scrape time');
});

test('the enforcing gauges: 1 when enforcing, else 0 and the reason', async () => {
  let why: string | null = 'E_NO_KUBEPODS';
  const m = createMetrics({ counts: () => null, notEnforcing: () => why });
  const read = async () => parsePrometheus(await m.registry.text());
  let s = await read();
  assert.equal(sampleValue(s, 'armorgate_enforcer_enforcing'), 0);
  assert.equal(sampleValue(s, 'armorgate_enforcer_not_enforcing', { reason: 'E_NO_KUBEPODS' }), 1);
  assert.equal(sampleValue(s, 'armorgate_enforcer_not_enforcing', { reason: 'E_UNAVAILABLE' }), 0);
  assert.equal(sampleValue(s, 'armorgate_enforcer_map_entries'), undefined, 'no kernel: no map samples');
  why = null;
  s = await read();
  assert.equal(sampleValue(s, 'armorgate_enforcer_enforcing'), 1);
  assert.equal(sampleValue(s, 'armorgate_enforcer_not_enforcing', { reason: 'E_NO_KUBEPODS' }), 0);
});

test('visibility logs emitted and dropped; the gRPC feed\'s watchers and drops by rpc, read from its stats at scrape', async () => {
  const feed = { alerts: { watchers: 2, dropped: 0 }, logs: { watchers: 1, dropped: 41 }, messages: { watchers: 0, dropped: 0 } };
  let serving = true;
  const m = createMetrics({ counts: () => null, grpc: () => (serving ? feed : null) });
  m.logs.inc({ operation: 'File' });
  m.logs.inc({ operation: 'File' });
  m.logs.inc({ operation: 'Process' });
  m.logsDropped.inc({}, 120);
  let s = parsePrometheus(await m.registry.text());
  assert.equal(s.types.get('armorgate_enforcer_logs_total'), 'counter');
  assert.equal(sampleValue(s, 'armorgate_enforcer_logs_total', { operation: 'File' }), 2);
  assert.equal(sampleValue(s, 'armorgate_enforcer_logs_total', { operation: 'Process' }), 1);
  assert.equal(s.types.get('armorgate_enforcer_logs_dropped_total'), 'counter');
  assert.equal(sampleValue(s, 'armorgate_enforcer_logs_dropped_total'), 120);
  assert.equal(s.types.get('armorgate_enforcer_grpc_watchers'), 'gauge');
  assert.equal(s.types.get('armorgate_enforcer_grpc_dropped_total'), 'counter');
  assert.equal(sampleValue(s, 'armorgate_enforcer_grpc_watchers', { rpc: 'WatchAlerts' }), 2);
  assert.equal(sampleValue(s, 'armorgate_enforcer_grpc_watchers', { rpc: 'WatchMessages' }), 0);
  assert.equal(sampleValue(s, 'armorgate_enforcer_grpc_dropped_total', { rpc: 'WatchLogs' }), 41);
  assert.equal(sampleValue(s, 'armorgate_enforcer_grpc_dropped_total', { rpc: 'WatchAlerts' }), 0);
  feed.logs.dropped = 50;
  feed.alerts.watchers = 3;
  s = parsePrometheus(await m.registry.text());
  assert.equal(sampleValue(s, 'armorgate_enforcer_grpc_dropped_total', { rpc: 'WatchLogs' }), 50, 'read at scrape');
  assert.equal(sampleValue(s, 'armorgate_enforcer_grpc_watchers', { rpc: 'WatchAlerts' }), 3);
  serving = false;
  s = parsePrometheus(await m.registry.text());
  assert.equal(sampleValue(s, 'armorgate_enforcer_grpc_watchers', { rpc: 'WatchAlerts' }), undefined, 'no server: no samples');
});
