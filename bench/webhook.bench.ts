// `npm run bench:webhook`: the webhook's /mutate-pod against two floors under the same load.
//   webhook  the real daemon (standalone, 100 policies loaded, tracing on without export)
//   bare     node:https, parses the review, answers a fixed patch
//   express  express 5 doing the same (ETag off, body read by hand)
//   bare, same-size answer and express, same-size   (information, no target) the floors with
//            their patch padded to the byte size of the webhook's answer (~6 KB: DESIGN.md's
//            annotations, a canonical-JSON profile, base64 in the patch): what that size costs
//   bare, coalesced  (information, no target) the bare floor writing its answers the way the
//            webhook does (webhook/coalesce.ts: the answers of one event-loop pass together,
//            after it): what that way of writing is worth on its own
// Each server runs in its own child process; the load comes from one more child
// (bench/webhook-load.ts, node builtins only, a few MB of heap) over keep-alive TLS
// connections speaking minimal HTTP/1.1 (a closed loop: each connection sends its next
// request when the answer is in). Then, the floors stopped, an open loop at half the
// webhook's peak rate measures its latency when not saturated, after 3 s at that rate on the
// same connections that are not measured (as each closed loop has its warm-up second; the
// fresh driver's code is still being compiled then, see webhook-load.ts): requests are
// scheduled at a fixed rate whatever the answers do; one that finds no free connection waits
// in a queue, and latency runs from its scheduled send time (queueing and the driver's
// lateness counted, not left out). The webhook's GC pauses and event-loop delay, the
// driver's own lateness, GC and loop delay, the time each spent runnable but waiting for a
// CPU (schedstat) and the machine's CPU pressure over that window are printed with it, so a
// bad p99 can be told apart: the webhook's work, its GC, the driver, or CPUs kept busy by
// something else.
// Options: --duration S (per run, default 5), --connections N (default 16), --rounds R (3).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { v8FlagsFor } from '../bin/v8-flags.js';
import { watchProcess, type ClosedResult, type LoadRequest, type OpenResult, type ProcessWatch } from './webhook-load.ts';

