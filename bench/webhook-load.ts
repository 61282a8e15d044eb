// The load generator of `npm run bench:webhook`, run as its own child process so that it
// shares nothing with the orchestrator: it imports only node builtins, keeps a heap of a few MB
// and allocates little per request. On a 2-core machine the driver's own GC (marking a heap
// that holds the webhook's modules took ~30 ms every 0.6 s, in steps, on its main thread and
// helper threads) would otherwise show up as the measured server's latency.
// The parent talks to it over IPC (advanced serialization): see `LoadRequest`.
import fs from 'node:fs';
import tls from 'node:tls';
import { PerformanceObserver, constants as perf, monitorEventLoopDelay } from 'node:perf_hooks';

export interface ClosedRequest { type: 'closed'; port: number; ca: string; req: Uint8Array; connections: number; seconds: number }
export interface OpenRequest { type: 'open'; port: number; ca: string; req: Uint8Array; connections: number; seconds: number; rate: number; warmSeconds: number }
export type LoadRequest = ClosedRequest | OpenRequest;

export interface ClosedResult { requests: number; seconds: number; latencies: Float64Array; errors: number }
export interface OpenResult extends ClosedResult {
  /** Per request: answer time minus send time. */
  service: Float64Array;
  /** Per request sent at once: send time minus due time (the driver's own lateness). */
  lag: Float64Array;
  queued: number;
  queuedMax: number;
  connections: number;
  driver: ProcessWatch & { loopBusy: number };
}

/** What a process went through over a window: its GC pauses, its event-loop delay and the time
 *  its main thread spent runnable but waiting for a CPU. */
export interface ProcessWatch { gcCount: number; gcTotalMs: number; gcMaxMs: number; gcLongestKind: string; loopP99Ms: number; loopMaxMs: number; runQueueMs: number }

// Messages: parent -> child: a LoadRequest, later 'go'; child -> parent: 'ready' (connected
// and warmed up: the parent reads the server's counters and answers 'go'), then the result.

