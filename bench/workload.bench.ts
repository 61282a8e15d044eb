// npm run bench:workload — from one VM run (kernel AG_BENCH_KERNEL, default 6.12; attach mode
// AG_BENCH_MODE, default cgroup): a whole workload in a real runc container of a protected pod
// (the seed's four policies as the gateway compiles them for a web pod of `shop`, plus one policy
// of AG_BENCH_PATTERNS file patterns, default 200) vs the same in an unprotected pod, alternating
// which goes first, AG_BENCH_REPS times (default 6: as many repetitions of each order, so that
// whatever going first does weighs on both sides alike): untar a source tree, find + grep over
// it, one short exec per source file. AG_BENCH_CONTAINER (default web) names the protected
// container: in `web` the token policy's Allow rule also binds, so every other open is judged and
// audited (allow-list under the audit posture, as in KubeArmor); any other name gets the block
// rules only. Also the cost of one open() and one exec inside each container. Medians and spread
// of each repetition's protected ÷ unprotected ratio, and the ratio of the sums. TCG makes
// absolute times meaningless: the ratios count. Targets (issues 15 and 17): workload ≤ 1.03;
// open ≤ 1.30, exec ≤ 1.10.
// Where a protected run's time goes besides, per workload: its container's CPU time (cpu.stat;
// the programs run in its tasks), the in-guest enforcer's own CPU time (it takes the ring
// buffer's records), the records taken, each repetition's figures; with AG_BENCH_BPF_STATS=1 also
// each program's runs and run time (kernel.bpf_stats_enabled, which adds its own cost to every
// run). AG_BENCH_RATE: alerts per cgroup per second (default 500); AG_BENCH_CPUS: the guest's
// vCPUs (default 2).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT, type KernelSeries } from '../vm/harness/index.ts';
import { runBench } from '../vm/harness/bench-run.ts';

const C_SOURCE = String.raw`
/* ag-cbench PATH N M: mean ns per open()+close() of PATH (N times) and per posix_spawn + wait of
 * /usr/bin/true (M times), as {"open":…,"exec":…} */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
extern char **environ;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: ag-cbench PATH N M\n"); return 2; }
  int n = atoi(argv[2]), m = atoi(argv[3]);
  char *args[] = { "true", NULL };
  double t = now();
  for (int i = 0; i < n; i++) { int fd = open(argv[1], O_RDONLY); if (fd < 0) { perror("open"); return 1; } close(fd); }
  double open_ns = (now() - t) / n;
  t = now();
  for (int i = 0; i < m; i++) { pid_t p; if (posix_spawn(&p, "/usr/bin/true", NULL, NULL, args, environ) != 0) { perror("spawn"); return 1; } int st; waitpid(p, &st, 0); }
  double exec_ns = (now() - t) / m;
  printf("{\"open\":%.1f,\"exec\":%.1f}\n", open_ns, exec_ns);
  return 0;
}
`;

interface Side { workload: Record<string, number>; micro: { open: number; exec: number } }
interface Rep { rep: number; protected: Side; unprotected: Side }

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median: mid, min: s[0]!, max: s[s.length - 1]! };
}