const SELF = fileURLToPath(import.meta.url);
const LOAD = fileURLToPath(new URL('./webhook-load.ts', import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : dflt; };
const fixedPatch = (pad: number): string => Buffer.from(JSON.stringify([{ op: 'add', path: '/metadata/annotations/armorgate.io~1policies', value: 'x'.repeat(pad) }])).toString('base64');

// ---------------------------------------------------------------------------------------
// Servers (child mode: `node bench/webhook.bench.ts --serve KIND DIR`; prints the port)

async function serve(kind: string, dir: string, pad: number): Promise<void> {
  const FIXED_PATCH = fixedPatch(pad);
  const cert = fs.readFileSync(path.join(dir, 'tls', 'tls.crt'));
  const key = fs.readFileSync(path.join(dir, 'tls', 'tls.key'));
  // The same-size floors write their answer as the webhook writes its own: ASCII JSON as
  // latin1, its length as Content-Length (webhook/app.ts, asciiJson). As UTF-8, node sizes a
  // ~6 KB string past its stack buffer and encodes it twice: a cost of the encoding, not of the
  // size these floors are there to show. The answer is ASCII when the fields it echoes are.
  const latin1 = kind.endsWith('-sized');
  const answer = (body: Buffer): { text: string; ascii: boolean } => {
    const review = JSON.parse(body.toString('utf8')) as { apiVersion: string; kind: string; request: { uid: string } };
    const text = JSON.stringify({ apiVersion: review.apiVersion, kind: review.kind, response: { uid: review.request.uid, allowed: true, patchType: 'JSONPatch', patch: FIXED_PATCH } });
    return { text, ascii: latin1 && /^[\x20-\x7e]*$/.test(review.request.uid + review.apiVersion + review.kind) };
  };
  const send = (res: ServerResponse, a: { text: string; ascii: boolean }): void => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': a.ascii ? a.text.length : Buffer.byteLength(a.text) });
    if (a.ascii) res.end(a.text, 'latin1');
    else res.end(a.text);
  };
  const readAll = (req: IncomingMessage, done: (b: Buffer) => void): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
  };
  let port: number;
  if (kind === 'bare' || kind === 'bare-sized' || kind === 'bare-coalesced') {
    // the coalesced floor queues its answers as the webhook does (webhook/coalesce.ts)
    let reply = send;
    if (kind === 'bare-coalesced') {
      const { ANSWER_MAX_WAIT_MS, coalesceWrites } = await import('../webhook/coalesce.ts');
      reply = coalesceWrites(send, { maxWaitMs: ANSWER_MAX_WAIT_MS, onError: (e, res) => { console.error('bare-coalesced: an answer could not be written', e); res.destroy(); } });
    }
    const server = https.createServer({ cert, key, keepAliveTimeout: 65_000 }, (req, res) => {
      readAll(req, (b) => reply(res, answer(b)));
    });
    port = await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  } else if (kind === 'express' || kind === 'express-sized') {
    const { default: express } = await import('express');
    const app = express();
    app.set('etag', false);
    app.set('x-powered-by', false);
    app.post('/mutate-pod', (req, res) => {
      readAll(req, (b) => send(res, answer(b)));
    });
    const server = https.createServer({ cert, key, keepAliveTimeout: 65_000 }, app);
    port = await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  } else {
    const { startWebhook } = await import('../webhook/server.ts');
    const { DEFAULT_POSTURE } = await import('../policy/posture.ts');
    const { default: pino } = await import('pino');
    const { setupTelemetry } = await import('../telemetry/index.ts');
    const tel = setupTelemetry({ serviceName: 'armorgate-webhook-bench', env: {} }); // spans made, not exported
    const hook = await startWebhook({
      port: 0, host: '127.0.0.1', metricsPort: -1, policiesDir: path.join(dir, 'policies'), tlsCertDir: path.join(dir, 'tls'),
      signingKeyFile: path.join(dir, 'key'), gatewayUser: 'system:serviceaccount:armorgate:armorgate-webhook', defaultPosture: { ...DEFAULT_POSTURE },
      logger: pino({ level: 'warn' }, pino.destination(2)), tracer: tel.tracer,
    });
    port = hook.port;
  }
  // What the parent asks over IPC: 'cpu' (user + system ms so far); 'watch' starts recording
  // GC pauses, event-loop delay and CPU wait, 'report' sends them.
  let stopWatch: (() => ProcessWatch) | null = null;
  process.on('message', (m) => {
    if (m === 'cpu') { const u = process.cpuUsage(); process.send?.((u.user + u.system) / 1000); }
    else if (m === 'watch') stopWatch = watchProcess();
    else if (m === 'report') { process.send?.((stopWatch ?? watchProcess())()); stopWatch = null; }
  });
  process.stdout.write(`port ${port}\n`);
}

// ---------------------------------------------------------------------------------------
// Load

interface RunResult { requests: number; seconds: number; latencies: Float64Array; errors: number; cpuMsPerRequest?: number }

function requestBytes(body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`POST /mutate-pod HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`), body]);
}

/** The load child (bench/webhook-load.ts), started once and reused for every run. */
class Load {
  private readonly child: ChildProcess;
  constructor() {
    // A small heap's old generation starts with a small limit: the driver then ran a full
    // mark-compact every ~250 ms (2-5 ms pauses, nothing freed) for the few objects each
    // scavenge promotes. Room up front: none in a 5 s run. BENCH_LOAD_NODE_FLAGS adds flags.
    const flags = ['--initial-old-space-size=128', ...(process.env.BENCH_LOAD_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean)];
    this.child = spawn(process.execPath, [...flags, LOAD, '--load'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    spawned.add(this.child);
  }
  /** Runs one load; `onReady` is called when the driver is connected and warmed up, about to
   *  start its measured window. */
  run<T>(o: LoadRequest, onReady: () => Promise<void> | void): Promise<T> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null, signal: string | null): void => { this.child.off('message', onMsg); reject(new Error(`load driver exited (${signal ?? code}) during a run`)); };
      const onMsg = (m: unknown): void => {
        if (m === 'ready') { void Promise.resolve(onReady()).then(() => this.child.send('go'), reject); return; }
        const r = m as { type: string; result?: T; message?: string };
        this.child.off('message', onMsg);
        this.child.off('exit', onExit);
        if (r.type === 'result') resolve(r.result!);
        else reject(new Error(`load driver: ${r.message}`));
      };
      this.child.on('message', onMsg);
      this.child.once('exit', onExit);
      this.child.send(o);
    });
  }
  close(): Promise<void> { return stop(this.child); }
}