/** A GC performance entry's `detail.kind`, named. */
const GC_KINDS: Record<number, string> = {
  [perf.NODE_PERFORMANCE_GC_MINOR]: 'scavenge', [perf.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [perf.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental marking', [perf.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
};

const HEAD_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = Buffer.from('\r\ncontent-length:');

/** The Content-Length of the head b[0..end) (the name in any case), -1 when it has none. */
function contentLength(b: Buffer, end: number): number {
  outer: for (let i = 0; i + CONTENT_LENGTH.length <= end; i++) {
    for (let j = 0; j < CONTENT_LENGTH.length; j++) if ((b[i + j]! | (j >= 2 ? 0x20 : 0)) !== CONTENT_LENGTH[j]) continue outer;
    let k = i + CONTENT_LENGTH.length, n = 0;
    while (b[k] === 0x20 || b[k] === 0x09) k++;
    const first = k;
    for (; k < end && b[k]! >= 0x30 && b[k]! <= 0x39; k++) n = n * 10 + b[k]! - 0x30;
    return k === first ? -1 : n;
  }
  return -1;
}

/** One keep-alive TLS connection sending requests and reading Content-Length answers, with no
 *  promise, string or copy per answer that came in one chunk. A connection that fails, closes
 *  or answers without a Content-Length is dead: its pending request and every later one fail
 *  (on a later tick), so a run always ends and counts them as errors. */
export class Conn {
  private readonly sock: tls.TLSSocket;
  private buf: Buffer | null = null;
  private done: ((ok: boolean) => void) | null = null;
  private dead = false;
  constructor(port: number, ca: string) {
    this.sock = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    this.sock.setNoDelay(true);
    this.sock.on('data', (d: Buffer) => { this.buf = this.buf === null ? d : Buffer.concat([this.buf, d]); this.parse(); });
    this.sock.on('error', () => this.die());
    this.sock.on('close', () => this.die());
  }
  ready(): Promise<void> { return new Promise((resolve, reject) => { this.sock.once('secureConnect', resolve); this.sock.once('error', reject); }); }
  private die(): void {
    this.dead = true;
    this.sock.destroy();
    const cb = this.done;
    this.done = null;
    cb?.(false);
  }
  private parse(): void {
    const b = this.buf!;
    const end = b.indexOf(HEAD_END);
    if (end < 0) return;
    const len = contentLength(b, end);
    if (len < 0) { this.die(); return; } // not an answer this client can frame
    if (b.length < end + 4 + len) return;
    const ok = b[9] === 0x32 && b[10] === 0x30 && b[11] === 0x30; // "HTTP/1.1 200"
    this.buf = b.length === end + 4 + len ? null : b.subarray(end + 4 + len);
    const cb = this.done;
    this.done = null;
    cb?.(ok);
  }
  /** Sends one request; `done` is called once, with whether the answer was a 200. */
  send(req: Uint8Array, done: (ok: boolean) => void): void {
    if (this.dead) { setImmediate(done, false); return; }
    this.done = done;
    this.sock.write(req);
  }
  sendP(req: Uint8Array): Promise<boolean> { return new Promise((resolve) => this.send(req, resolve)); }
  close(): void { this.sock.destroy(); }
}

/** Ends a run that outlives its window by `graceMs`: its connections are closed, which fails
 *  whatever is still pending. Returns the cancel function. */
function watchdog(conns: Conn[], windowMs: number, graceMs = 15_000): () => void {
  const t = setTimeout(() => { process.stderr.write(`load driver: answers still missing ${graceMs / 1000} s after the window; closing the connections\n`); conns.forEach((c) => c.close()); }, windowMs + graceMs);
  return () => clearTimeout(t);
}

/** Time (ms) this thread has spent runnable but waiting for a CPU (Linux schedstat); NaN elsewhere. */
function runQueueWaitMs(): number {
  try { return Number(fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[1]) / 1e6; } catch { return NaN; }
}

/** Starts watching this process (GC pauses, event-loop delay, CPU wait); the returned function
 *  stops and reports. Used by the load driver and by the servers it measures alike. */
export function watchProcess(): () => ProcessWatch {
  let count = 0, total = 0, longest = 0, longestKind = 'none';
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      count++;
      total += e.duration;
      if (e.duration > longest) { longest = e.duration; longestKind = GC_KINDS[(e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'other'; }
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const wait0 = runQueueWaitMs();
  return () => {
    gcObserver.disconnect();
    loopDelay.disable();
    return { gcCount: count, gcTotalMs: total, gcMaxMs: longest, gcLongestKind: longestKind, loopP99Ms: loopDelay.percentile(99) / 1e6, loopMaxMs: loopDelay.max / 1e6, runQueueMs: runQueueWaitMs() - wait0 };
  };
}

function handshake(): Promise<void> {
  return new Promise((resolve) => {
    const onGo = (m: unknown): void => { if (m === 'go') { process.off('message', onGo); resolve(); } };
    process.on('message', onGo);
    process.send!('ready');
  });
}

async function closedLoop(o: ClosedRequest): Promise<ClosedResult> {
  const conns = Array.from({ length: o.connections }, () => new Conn(o.port, o.ca));
  await Promise.all(conns.map((c) => c.ready()));
  // warm-up (JIT, caches), then the measured window
  const warmEnd = performance.now() + 1000;
  await Promise.all(conns.map(async (c) => { while (performance.now() < warmEnd) await c.sendP(o.req); }));
  await handshake();
  const lat: number[] = [];
  let errors = 0;
  const start = performance.now();
  const end = start + o.seconds * 1000;
  const cancel = watchdog(conns, o.seconds * 1000);
  await Promise.all(conns.map(async (c) => {
    while (performance.now() < end) {
      const t = performance.now();
      if (await c.sendP(o.req)) lat.push(performance.now() - t);
      else errors++;
    }
  }));
  cancel();
  const took = (performance.now() - start) / 1000;
  conns.forEach((c) => c.close());
  return { requests: lat.length, seconds: took, latencies: Float64Array.from(lat).sort(), errors };
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const MAX_BLOCK_MS = 0.25;
/** Resolves at `t` (performance.now() time) give or take ~0.05 ms, without spinning. Node's
 *  timers count whole milliseconds (a 0.2 ms sleep lasts 1-2 ms), which made the driver send
 *  late by up to ~2 ms at a few thousand requests a second: lateness the latency counts. So a
 *  timer only for the part of a wait past 2 ms; then, once the event loop has polled I/O (an
 *  immediate), the thread waits for the rest on a futex, at most MAX_BLOCK_MS at a time
 *  (Atomics.wait takes fractions of a millisecond). An answer that arrives during such a wait
 *  is read after it: a measured latency can be up to MAX_BLOCK_MS too long, never too short.
 *  (A clock in a worker thread, posting each due time to this one, was tried: the third busy
 *  thread on two cores tripled the time the webhook and the driver waited for a CPU.)
 *  Returns the time spent blocked. */
async function sleepUntil(t: number): Promise<number> {
  let blocked = 0;
  for (;;) {
    const left = t - performance.now();
    if (left <= 0) return blocked;
    if (left > 3) { await new Promise((r) => setTimeout(r, Math.floor(left - 2))); continue; }
    await new Promise((r) => setImmediate(r));
    const rest = t - performance.now();
    if (rest > 0) {
      const b = performance.now();
      Atomics.wait(sleeper, 0, 0, Math.min(rest, MAX_BLOCK_MS));
      blocked += performance.now() - b;
    }
  }
}

/** What one schedule recorded, per request i (due at dueOf(i)): when it was sent and answered,
 *  whether the answer was a 200, whether it had to wait for a free connection. */
interface Schedule { total: number; start: number; dueOf: (i: number) => number; sentAt: Float64Array; doneAt: Float64Array; ok: Uint8Array; wasQueued: Uint8Array; queued: number; queuedMax: number; waitedMs: number }

/** One open-loop schedule on `conns`: request i is due at start + i/rate, sent then on a free
 *  connection or, when all are busy, queued and sent as soon as one frees. Resolves when
 *  every request is answered (or failed), with the times of each in arrays allocated up front. */
async function runSchedule(conns: Conn[], req: Uint8Array, rate: number, seconds: number): Promise<Schedule> {
  const total = Math.floor(rate * seconds);
  const sentAt = new Float64Array(total), doneAt = new Float64Array(total);
  const ok = new Uint8Array(total), wasQueued = new Uint8Array(total);
  const queue = new Int32Array(total); // indices of requests waiting for a connection, FIFO
  let qHead = 0, qTail = 0, queuedMax = 0, finished = 0;
  const idle: ((i: number) => void)[] = [];
  let allDone: () => void = () => {};
  const finishedAll = new Promise<void>((resolve) => { allDone = resolve; });
  if (total === 0) allDone();
  for (const c of conns) {
    // one sender per connection, made once: it records the answer and takes the next queued request
    let current = -1;
    const onAnswer = (good: boolean): void => {
      doneAt[current] = performance.now();
      ok[current] = good ? 1 : 0;
      if (++finished === total) allDone();
      if (qHead < qTail) sendOn(queue[qHead++]!);
      else idle.push(sendOn);
    };
    const sendOn = (i: number): void => { current = i; sentAt[i] = performance.now(); c.send(req, onAnswer); };
    idle.push(sendOn);
  }
  const start = performance.now();
  const dueOf = (i: number): number => start + (i * 1000) / rate;
  const cancel = watchdog(conns, seconds * 1000);
  let waitedMs = 0;
  for (let i = 0; i < total;) {
    // send everything due by now, then sleep until the next one is due
    const now = performance.now();
    for (; i < total && dueOf(i) <= now; i++) {
      const sendOn = idle.pop();
      if (sendOn !== undefined) sendOn(i);
      else { queue[qTail++] = i; wasQueued[i] = 1; queuedMax = Math.max(queuedMax, qTail - qHead); }
    }
    if (i < total) waitedMs += await sleepUntil(dueOf(i));
  }
  await finishedAll;
  cancel();
  return { total, start, dueOf, sentAt, doneAt, ok, wasQueued, queued: qTail, queuedMax, waitedMs };
}

/** Open loop: a warm-up schedule of `warmSeconds`, not measured, then the measured one of
 *  `seconds` at the same rate on the same connections. Without the warm-up every run had two
 *  stalls at the same places: in its first ~100 ms (new connections) and ~1.4 s in, 30-70 ms
 *  long with several hundred requests over 3 ms, enough for a p99 of 5-25 ms at 7,600/s. At
 *  that point both sides are still compiling the paths the open loop runs: the fresh driver
 *  all of its own (--trace-opt: TurboFan compiles, then openLoop deoptimized and compiled
 *  again), the webhook those for lone requests (65 compiles in its first open loop, 5 in the
 *  next); `perf sched` showed both processes' V8 compile threads on the two CPUs then and
 *  their main threads waiting 2-3 ms for one. With 3 s of warm-up the stalls are gone (p99
 *  2.4-3.7 ms in the same set-up). Latency runs from the due time, so a
 *  stall anywhere (server, driver, machine) shows up in it instead of being skipped. The
 *  driver's own GC pauses and loop delay are measured too. */
async function openLoop(o: OpenRequest): Promise<OpenResult> {
  const conns = Array.from({ length: o.connections }, () => new Conn(o.port, o.ca));
  await Promise.all(conns.map((c) => c.ready()));
  await new Promise((r) => setTimeout(r, 100)); // the server done with the handshakes
  if (o.warmSeconds > 0) {
    const warm = await runSchedule(conns, o.req, o.rate, o.warmSeconds);
    const failed = warm.ok.reduce((n, v) => n + (v === 1 ? 0 : 1), 0);
    if (failed > 0) {
      conns.forEach((c) => c.close());
      throw new Error(`${failed} of the warm-up's ${warm.total} requests failed (a connection lost, or answers that were not 200)`);
    }
  }
  await handshake();
  const watched = watchProcess();
  const elu0 = performance.eventLoopUtilization();
  const s = await runSchedule(conns, o.req, o.rate, o.seconds);
  const dueOf = s.dueOf;
  const lastDone = s.doneAt.reduce((a, b) => Math.max(a, b), s.start);
  // (a precise wait blocks inside a callback: the event loop counts it as busy, it is not)
  const elu = performance.eventLoopUtilization(elu0);
  const driver = { ...watched(), loopBusy: Math.max(0, elu.utilization - s.waitedMs / (elu.idle + elu.active)) };
  conns.forEach((c) => c.close());
  // latency and service time of the answered requests (a failure's is not a latency), the
  // driver's lateness for every request sent at once (a queued request's wait is the server's)
  const lat: number[] = [], service: number[] = [], lag: number[] = [];
  let errors = 0;
  for (let i = 0; i < s.total; i++) {
    if (s.ok[i] === 1) { lat.push(s.doneAt[i]! - dueOf(i)); service.push(s.doneAt[i]! - s.sentAt[i]!); } else errors++;
    if (s.wasQueued[i] === 0) lag.push(s.sentAt[i]! - dueOf(i));
  }
  const sorted = (a: number[]): Float64Array => Float64Array.from(a).sort();
  // the rate achieved: answers over the time from the first due to the last answer
  return { requests: lat.length, seconds: Math.max(o.seconds, (lastDone - s.start) / 1000), latencies: sorted(lat), errors, lag: sorted(lag), service: sorted(service), queued: s.queued, queuedMax: s.queuedMax, connections: o.connections, driver };
}

if (process.send !== undefined && process.argv[2] === '--load') {
  process.on('message', (m: unknown) => {
    if (typeof m !== 'object' || m === null) return;
    const o = m as LoadRequest;
    const run = o.type === 'closed' ? closedLoop(o) : openLoop(o);
    run.then((r) => process.send!({ type: 'result', result: r }), (e: unknown) => process.send!({ type: 'error', message: e instanceof Error ? e.message : String(e) }));
  });
}
