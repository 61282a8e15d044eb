// The patterns part of `npm run bench:kernel` (bench/scenarios/kernel-patterns.ts): open()
// and exec cost with 1, 50 and 500 pattern rules per kind vs none, in one VM run (kernel 6.12),
// medians and spread of each repetition's ratio. Targets: 500 ÷ 1 pattern ≤ 1.05, open with
// patterns ≤ 1.30 of unprotected. Also: what resolving the path costs (a pod whose file shape
// rules the opened file out against one that resolves it) and the kernel's side of visibility
// logs. Needs build/ag-kbench (built by bench/kernel.bench.ts).
import { runBench } from '../vm/harness/bench-run.ts';

interface Costs { open: number; exec: number }
interface Cold { unprotected: Costs; none: Costs; p1: Costs; p50: Costs; p500: Costs }
interface LogRun { unprotected: Costs; none: Costs; logs: Costs }
interface Rep { rep: number; unprotected: Costs; none: Costs; p1: Costs; p50: Costs; p500: Costs; excluded: Costs; cold: Cold; logRun: LogRun }

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! };
}

export async function patternBench(mode: 'cgroup' | 'global'): Promise<void> {
  const reps: Rep[] = [];
  const run = await runBench({
    kernel: '6.12', attachMode: mode, suites: ['bench/scenarios/kernel-patterns.ts'], timeoutMs: 1_200_000, scenarioTimeoutMs: 1_100_000,
    env: { AG_BENCH_REPS: process.env.AG_BENCH_REPS ?? '5', AG_BENCH_N: process.env.AG_BENCH_N ?? '20000', AG_BENCH_CHUNK: process.env.AG_BENCH_CHUNK ?? '250' },
    onProgress: (l) => process.stderr.write(`${l}\n`),
    onEvent: (name, data) => { if (name === 'bench-patterns-rep') reps.push(data as Rep); },
  });
  if (run.error || run.results.some((r) => !r.ok)) {
    console.error(run.error ?? '', run.results.map((r) => `${r.name}: ${r.error ?? 'ok'}\n${r.output}`).join('\n'));
    process.exitCode = 1;
    if (reps.length === 0) return;
  }
  console.log(`patterns: kernel ${run.kernelRelease ?? '6.12'}, attach mode ${mode}, ${reps.length} repetitions (median, min–max of each repetition's ratio)`);
  const ratio = (k: keyof Costs, a: keyof Omit<Rep, 'rep' | 'cold' | 'logRun'>, b: keyof Omit<Rep, 'rep' | 'cold' | 'logRun'>): string => {
    const s = stats(reps.map((r) => r[a][k] / r[b][k]));
    return `${s.median.toFixed(3)} (${s.min.toFixed(3)}–${s.max.toFixed(3)})`;
  };
  for (const k of ['open', 'exec'] as const) {
    const un = stats(reps.map((r) => r.unprotected[k]));
    console.log(`${k.padEnd(5)}${k === 'open' ? ' (one file, again and again)' : ''} unprotected ${un.median.toFixed(0)} ns | ÷ unprotected: none ${ratio(k, 'none', 'unprotected')}, 1 ${ratio(k, 'p1', 'unprotected')}, 50 ${ratio(k, 'p50', 'unprotected')}, 500 ${ratio(k, 'p500', 'unprotected')}${k === 'open' ? ' (target ≤ 1.30)' : ''} | 1 ÷ none ${ratio(k, 'p1', 'none')} | 500 ÷ 1 pattern ${ratio(k, 'p500', 'p1')} (target ≤ 1.05)`);
  }
  {
    const cold = (a: keyof Cold, b: keyof Cold): string => {
      const s = stats(reps.map((r) => r.cold[a].open / r.cold[b].open));
      return `${s.median.toFixed(3)} (${s.min.toFixed(3)}–${s.max.toFixed(3)})`;
    };
    const un = stats(reps.map((r) => r.cold.unprotected.open));
    console.log(`open, 256 files in turn (each decided afresh, as a first open is): unprotected ${un.median.toFixed(0)} ns | ÷ unprotected: none ${cold('none', 'unprotected')}, 1 ${cold('p1', 'unprotected')}, 50 ${cold('p50', 'unprotected')}, 500 ${cold('p500', 'unprotected')} (target ≤ 1.30) | 500 ÷ 1 pattern ${cold('p500', 'p1')} (target ≤ 1.05)`);
  }
  const logRatio = (k: keyof Costs, a: keyof LogRun, b: keyof LogRun): string => {
    const s = stats(reps.map((r) => r.logRun[a][k] / r.logRun[b][k]));
    return `${s.median.toFixed(3)} (${s.min.toFixed(3)}–${s.max.toFixed(3)})`;
  };
  for (const k of ['open', 'exec'] as const) {
    console.log(`${k.padEnd(5)} path not resolved (the file shape rules it out) ÷ unprotected ${ratio(k, 'excluded', 'unprotected')} | resolved (none) ÷ not ${ratio(k, 'none', 'excluded')} | visibility logs (none + logs of every ${k}, a run of their own) ÷ none ${logRatio(k, 'logs', 'none')}, ÷ unprotected ${logRatio(k, 'logs', 'unprotected')}`);
  }
}