/** Every child started (servers and drivers): stopped when the run ends, however it ends. */
const spawned = new Set<ChildProcess>();
/** SIGTERM, resolved once the child has exited (a --cpu-prof profile is written by then). */
function stop(child: ChildProcess): Promise<void> {
  spawned.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM'); });
}

async function closedLoop(load: Load, server: { port: number; child: ChildProcess }, ca: string, req: Buffer, connections: number, seconds: number): Promise<RunResult> {
  let cpu0 = 0;
  const r = await load.run<ClosedResult>({ type: 'closed', port: server.port, ca, req, connections, seconds }, async () => { cpu0 = await cpuOf(server.child); });
  const cpu1 = await cpuOf(server.child);
  return { ...r, cpuMsPerRequest: (cpu1 - cpu0) / r.requests };
}

/** CPU pressure (PSI): the share of the window in which some task waited for a CPU. */
function cpuPressureTotal(): number | null {
  try { return Number(/^some .*total=(\d+)/m.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'))?.[1] ?? NaN); } catch { return null; }
}

/** Asks a server child one question over IPC; fails if the child is gone or goes. */
function ask(child: ChildProcess, question: 'cpu' | 'report'): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onExit = (): void => { child.off('message', onMsg); reject(new Error(`a server exited (asked for '${question}')`)); };
    const onMsg = (m: unknown): void => { child.off('exit', onExit); resolve(m); };
    if (child.exitCode !== null || child.signalCode !== null || !child.connected) { reject(new Error(`a server is gone (asked for '${question}')`)); return; }
    child.once('message', onMsg);
    child.once('exit', onExit);
    child.send(question);
  });
}

function serverReport(child: ChildProcess): Promise<ProcessWatch> {
  return ask(child, 'report') as Promise<ProcessWatch>;
}

const pct = (a: Float64Array, p: number): number => a.length === 0 ? NaN : a[Math.min(a.length - 1, Math.floor(p * a.length))]!;

/** CPU time (user + system, ms) the child server has used so far. */
function cpuOf(child: ChildProcess): Promise<number> {
  return ask(child, 'cpu').then(Number);
}

