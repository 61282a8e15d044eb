// The webhook's Prometheus metrics (prom-client, through telemetry/prometheus.ts): admissions by
// endpoint and decision, admission latency, compile-cache hits, certificate and source reloads,
// gauges read at scrape time, and the process/runtime metrics.
//
// Adding a metric: a field `readonly x = this.m.counter(name, help, labelNames)` (or
// `.histogram(...)`) in the class below, or `metrics.gauge(name, help, read)` where the value
// lives (server.ts does so for the caches). Counters keep `inc(labels, by)` and `get(labels)`.
import type http from 'node:http';
import { MetricsRegistry, metricsServer as serve, type GaugeReading, type Health, type Labels } from '../telemetry/prometheus.ts';

export class WebhookMetrics {
  readonly m: MetricsRegistry;
  readonly requests;
  readonly duration;
  readonly tlsReloads;
  readonly sourceReloads;
  readonly reconcilePods;
  readonly policyStatusWrites;

  /** `processMetrics`: the process and Node.js runtime collectors (the daemon; tests leave them out). */
  constructor(o: { processMetrics?: boolean } = {}) {
    this.m = new MetricsRegistry(o);
    this.requests = this.m.counter('armorgate_admission_requests_total', 'Admission requests by endpoint and decision (allowed, denied, patched, bad_request, timeout: the body did not arrive in time, error).', ['endpoint', 'decision']);
    this.duration = this.m.histogram('armorgate_admission_duration_seconds', 'Time to decide an admission request, from its body read to its answer built (the answer is then written with the others of its event-loop pass).', ['endpoint'],
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]);
    this.tlsReloads = this.m.counter('armorgate_tls_reloads_total', 'Certificate reloads by result (ok, error).', ['result']);
    this.sourceReloads = this.m.counter('armorgate_source_reloads_total', 'Policy/namespace source reloads or relists by source and result.', ['source', 'result']);
    // live binding (reconciler.ts); its gauges (pending, leader, pods watched) are added with gauge()
    this.reconcilePods = this.m.counter('armorgate_reconcile_pods_total', 'Running pods the reconciler handled, by result (patched, gone: deleted meanwhile, conflict: retried, error, too_large and failed: not annotated).', ['result']);
    this.policyStatusWrites = this.m.counter('armorgate_policy_status_writes_total', 'Policy status writes by result (ok, gone, error).', ['result']);
  }

  /** A gauge read at each scrape (a reading that throws leaves no sample). */
  gauge(name: string, help: string, read: () => GaugeReading, labelNames: readonly string[] = []): void {
    this.m.gauge(name, help, read, labelNames);
  }

  /** A counter kept elsewhere, read at each scrape. */
  counterFrom(name: string, help: string, read: () => number | readonly { labels: Labels; value: number }[], labelNames: readonly string[] = []): void {
    this.m.counterFrom(name, help, read, labelNames);
  }

  /** The Prometheus text exposition. */
  render(): Promise<string> { return this.m.text(); }
}

/** Plain HTTP server answering GET /metrics (and /healthz, /readyz when `health` is given). */
export function metricsServer(metrics: WebhookMetrics, health?: Health): http.Server {
  return serve(metrics.m, health);
}
