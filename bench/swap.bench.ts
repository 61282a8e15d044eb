// `npm run bench:swap`: in the VM (TCG: expect several times slower than a real node), a running
// pod's annotations change (a Block added, then removed) and the enforcer follows: the time from the
// new annotations reaching the node (the pods folder file renamed in place; the list/watch test
// server's update) to the first try in the pod's real container that sees the change. Runs the
// scenarios of bench/scenarios/swap.ts (the same ones the VM test asserts a 2 s bound on).
// BENCH_KERNEL=6.12|6.1 (default 6.12), BENCH_MODE=cgroup|global (default cgroup).
import type { AttachMode, KernelSeries } from '../vm/harness/index.ts';
import { runBench } from '../vm/harness/bench-run.ts';

const kernel = (process.env.BENCH_KERNEL ?? '6.12') as KernelSeries;
const attachMode = (process.env.BENCH_MODE ?? 'cgroup') as AttachMode;
const figures: { source: string; change: string; ms: number }[] = [];
const run = await runBench({
  kernel, attachMode, suites: ['bench/scenarios/swap.ts'], containers: true, timeoutMs: 900_000, scenarioTimeoutMs: 600_000,
  // both sources on this boot, whatever boots the VM test gives each
  env: { AG_VM_EVERY_BOOT: '1' },
  onProgress: (l) => process.stderr.write(`${l}\n`),
  onEvent: (name, data) => { if (name === 'swap') figures.push(data as { source: string; change: string; ms: number }); },
});
for (const r of run.results) if (!r.ok) process.stderr.write(`FAILED ${r.name}: ${r.error ?? ''}\n${r.output}\n`);
process.stdout.write(`annotation change → seen in the pod, kernel ${run.kernelRelease ?? kernel}, attach mode ${attachMode} (qemu TCG)\n`);
for (const f of figures) process.stdout.write(`  ${f.source.padEnd(9)} ${f.change.padEnd(14)} ${String(f.ms).padStart(6)} ms\n`);
if (run.error) process.stderr.write(`${run.error}\n`);
process.exitCode = run.error || run.results.some((r) => !r.ok) ? 1 : 0;
