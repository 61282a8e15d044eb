// `npm run bench:visibility`: in the VM (TCG: expect several times slower than a real node), the real
// enforcer with visibility logs on for process+file in one pod and off in another, the same loops
// (exec, open) timed in both; where the open loop's cost is (the kernel's side alone, with the
// enforcer stopped; and a node process using the enforcer's CPU while the loop runs without logs);
// logs per second delivered to 1 and to 10 gRPC watchers; drops by the
// kernel's rate limit and by watchers' queues. BENCH_KERNEL=6.12|6.1 (default 6.12),
// BENCH_MODE=cgroup|global (default cgroup), BENCH_VIS_EXECS (300), BENCH_VIS_OPENS (20000),
// BENCH_VIS_ROUNDS (5: each loop in each pod, alternated; the median of the rounds' own ratios
// is the figure to read, the host's speed drifting between rounds).
import type { AttachMode, KernelSeries } from '../vm/harness/index.ts';
import { runBench } from '../vm/harness/bench-run.ts';

const kernel = (process.env.BENCH_KERNEL ?? '6.12') as KernelSeries;
const attachMode = (process.env.BENCH_MODE ?? 'cgroup') as AttachMode;
const figures: unknown[] = [];
const run = await runBench({
  kernel, attachMode, suites: ['bench/scenarios/visibility.ts'], timeoutMs: 1_800_000,
  onProgress: (l) => process.stderr.write(`${l}\n`),
  onEvent: (name, data) => { if (name === 'bench') figures.push(data); },
});
for (const r of run.results) if (!r.ok) process.stderr.write(`FAILED ${r.name}: ${r.error ?? ''}\n${r.output}\n`);
process.stdout.write(`visibility benchmark, kernel ${run.kernelRelease ?? kernel}, attach mode ${attachMode} (qemu TCG)\n`);
for (const f of figures) process.stdout.write(`${JSON.stringify(f, null, 2)}\n`);
if (run.error) process.stderr.write(`${run.error}\n`);
process.exitCode = run.error || run.results.some((r) => !r.ok) ? 1 : 0;
