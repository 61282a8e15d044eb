// Benchmark scenarios for `npm run bench:visibility` (bench/visibility.bench.ts), in the VM with the
// real enforcer: the cost of visibility logs (process + file) on a busy pod against the same pod
// without them, logs per second delivered to 1 and to 10 gRPC watchers, and drops at saturation.
// Figures go to the host with ctx.emit('bench', …); nothing here asserts a duration.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { scenario, type Cgroup, type ScenarioContext } from '../../vm/guest/scenario.ts';
import { fixture, startEnforcer, type Enforcer } from '../../vm/guest/kit/enforcer.ts';
import { compileIn, enforceWithApp, logClient, type Rec } from '../../vm/guest/kit/visibility.ts';

const EXECS = Number(process.env.BENCH_VIS_EXECS ?? 300);
/** the split's loop: its logs fit in the ring buffer (4 MiB, about 2,550 records) while the
 *  enforcer is stopped */
const SPLIT_OPENS = 2000;
const SPLIT_ROUNDS = 5;
const OPENS = Number(process.env.BENCH_VIS_OPENS ?? 20000);
/** rounds of each loop in each pod: one round times it in both pods, the order swapped each round
 *  (off then on, on then off) so that a drift of the host's speed falls on both alike */
const ROUNDS = Number(process.env.BENCH_VIS_ROUNDS ?? 5);

const execLoop = ['/bin/sh', '-c', `i=0; while [ $i -lt ${EXECS} ]; do /usr/bin/cat /etc/hostname >/dev/null; i=$((i+1)); done`];
/** Python opening one file `n` times (one open() and close() each). */
const pythonOpens = (n: number): string[] => ['/usr/bin/python3', '-c', `
for i in range(${n}):
    open('/etc/os-release').close()
`];
const openLoop = pythonOpens(OPENS);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** CPU seconds a process has used (utime + stime, 100 ticks a second). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** CPU the enforcer and this scenario runner used during the loops, per loop name and pod. The
 *  enforcer's stdout is a file, as a container runtime keeps a container's log: nothing parses
 *  its lines while the loops run (the scenario runner did, at first: 5.3 s of CPU in the open
 *  loop, on the same two vCPUs as the loop). */
const cpu: Record<string, { enforcer: number[]; runner: number[] }> = {};