async function startChild(kind: string, dir: string, pad = 0): Promise<{ port: number; child: ChildProcess }> {
  const prof = process.env.BENCH_CPU_PROF ? [`--cpu-prof`, `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  // every server runs with the V8 flags `armorgate webhook` runs with (bin/v8-flags.js): the
  // same runtime for the webhook and its floors; BENCH_WEBHOOK_NODE_FLAGS adds node flags for
  // the webhook's process only (e.g. --trace-gc)
  prof.push(...v8FlagsFor(['webhook']));
  if (kind === 'webhook') prof.push(...(process.env.BENCH_WEBHOOK_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean));
  const child = spawn(process.execPath, [...prof, SELF, '--serve', kind, dir, String(pad)], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  spawned.add(child);
  // the child prints "port N"; anything else on its stdout (--trace-gc, say) goes to stderr
  const line = await new Promise<string>((resolve, reject) => {
    createInterface(child.stdout!).on('line', (l) => { if (/^port \d+$/.test(l)) resolve(l.slice(5)); else process.stderr.write(`[${kind}] ${l}\n`); });
    child.once('exit', (c) => reject(new Error(`${kind} server exited with ${c}`)));
  });
  return { port: Number(line), child };
}

// ---------------------------------------------------------------------------------------
// Set-up: 100 policies, a realistic pod

function hundredPolicies(): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const apps = ['web', 'api', 'db', 'cache', 'queue', 'batch', 'auth', 'search', 'mail', 'cron'];
  for (let i = 0; i < 100; i++) {
    const app = apps[i % apps.length]!;
    const cluster = i % 5 === 4;
    const spec: Record<string, unknown> = {
      selector: cluster ? { matchExpressions: [{ key: 'namespace', operator: 'In', values: ['shop', `team-${i}`] }, { key: 'label', operator: 'In', values: [`app=${app}`] }] } : { matchLabels: { app } },
      action: ['Block', 'Audit', 'Allow'][i % 3],
      severity: (i % 10) + 1,
      tags: [`T${i % 7}`],
      message: `policy ${i}`,
    };
    if (i % 4 === 0) spec.file = { matchPaths: [{ path: `/etc/secret-${i}` }], matchDirectories: [{ dir: `/var/lib/app-${i}/`, recursive: true, readOnly: true }] };
    else if (i % 4 === 1) spec.process = { matchPaths: [{ path: `/usr/bin/tool-${i}` }], matchDirectories: [{ dir: `/opt/bin-${i}/`, fromSource: [{ path: '/bin/sh' }] }] };
    else if (i % 4 === 2) spec.network = { matchProtocols: [{ protocol: ['raw', 'icmp', 'udp'][i % 3] }] };
    else spec.capabilities = { matchCapabilities: [{ capability: ['net_raw', 'sys_admin', 'sys_ptrace'][i % 3] }] };
    out.push({ apiVersion: 'security.kubearmor.com/v1', kind: cluster ? 'KubeArmorClusterPolicy' : 'KubeArmorPolicy', metadata: cluster ? { name: `cp-${i}` } : { name: `p-${i}`, namespace: 'shop' }, spec });
  }
  return out;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-bench-'));
  try {
    await bench(dir);
  } finally {
    await Promise.all([...spawned].map(stop));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function bench(dir: string): Promise<void> {
  const seconds = opt('duration', 5);
  const connections = opt('connections', 16);
  fs.mkdirSync(path.join(dir, 'policies'));
  fs.mkdirSync(path.join(dir, 'tls'));
  const { makeSelfSigned } = await import('../webhook/selfsigned.ts');
  const pair = makeSelfSigned(['localhost', '127.0.0.1']);
  fs.writeFileSync(path.join(dir, 'tls', 'tls.crt'), pair.cert);
  fs.writeFileSync(path.join(dir, 'tls', 'tls.key'), pair.key);
  fs.writeFileSync(path.join(dir, 'key'), 'bench-signing-key-0123456789abcdef\n');
  const policies = hundredPolicies();
  fs.writeFileSync(path.join(dir, 'policies', 'policies.yaml'), policies.map((p) => stringify(p)).join('---\n'));
  fs.writeFileSync(path.join(dir, 'policies', 'ns.yaml'), stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', annotations: { 'kubearmor-file-posture': 'block' } } }));
  const { podReview, realisticPod } = await import('../devtools/webhook-fixtures.ts');
  const body = Buffer.from(JSON.stringify(podReview('CREATE', realisticPod('shop', { app: 'web', tier: 'frontend' }))));
  const req = requestBytes(body);
  const ca = pair.cert;

  // the webhook must really bind and sign: check one answer first
  const hook = await startChild('webhook', dir);
  const check = await new Promise<string>((resolve) => {
    const s = https.request({ host: '127.0.0.1', port: hook.port, path: '/mutate-pod', method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'application/json' } }, (res) => { let t = ''; res.on('data', (c: Buffer) => { t += c.toString(); }); res.on('end', () => resolve(t)); });
    s.end(body);
  });
  const patch = JSON.parse(Buffer.from((JSON.parse(check) as { response: { patch: string } }).response.patch, 'base64').toString()) as { path: string; value: unknown }[];
  const policiesOp = patch.find((p) => p.path === '/metadata/annotations/armorgate.io~1policies');
  const bound = String(policiesOp?.value ?? '').split(',').filter(Boolean).length;
  // the information floor answers as many bytes as the webhook (base64 grows 3 bytes into 4)
  const floorAnswer = (pad: number): number => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: JSON.parse(body.toString()).request.uid as string, allowed: true, patchType: 'JSONPatch', patch: fixedPatch(pad) } }).length;
  const pad = Math.max(0, Math.round(((check.length - floorAnswer(0)) * 3) / 4));
  console.log(`${policies.length} policies loaded; the pod binds ${bound}; review body ${body.length} bytes; answers: webhook ${check.length} bytes, floors ${floorAnswer(0)} (same-size floor ${floorAnswer(pad)}); ${connections} keep-alive TLS connections, ${seconds} s per run`);

  // Rounds interleave the servers so that a change in the machine's load hits all
  // of them alike; the median round of each is reported. CPU per request (the server
  // process's user + system time over the window) is the figure least bent by contention.
  const rounds = opt('rounds', 3);
  const servers: Record<string, { port: number; child: ChildProcess }> = { webhook: hook };
  for (const kind of ['express', 'bare']) servers[kind] = await startChild(kind, dir);
  servers['bare-sized'] = await startChild('bare-sized', dir, pad);
  servers['express-sized'] = await startChild('express-sized', dir, pad);
  servers['bare-coalesced'] = await startChild('bare-coalesced', dir);
  const kinds = ['webhook', 'express', 'bare', 'bare-sized', 'express-sized', 'bare-coalesced'];
  const runs: Record<string, RunResult[]> = Object.fromEntries(kinds.map((k) => [k, []]));
  const load = new Load();
  for (let r = 0; r < rounds; r++) for (const kind of kinds) runs[kind]!.push(await closedLoop(load, servers[kind]!, ca, req, connections, seconds));
  const rps = (r: RunResult): number => r.requests / r.seconds;
  const median = (rs: RunResult[]): RunResult => [...rs].sort((a, b) => rps(a) - rps(b))[Math.floor(rs.length / 2)]!;
  const medCpu = (rs: RunResult[]): number => rs.map((r) => r.cpuMsPerRequest ?? NaN).sort((a, b) => a - b)[Math.floor(rs.length / 2)]!;
  const results = { webhook: median(runs.webhook!), express: median(runs.express!), bare: median(runs.bare!), sized: median(runs['bare-sized']!), expressSized: median(runs['express-sized']!), coalesced: median(runs['bare-coalesced']!) };
  const half = rps(results.webhook) / 2;
  // the floors are done: stopped, so that only the webhook and the driver run in the latency
  // window; a fresh driver for it, nothing left in its heap from the runs before
  await Promise.all([...Object.entries(servers).filter(([kind]) => kind !== 'webhook').map(([, s]) => stop(s.child)), load.close()]);
  const fresh = new Load();
  let psi0: number | null = null, halfStart = 0;
  const halfRun = await fresh.run<OpenResult>({ type: 'open', port: hook.port, ca, req, connections: 64, seconds, rate: half, warmSeconds: 3 }, () => {
    // from here on (connections open): the schedule, the server's GC and loop delay, the PSI
    hook.child.send('watch');
    psi0 = cpuPressureTotal();
    halfStart = performance.now();
  });
  const window = performance.now() - halfStart;
  const psi1 = cpuPressureTotal();
  const srv = await serverReport(hook.child);
  await Promise.all([stop(hook.child), fresh.close()]);
  const d = halfRun.driver;
  const row = (name: string, r: RunResult, cpu?: number): string => `${name.padEnd(30)} ${rps(r).toFixed(0).padStart(7)} req/s   p50 ${pct(r.latencies, 0.5).toFixed(2).padStart(6)} ms   p99 ${pct(r.latencies, 0.99).toFixed(2).padStart(7)} ms   ${cpu === undefined ? '' : `cpu ${(cpu * 1000).toFixed(0).padStart(4)} us/req   `}errors ${r.errors}`;
  console.log(`median of ${rounds} interleaved rounds (load average now ${os.loadavg()[0]!.toFixed(1)} on ${os.availableParallelism()} cores):`);
  console.log(row('webhook /mutate-pod', results.webhook, medCpu(runs.webhook!)));
  console.log(row('floor: lean express 5', results.express, medCpu(runs.express!)));
  console.log(row('floor: bare node:https', results.bare, medCpu(runs.bare!)));
  console.log(row('info: bare, same-size answer', results.sized, medCpu(runs['bare-sized']!)));
  console.log(row('info: express, same-size', results.expressSized, medCpu(runs['express-sized']!)));
  console.log(row('info: bare, coalesced writes', results.coalesced, medCpu(runs['bare-coalesced']!)));
  console.log(row(`webhook at half peak (${half.toFixed(0)}/s)`, halfRun));
  const rE = rps(results.webhook) / rps(results.express);
  const rB = rps(results.webhook) / rps(results.bare);
  const cE = medCpu(runs.express!) / medCpu(runs.webhook!);
  const cB = medCpu(runs.bare!) / medCpu(runs.webhook!);
  console.log(`throughput: webhook/express ${rE.toFixed(2)} (target >= 0.8), webhook/bare ${rB.toFixed(2)} (target >= 0.4)`);
  console.log(`cpu per request: webhook/express ${cE.toFixed(2)}, webhook/bare ${cB.toFixed(2)} (the same ratios as capacity on an idle core)`);
  console.log(`information: webhook/(bare answering as many bytes) ${(rps(results.webhook) / rps(results.sized)).toFixed(2)}, webhook/(express answering as many bytes) ${(rps(results.webhook) / rps(results.expressSized)).toFixed(2)}; bare same-size/bare ${(rps(results.sized) / rps(results.bare)).toFixed(2)}, express same-size/express ${(rps(results.expressSized) / rps(results.express)).toFixed(2)} (the answer's size alone); bare coalesced/bare ${(rps(results.coalesced) / rps(results.bare)).toFixed(2)} (the way of writing alone), webhook/(bare, coalesced) ${(rps(results.webhook) / rps(results.coalesced)).toFixed(2)}`);
  const ms = (a: Float64Array, p: number): string => pct(a, p).toFixed(2);
  console.log(`p99 at half peak: ${ms(halfRun.latencies, 0.99)} ms (target < 5): open loop, ${halfRun.connections} connections, latency from each request's scheduled send time`);
  console.log(`  send -> answer p50 ${ms(halfRun.service, 0.5)} p99 ${ms(halfRun.service, 0.99)} max ${ms(halfRun.service, 1)} ms; driver behind schedule p99 ${ms(halfRun.lag, 0.99)} max ${ms(halfRun.lag, 1)} ms (driver process: event loop ${(d.loopBusy * 100).toFixed(0)}% busy, delay max ${d.loopMaxMs.toFixed(1)} ms, waiting for a CPU ${d.runQueueMs.toFixed(0)} ms, GC ${d.gcCount} pauses, ${d.gcTotalMs.toFixed(0)} ms in all, longest ${d.gcMaxMs.toFixed(1)} ms, ${d.gcLongestKind}); ${halfRun.queued} requests waited for a free connection, at most ${halfRun.queuedMax} at once`);
  console.log(`  webhook process: GC ${srv.gcCount} pauses, ${srv.gcTotalMs.toFixed(0)} ms in all, longest ${srv.gcMaxMs.toFixed(1)} ms (${srv.gcLongestKind}); event-loop delay p99 ${srv.loopP99Ms.toFixed(1)} max ${srv.loopMaxMs.toFixed(1)} ms; runnable but waiting for a CPU ${srv.runQueueMs.toFixed(0)} ms of the ${window.toFixed(0)} ms`);
  if (psi0 !== null && psi1 !== null && Number.isFinite(psi0) && Number.isFinite(psi1)) {
    console.log(`  machine: some task waited for a CPU ${(((psi1 - psi0) / 1000 / window) * 100).toFixed(0)}% of the window (/proc/pressure/cpu); a delay far past the longest GC, with time spent waiting for a CPU, means the CPUs were taken`);
  }
}

if (args[0] === '--serve') {
  process.on('SIGTERM', () => process.exit(0)); // a clean exit (writes a --cpu-prof profile)
  await serve(args[1]!, args[2]!, Number(args[3] ?? 0));
}
else await main();
