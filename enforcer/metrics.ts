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

export const NOT_ENFORCING_REASONS: readonly string[] = ['E_NO_KUBEPODS', 'E_UNAVAILABLE'];

export interface MapCounts { pods: number; rules: number; cgroups: number }

/** Creates the instruments; `counts` feeds the map-entries gauge at each collection (null: unknown);
 *  `notEnforcing` the enforcing gauges: null when the node enforces, else the code of why not. */
export function createMetrics(meter: Meter, counts: () => MapCounts | null, notEnforcing?: () => string | null): EnforcerMetrics {
  if (notEnforcing !== undefined) {
    const enforcing = meter.createObservableGauge('armorgate.enforcer.enforcing', {
      description: '1 when the node enforces, 0 when it does not (yet): armorgate.enforcer.not_enforcing says why',
    });
    enforcing.addCallback((result) => { result.observe(notEnforcing() === null ? 1 : 0); });
    // one series per reason (1 for the current one, 0 for the others): a reason that stopped
    // holding reads 0 instead of keeping its last value
    const reasons = new Set(NOT_ENFORCING_REASONS);
    const why = meter.createObservableGauge('armorgate.enforcer.not_enforcing', {
      description: 'Why the node does not enforce: 1 for the current reason (E_NO_KUBEPODS: no kubepods cgroup to attach to yet; E_UNAVAILABLE: the node cannot enforce), 0 for the others',
    });
    why.addCallback((result) => {
      const now = notEnforcing();
      if (now !== null) reasons.add(now);
      for (const r of reasons) result.observe(r === now ? 1 : 0, { reason: r });
    });
  }
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