async function timed(ctx: ScenarioContext, cg: Cgroup, argv: string[], e?: Enforcer, label?: string): Promise<number> {
  const c0 = e ? cpuSeconds(e.child.pid!) : 0;
  const r0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await ctx.runIn(cg, argv, { timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  const ms = performance.now() - t0;
  if (e && label) {
    // what the enforcer still had to read from the ring buffer belongs to this loop
    await new Promise((res) => setTimeout(res, 300));
    const ru = process.cpuUsage(r0);
    const c = (cpu[label] ??= { enforcer: [], runner: [] });
    c.enforcer.push(cpuSeconds(e.child.pid!) - c0);
    c.runner.push((ru.user + ru.system) / 1e6);
  }
  return ms;
}

async function pods(ctx: ScenarioContext, stdoutFile: string): Promise<{ e: Enforcer; on: Cgroup; off: Cgroup; onName: string }> {
  const fx = await fixture(ctx);
  const on = await compileIn(ctx, fx, 'bench-vis-on', 'process,file');
  const off = await compileIn(ctx, fx, 'bench-vis-off', null);
  const e = await startEnforcer(ctx, fx, [], undefined, { stdoutFile });
  ctx.defer(() => e.stop('SIGTERM'));
  const [cgOn, cgOff] = await enforceWithApp(ctx, fx, e, [on, off]);
  return { e, on: cgOn!, off: cgOff!, onName: on.name };
}

function kernelDropped(e: Enforcer, from: number): number {
  return e.logs.slice(from).filter((l) => l.msg === 'visibility logs dropped by the kernel: rate limit exceeded').reduce((n, l) => n + Number(l.dropped ?? 0), 0);
}

/** The size of the enforcer's stdout file once it has stopped growing (everything the kernel sent
 *  has been written). */
async function settledSize(file: string): Promise<number> {
  for (let size = statSync(file).size; ;) {
    await new Promise((r) => setTimeout(r, 500));
    const now = statSync(file).size;
    if (now === size) return size;
    size = now;
  }
}

/** The JSON lines of the file between two byte offsets. */
function linesBetween(file: string, from: number, to: number): Rec[] {
  return readFileSync(file).subarray(from, to).toString('utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Rec);
}

scenario('bench: visibility logs (process+file) on a busy pod, against none; delivery to 1 and 10 gRPC watchers', async (ctx) => {
  const stdoutFile = join(ctx.tmp, 'enforcer-stdout.jsonl');
  const { e, on, off, onName } = await pods(ctx, stdoutFile);
  // 1. the cost: the same loops in a pod with visibility and in one without, alternated
  const cost: Record<string, { on: number; off: number; ratio: number; roundRatios: { median: number; min: number; max: number; all: number[] } }> = {};
  for (const [name, argv] of [['exec loop', execLoop], ['open loop', openLoop]] as const) {
    const t: { on: number[]; off: number[] } = { on: [], off: [] };
    await timed(ctx, off, argv); // warm the page cache
    for (let i = 0; i < ROUNDS; i++) {
      const offFirst = i % 2 === 0;
      if (offFirst) t.off.push(await timed(ctx, off, argv, e, `${name}, off`));
      t.on.push(await timed(ctx, on, argv, e, `${name}, on`));
      if (!offFirst) t.off.push(await timed(ctx, off, argv, e, `${name}, off`));
    }
    // each round's own ratio: its two runs came one after the other, under the same host load
    const rr = t.on.map((v, i) => v / t.off[i]!);
    cost[name] = {
      on: Math.round(median(t.on)), off: Math.round(median(t.off)), ratio: Number((median(t.on) / median(t.off)).toFixed(3)),
      roundRatios: { median: Number(median(rr).toFixed(3)), min: Number(Math.min(...rr).toFixed(3)), max: Number(Math.max(...rr).toFixed(3)), all: rr.map((x) => Number(x.toFixed(3))) },
    };
  }
  // 1b. where the open loop's cost is: the kernel's side alone (the enforcer stopped, so that
  // nothing reads the ring buffer while the loop runs), and the emulator's cost of the enforcer's
  // CPU (a node process outside the pods using as much CPU as the enforcer did with logs on, while
  // the loop runs in the pod without logs)
  const openCpu = cpu['open loop, on']!.enforcer;
  const duty = Math.min(0.9, median(openCpu) / (cost['open loop']!.on / 1000));
  const small = pythonOpens(SPLIT_OPENS);
  const split = { offStopped: [] as number[], onStopped: [] as number[], off: [] as number[], offBurner: [] as number[] };
  const pid = e.child.pid!;
  const dropFrom = e.logs.length;
  await timed(ctx, off, small);
  for (let i = 0; i < SPLIT_ROUNDS; i++) {
    process.kill(pid, 'SIGSTOP');
    try {
      split.offStopped.push(await timed(ctx, off, small));
      split.onStopped.push(await timed(ctx, on, small));
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await settledSize(stdoutFile);
    split.off.push(await timed(ctx, off, small));
    const burner = spawn(process.execPath, ['-e', `setInterval(() => { const t0 = performance.now(); const a = []; while (performance.now() - t0 < ${(duty * 20).toFixed(2)}) a.push(JSON.stringify({ x: Math.random(), n: a.length })); }, 20)`], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 1000));
      split.offBurner.push(await timed(ctx, off, small));
    } finally {
      burner.kill('SIGKILL');
    }
  }
  const m = (xs: number[]): number => Math.round(median(xs));
  const splitFigures = {
    opens: SPLIT_OPENS, rounds: SPLIT_ROUNDS,
    kernelSide: { onMs: m(split.onStopped), offMs: m(split.offStopped), ratio: Number((median(split.onStopped) / median(split.offStopped)).toFixed(3)) },
    droppedWhileStopped: kernelDropped(e, dropFrom),
    burner: { cpuShare: Number(duty.toFixed(3)), withMs: m(split.offBurner), withoutMs: m(split.off), ratio: Number((median(split.offBurner) / median(split.off)).toFixed(3)) },
  };
  // 2. delivery: logs received per watcher over the exec+open loops, with 1 then 10 watchers
  const delivery: Record<string, unknown>[] = [];
  for (const n of [1, 10]) {
    const clients: grpc.Client[] = [];
    const got: number[] = Array.from({ length: n }, () => 0);
    const calls: grpc.ClientReadableStream<Rec>[] = [];
    for (let i = 0; i < n; i++) {
      const c = logClient(ctx);
      clients.push(c);
      const call = (c as unknown as Record<string, (r: unknown) => grpc.ClientReadableStream<Rec>>).WatchLogs!({ Filter: 'all' });
      call.on('data', (d: Rec) => { if (d.PodName === onName) got[i]! += 1; });
      call.on('error', () => {});
      calls.push(call);
    }
    const from = e.logs.length;
    await e.waitLog(() => e.logs.slice(from).filter((l) => l.msg === 'gRPC watcher added').length >= n, `${n} watchers`, 30_000, 0);
    const outFrom = await settledSize(stdoutFile);
    const t0 = performance.now();
    await timed(ctx, on, execLoop);
    await timed(ctx, on, openLoop);
    const lines = linesBetween(stdoutFile, outFrom, await settledSize(stdoutFile));
    const secs = (performance.now() - t0) / 1000;
    const emitted = lines.filter((x) => x.Type === 'ContainerLog' && x.PodName === onName).length;
    for (const c of calls) c.cancel();
    const gone = e.logs.length;
    await e.waitLog(() => e.logs.slice(gone).filter((l) => l.msg === 'gRPC watcher removed').length >= n, 'watchers removed', 30_000, 0);
    const feedDropped = e.logs.slice(gone).filter((l) => l.msg === 'gRPC watcher removed').reduce((s, l) => s + Number(l.dropped ?? 0), 0);
    for (const c of clients) c.close();
    delivery.push({
      watchers: n, seconds: Number(secs.toFixed(1)), logsEmitted: emitted, logsPerSecondEmitted: Math.round(emitted / secs),
      receivedPerWatcher: { min: Math.min(...got), max: Math.max(...got) }, logsPerSecondPerWatcher: Math.round(Math.min(...got) / secs),
      droppedByKernelRateLimit: kernelDropped(e, from), droppedByWatcherQueues: feedDropped,
    });
  }
  const cpuMedians = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, { enforcerCpuS: Number(median(v.enforcer).toFixed(2)), runnerCpuS: Number(median(v.runner).toFixed(2)) }]));
  ctx.emit('bench', { name: 'visibility logs: cost (median ms of the loop, on/off; each round\'s ratio), where the open loop\'s cost is, and delivery', execs: EXECS, opens: OPENS, cost, cpu: cpuMedians, split: splitFigures, delivery });
}, { timeoutMs: 1_500_000 });
