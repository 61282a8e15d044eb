// Prometheus metrics for both daemons, through prom-client: a registry with the process and
// Node.js runtime metrics (prom-client's default collectors), small instrument wrappers with a
// synchronous API that never throws on the hot path, and the plain HTTP server that serves
// GET /metrics, /healthz and /readyz.
//
// Adding a metric: `registry.counter(name, help, labelNames)`, `.histogram(name, help,
// labelNames, buckets)` or `.gauge(name, help, read, labelNames?)` (read at scrape time). Names
// follow Prometheus: `armorgate_` prefix, base units (`_seconds`, `_bytes`), `_total` on counters.
import http from 'node:http';
import { Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Labels = Record<string, string>;

/** The label values in the metric's label order: the key of a series (labels outside the names
 *  are refused by prom-client when the series is made). */
function keyOf(names: readonly string[], labels: Labels): string {
  // one label (most series here): its value is the key, no string made per increment
  if (names.length === 1) return labels[names[0]!] ?? '';
  let key = '';
  for (let i = 0; i < names.length; i++) key += `${labels[names[i]!] ?? ''}\u0001`;
  return key;
}

/** A counter; `get` reads a series back synchronously (tests, the daemons' own logic). On the hot
 *  path an increment is a key and a map lookup; prom-client's counter takes the totals at each
 *  collection. */
export class Counter {
  readonly metric: PromCounter<string>;
  readonly name: string;
  readonly #names: readonly string[];
  readonly #series = new Map<string, { labels: Labels; value: number }>();
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    this.name = name;
    this.#names = [...labelNames];
    const series = this.#series;
    this.metric = new PromCounter({
      name, help, labelNames: [...labelNames], registers: [],
      collect() {
        this.reset();
        for (const s of series.values()) this.inc(s.labels, s.value);
      },
    });
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = keyOf(this.#names, labels);
    let s = this.#series.get(k);
    if (s === undefined) {
      for (const name of Object.keys(labels)) {
        if (!this.#names.includes(name)) throw new Error(`${this.name}: label ${JSON.stringify(name)} is not one of ${this.#names.join(', ') || '(none)'}`);
      }
      s = { labels: { ...labels }, value: 0 };
      this.#series.set(k, s);
    }
    s.value += by;
  }
  get(labels: Labels = {}): number { return this.#series.get(keyOf(this.#names, labels))?.value ?? 0; }
}

/** A histogram of a quantity in base units (seconds, bytes). */
export class Histogram {
  readonly metric: PromHistogram<string>;
  readonly #names: readonly string[];
  readonly #children = new Map<string, { observe(v: number): void }>();
  constructor(name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []) {
    this.#names = [...labelNames];
    this.metric = new PromHistogram({ name, help, buckets: [...buckets], labelNames: [...labelNames], registers: [] });
  }
  observe(labels: Labels, value: number): void {
    const k = keyOf(this.#names, labels);
    let c = this.#children.get(k);
    if (c === undefined) {
      c = this.metric.labels({ ...labels });
      if (this.#children.size < 10_000) this.#children.set(k, c);
    }
    c.observe(value);
  }
}

/** Latency buckets, seconds: 0.5 ms to 10 s. */
export const LATENCY_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A gauge's reading: one number, or one number per label set. */
export type GaugeReading = number | readonly { labels: Labels; value: number }[] | null;

export class MetricsRegistry {
  readonly registry = new Registry();

  /** `processMetrics`: prom-client's default collectors (CPU, memory, file descriptors, event
   *  loop lag, GC, heap spaces; `process_` and `nodejs_` names). One set per process. */
  constructor(o: { processMetrics?: boolean } = {}) {
    if (o.processMetrics === true) collectDefaultMetrics({ register: this.registry });
  }

  add<T extends Counter | Histogram>(m: T): T {
    this.registry.registerMetric(m.metric);
    return m;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets: readonly number[] = LATENCY_BUCKETS): Histogram {
    return this.add(new Histogram(name, help, buckets, labelNames));
  }

  /** A gauge read at each scrape; a reading that throws or is null leaves no sample. */
  gauge(name: string, help: string, read: () => GaugeReading, labelNames: readonly string[] = []): void {
    const g = new PromGauge({
      name, help, labelNames: [...labelNames], registers: [this.registry],
      collect() {
        g.reset();
        let v: GaugeReading;
        try { v = read(); } catch { return; }
        if (v === null) return;
        if (typeof v === 'number') g.set(v);
        else for (const s of v) g.set(s.labels, s.value);
      },
    });
  }

  /** A counter whose total is kept elsewhere (a cache's hit count): read at each scrape. */
  counterFrom(name: string, help: string, read: () => number | readonly { labels: Labels; value: number }[], labelNames: readonly string[] = []): void {
    const c = new PromCounter({
      name, help, labelNames: [...labelNames], registers: [this.registry],
      collect() {
        c.reset();
        let v;
        try { v = read(); } catch { return; }
        if (typeof v === 'number') c.inc(v);
        else for (const s of v) c.inc(s.labels, s.value);
      },
    });
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> { return this.registry.metrics(); }
  get contentType(): string { return this.registry.contentType; }
}

/** Liveness and readiness: null when fine, else the reason. */
export interface Health {
  live(): string | null;
  ready(): string | null;
  /** Fields added to /readyz's 200 answer (the enforcer: whether it enforces, and why not). */
  detail?(): Record<string, unknown>;
}

function reply(res: http.ServerResponse, status: number, body: string, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Plain HTTP: GET /metrics (the registry's text), /healthz and /readyz (JSON, 200 or 503 with
 *  the reason) when `health` is given. */
export function metricsServer(metrics: MetricsRegistry, health?: Health): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, JSON.stringify({ error: 'GET only' }));
    if (path === '/metrics') {
      metrics.text().then(
        (body) => { reply(res, 200, body, metrics.contentType); },
        (e: unknown) => { reply(res, 500, `# metrics collection failed: ${e instanceof Error ? e.message : String(e)}\n`, 'text/plain'); },
      );
      return;
    }
    if (health !== undefined && (path === '/healthz' || path === '/readyz')) {
      const why = path === '/healthz' ? health.live() : health.ready();
      const ok = path === '/healthz' ? 'ok' : 'ready';
      const body = why === null ? { status: ok, ...(path === '/readyz' ? health.detail?.() : {}) } : { status: `not ${ok === 'ok' ? 'live' : 'ready'}`, reason: why };
      return reply(res, why === null ? 200 : 503, JSON.stringify(body));
    }
    reply(res, 404, JSON.stringify({ error: `no route for ${req.method} ${path}; metrics are at /metrics${health ? ', health at /healthz and /readyz' : ''}` }));
  });
}
