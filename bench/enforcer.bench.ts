// `npm run bench:enforcer`: in the VM (TCG: expect several times slower than a real node), the real
// enforcer on a --pods-dir:
//   1. time from a pod cgroup's creation to its profile in force (0 when the first exec in a brand-new
//      pod cgroup is already denied), and from a pod manifest appearing to its profile loaded;
//   2. time to apply a changed profile to 100 pods (all manifests rewritten at once).
// BENCH_KERNEL=6.12|6.1 (default 6.12), BENCH_MODE=cgroup|global (default cgroup).
import type { AttachMode, KernelSeries } from '../vm/harness/index.ts';
import { runBench } from '../vm/harness/bench-run.ts';

const kernel = (process.env.BENCH_KERNEL ?? '6.12') as KernelSeries;
const attachMode = (process.env.BENCH_MODE ?? 'cgroup') as AttachMode;
const figures: unknown[] = [];
const run = await runBench({
  kernel, attachMode, suites: ['bench/scenarios/enforcer.ts'], timeoutMs: 900_000,
  onProgress: (l) => process.stderr.write(`${l}\n`),
  onEvent: (name, data) => { if (name === 'bench') figures.push(data); },
});
for (const r of run.results) if (!r.ok) process.stderr.write(`FAILED ${r.name}: ${r.error ?? ''}\n${r.output}\n`);
process.stdout.write(`enforcer benchmark, kernel ${run.kernelRelease ?? kernel}, attach mode ${attachMode} (qemu TCG)\n`);
for (const f of figures) process.stdout.write(`${JSON.stringify(f, null, 2)}\n`);
if (run.error) process.stderr.write(`${run.error}\n`);
process.exitCode = run.error || run.results.some((r) => !r.ok) ? 1 : 0;
