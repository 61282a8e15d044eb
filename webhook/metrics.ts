// A small Prometheus registry (text exposition format 0.0.4): counters, gauges read at
// scrape time, and fixed-bucket histograms. Enough for the webhook's /metrics; no dependency.
import http from 'node:http';

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

const labelTexts = new Map<string, string>();
/** labelText, memoised: the label sets in use are few and fixed. */
function labelKey(labels: Labels): string {
  let raw = '';
  for (const k in labels) raw += `${k}\u0000${labels[k]}\u0001`;
  let t = labelTexts.get(raw);
  if (t === undefined) {
    t = labelText(labels);
    if (labelTexts.size < 10_000) labelTexts.set(raw, t);
  }
  return t;
}

class Counter {
  private readonly values = new Map<string, number>();
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) { this.name = name; this.help = help; }
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number { return this.values.get(labelKey(labels)) ?? 0; }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    for (const [k, v] of this.values) out += `${this.name}${k} ${v}\n`;
    return out;
  }
}

class Histogram {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number; labels: Labels }>();
  readonly name: string;
  readonly help: string;
  readonly buckets: number[];
  constructor(name: string, help: string, buckets: number[]) { this.name = name; this.help = help; this.buckets = buckets; }
  observe(labels: Labels, value: number): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (s === undefined) { s = { counts: this.buckets.map(() => 0), sum: 0, count: 0, labels }; this.series.set(k, s); }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => { out += `${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}\n`; });
      out += `${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}\n`;
      out += `${this.name}_sum${labelText(s.labels)} ${s.sum}\n${this.name}_count${labelText(s.labels)} ${s.count}\n`;
    }
    return out;
  }
}

/** The webhook's metrics. Gauges are callbacks read at scrape time. */
export class WebhookMetrics {
  readonly requests = new Counter('armorgate_admission_requests_total', 'Admission requests by endpoint and decision (allowed, denied, patched, bad_request, error).');
  readonly duration = new Histogram('armorgate_admission_duration_seconds', 'Time to decide an admission request, from its body read to its answer built (the answer is then written with the others of its event-loop pass).', [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]);
  readonly tlsReloads = new Counter('armorgate_tls_reloads_total', 'Certificate reloads by result (ok, error).');
  readonly sourceReloads = new Counter('armorgate_source_reloads_total', 'Policy/namespace source reloads or relists by source and result.');
  // live binding (reconciler.ts); its gauges (pending, leader, pods watched) are added with gauge()
  readonly reconcilePods = new Counter('armorgate_reconcile_pods_total', 'Running pods the reconciler handled, by result (patched, gone: deleted meanwhile, conflict: retried, error, too_large and failed: not annotated).');
  readonly policyStatusWrites = new Counter('armorgate_policy_status_writes_total', 'Policy status writes by result (ok, gone, error).');
  private readonly gauges: { name: string; help: string; read: () => number }[] = [];

  gauge(name: string, help: string, read: () => number): void { this.gauges.push({ name, help, read }); }

  render(): string {
    let out = this.requests.render() + this.duration.render() + this.tlsReloads.render() + this.sourceReloads.render() + this.reconcilePods.render() + this.policyStatusWrites.render();
    for (const g of this.gauges) {
      let v: number;
      try { v = g.read(); } catch { v = NaN; }
      out += `# HELP ${g.name} ${g.help}\n# TYPE ${g.name} gauge\n${g.name} ${v}\n`;
    }
    return out;
  }
}

/** Plain HTTP server answering GET /metrics with the Prometheus text format. */
export function metricsServer(metrics: WebhookMetrics): http.Server {
  return http.createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      const body = metrics.render();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found; metrics are at /metrics\n');
  });
}
