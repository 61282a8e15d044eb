// The enforcer's OpenTelemetry metrics: events by action, attach latency, map entries, dropped events.
import type { Counter, Histogram, Meter } from '@opentelemetry/api';

export interface EnforcerMetrics {
  /** Kernel decisions reported, by `action` (Audit|Block|Allow) and `result` (passed|denied). */
  events: Counter;
  /** Time to load or replace one pod's profile in the kernel, milliseconds. */
  attachMs: Histogram;
  /** Events the kernel dropped (rate limit, full ring buffer). */
  dropped: Counter;
}

export interface MapCounts { pods: number; rules: number; cgroups: number }

/** Creates the instruments; `counts` feeds the map-entries gauge at each collection (null: unknown). */
export function createMetrics(meter: Meter, counts: () => MapCounts | null): EnforcerMetrics {
  const gauge = meter.createObservableGauge('armorgate.enforcer.map.entries', {
    description: 'Entries in the enforcer\'s kernel maps, by map',
    unit: '{entry}',
  });
  gauge.addCallback((result) => {
    const c = counts();
    if (c === null) return;
    result.observe(c.pods, { map: 'pods' });
    result.observe(c.rules, { map: 'rules' });
    result.observe(c.cgroups, { map: 'cgroups' });
  });
  return {
    events: meter.createCounter('armorgate.enforcer.events', { description: 'Kernel decisions reported as alerts', unit: '{event}' }),
    attachMs: meter.createHistogram('armorgate.enforcer.attach.duration', { description: 'Time to load a pod profile into the kernel', unit: 'ms' }),
    dropped: meter.createCounter('armorgate.enforcer.events.dropped', { description: 'Kernel events dropped before reaching userspace', unit: '{event}' }),
  };
}