async function main(): Promise<void> {
  mkdirSync(join(PROJECT_ROOT, 'build'), { recursive: true });
  const src = join(PROJECT_ROOT, 'build', 'ag-cbench.c');
  writeFileSync(src, C_SOURCE);
  execFileSync('cc', ['-O2', '-o', join(PROJECT_ROOT, 'build', 'ag-cbench'), src], { stdio: 'inherit' });
  execFileSync('bash', [join(PROJECT_ROOT, 'scripts', 'build-bpf.sh')], { stdio: 'inherit' });
  const mode = (process.env.AG_BENCH_MODE ?? 'cgroup') as 'cgroup' | 'global';
  const kernel = (process.env.AG_BENCH_KERNEL ?? '6.12') as KernelSeries;
  const reps: Rep[] = [];
  let info: unknown = null;
  const run = await runBench({
    kernel, attachMode: mode, suites: ['bench/scenarios/workload.ts'], containers: true, timeoutMs: 3_600_000, scenarioTimeoutMs: 3_300_000,
    env: {
      AG_BENCH_REPS: process.env.AG_BENCH_REPS ?? '6', AG_BENCH_PATTERNS: process.env.AG_BENCH_PATTERNS ?? '200',
      AG_BENCH_N: process.env.AG_BENCH_N ?? '20000', AG_BENCH_M: process.env.AG_BENCH_M ?? '400',
      AG_BENCH_CONTAINER: process.env.AG_BENCH_CONTAINER ?? 'web', AG_BENCH_BPF_STATS: process.env.AG_BENCH_BPF_STATS ?? '0', AG_BENCH_RATE: process.env.AG_BENCH_RATE ?? '500',
    },
    ...(process.env.AG_BENCH_CPUS ? { cpus: Number(process.env.AG_BENCH_CPUS) } : {}),
    onProgress: (l) => process.stderr.write(`${l}\n`),
    onEvent: (name, data) => {
      if (name === 'bench-rep') reps.push(data as Rep);
      if (name === 'bench-info') info = data;
    },
  });
  if (run.error || run.results.some((r) => !r.ok)) {
    console.error(run.error ?? '', run.results.map((r) => `${r.name}: ${r.error ?? 'ok'}\n${r.output}`).join('\n'));
    process.exitCode = 1;
    if (reps.length === 0) return;
  }
  console.log(`kernel ${run.kernelRelease ?? kernel}, attach mode ${mode}, ${reps.length} alternating repetitions; protected ÷ unprotected, median (min–max)`);
  const fmt = (xs: number[]): string => { const s = stats(xs); return `${s.median.toFixed(3)} (${s.min.toFixed(3)}–${s.max.toFixed(3)})`; };
  const w0 = reps[0]!.unprotected.workload;
  console.log(`workload: ${w0.files} files untarred, scanned (${w0.hits} grep hits), ${w0.execs} execs in the build loop`);
  for (const k of ['total', 'untar', 'scan', 'build'] as const) {
    const un = stats(reps.map((r) => r.unprotected.workload[k]!));
    // and the ratio of the sums over all repetitions (each side's whole time), for comparison
    const pooled = reps.reduce((a, r) => a + r.protected.workload[k]!, 0) / reps.reduce((a, r) => a + r.unprotected.workload[k]!, 0);
    console.log(`workload ${k.padEnd(6)} unprotected ${un.median.toFixed(0)} ms | ratio ${fmt(reps.map((r) => r.protected.workload[k]! / r.unprotected.workload[k]!))}, of the sums ${pooled.toFixed(3)}${k === 'total' ? ' (target ≤ 1.03)' : ''}`);
  }
  // where a protected run's time goes besides: its container's CPU (the programs run in its
  // tasks), the in-guest enforcer's own CPU (taking the ring buffer's records), the programs
  const each = (side: 'protected' | 'unprotected', k: string): number[] => reps.map((r) => r[side].workload[k] ?? NaN);
  const med = (xs: number[]): string => stats(xs).median.toFixed(0);
  console.log(`container CPU    unprotected ${med(each('unprotected', 'cpu'))} ms | ratio ${fmt(reps.map((r) => r.protected.workload.cpu! / r.unprotected.workload.cpu!))}`);
  console.log(`enforcer CPU     protected ${med(each('protected', 'enforcer'))} ms, unprotected ${med(each('unprotected', 'enforcer'))} ms per workload; records taken ${med(each('protected', 'events'))} per protected workload`);
  if (reps[0]!.protected.workload.bpf !== undefined) {
    console.log(`BPF programs     ${med(each('protected', 'bpf'))} ms per protected workload, ${med(each('unprotected', 'bpf'))} ms per unprotected one (bpf_stats)`);
    const names = [...new Set(reps.flatMap((r) => Object.keys(r.protected.workload)).filter((k) => k.startsWith('prog:') && k.endsWith(':runs')).map((k) => k.slice(5, -5)))];
    const rows = names.map((n) => {
      const runs = stats(reps.map((r) => r.protected.workload[`prog:${n}:runs`] ?? 0)).median;
      const us = stats(reps.map((r) => r.protected.workload[`prog:${n}:us`] ?? 0)).median;
      const unUs = stats(reps.map((r) => r.unprotected.workload[`prog:${n}:us`] ?? 0)).median;
      return { n, runs, us, unUs };
    }).sort((a, b) => b.us - a.us);
    console.log('  program: runs, ms and ns per run in a protected workload | ms in an unprotected one (medians)');
    for (const x of rows) console.log(`  ${x.n.padEnd(16)} ${String(x.runs).padStart(7)} ${(x.us / 1000).toFixed(1).padStart(7)} ${(x.runs ? x.us * 1000 / x.runs : 0).toFixed(0).padStart(6)} | ${(x.unUs / 1000).toFixed(1)}`);
  }
  console.log('per repetition (ms): protected total/cpu/enforcer | unprotected total/cpu/enforcer');
  for (const r of reps) {
    const f = (w: Record<string, number>): string => `${w.total}/${w.cpu?.toFixed(0)}/${w.enforcer?.toFixed(0)}`;
    console.log(`  rep ${r.rep}: ${f(r.protected.workload)} | ${f(r.unprotected.workload)}`);
  }
  for (const k of ['open', 'exec'] as const) {
    const un = stats(reps.map((r) => r.unprotected.micro[k]));
    console.log(`one ${k.padEnd(4)} in a container: unprotected ${un.median.toFixed(0)} ns | ratio ${fmt(reps.map((r) => r.protected.micro[k] / r.unprotected.micro[k]))} (target ≤ ${k === 'open' ? '1.30' : '1.10'})`);
  }
  console.log(`info: ${JSON.stringify(info)}`);
}

await main();
