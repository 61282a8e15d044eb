// npm run bench:kernel — from one VM run (kernel 6.12, attach mode from AG_BENCH_MODE,
// default cgroup): cost per open(), exec and socket() in a protected cgroup with 10 and
// with 10,000 rules vs an unprotected cgroup, repeated (AG_BENCH_REPS, default 5), with
// the spread; and map memory per 1,000 rules. socket() twice: tcp, which no pod of the node
// has a rule on (the node summary allows it before any lookup), and udp, which another pod
// has a rule on (every udp socket() looks the acting pod up). TCG makes absolute times meaningless:
// the ratios count. Targets: exec and socket ≤ 1.10, open ≤ 1.30, 10,000 ÷ 10 ≤ 1.05.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../vm/harness/index.ts';
import { runBench } from '../vm/harness/bench-run.ts';
import { patternBench } from './kernel-patterns.ts';

const C_SOURCE = String.raw`
/* ag-kbench PATH N M CHUNK CGROUP...: moves itself from cgroup to cgroup every CHUNK operations
 * (rotating the order each round), so that every cgroup sees the same drift of a shared, emulated
 * host; prints the mean cost per open(), socket() and exec in each cgroup. A PATH with a printf
 * conversion (data%04d) opens 256 files in turn (i % 256): more files than the open cache has
 * slots, so that each open is decided afresh, as a file's first open is. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
extern char **environ;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
static int enter(const char *cg) {
  char p[4096]; snprintf(p, sizeof p, "%s/cgroup.procs", cg);
  FILE *f = fopen(p, "w"); if (!f) { perror(p); return -1; }
  fprintf(f, "%d\n", (int)getpid()); return fclose(f);
}
int main(int argc, char **argv) {
  if (argc < 6) { fprintf(stderr, "usage: ag-kbench PATH N M CHUNK CGROUP...\n"); return 2; }
  const char *path = argv[1]; int n = atoi(argv[2]); int m = atoi(argv[3]); int chunk = atoi(argv[4]);
  int k = argc - 5; char **cgs = argv + 5;
  int many = strchr(path, '%') != NULL; char name[4096];
  double open_ns[16] = {0}, sock_ns[16] = {0}, udp_ns[16] = {0}, exec_ns[16] = {0};
  if (k > 16 || chunk <= 0) return 2;
  char *args[] = { "true", NULL };
  int rounds = (n + chunk - 1) / chunk;
  int mchunk = (m + rounds - 1) / rounds; if (mchunk < 1) mchunk = 1;
  int done_m = 0;
  for (int r = 0; r < rounds; r++) {
    int em = done_m + mchunk > m ? m - done_m : mchunk;
    for (int j = 0; j < k; j++) {
      int c = (r + j) % k;
      if (enter(cgs[c]) != 0) return 1;
      double t = now();
      if (many) {
        for (int i = 0; i < chunk; i++) { snprintf(name, sizeof name, path, i & 255); int fd = open(name, O_RDONLY); if (fd < 0) { perror(name); return 1; } close(fd); }
      } else {
        for (int i = 0; i < chunk; i++) { snprintf(name, sizeof name, "%s", path); int fd = open(name, O_RDONLY); if (fd < 0) { perror("open"); return 1; } close(fd); }
      }
      open_ns[c] += now() - t;
      t = now();
      for (int i = 0; i < chunk; i++) { int s = socket(AF_INET, SOCK_STREAM, 0); if (s < 0) { perror("socket"); return 1; } close(s); }
      sock_ns[c] += now() - t;
      t = now();
      for (int i = 0; i < chunk; i++) { int s = socket(AF_INET, SOCK_DGRAM, 0); if (s < 0) { perror("socket"); return 1; } close(s); }
      udp_ns[c] += now() - t;
      t = now();
      for (int i = 0; i < em; i++) { pid_t p; if (posix_spawn(&p, "/usr/bin/true", NULL, NULL, args, environ) != 0) { perror("spawn"); return 1; } int st; waitpid(p, &st, 0); }
      exec_ns[c] += now() - t;
    }
    done_m += em;
  }
  printf("[");
  for (int c = 0; c < k; c++)
    printf("%s{\"open\":%.1f,\"socket\":%.1f,\"udp\":%.1f,\"exec\":%.1f}", c ? "," : "", open_ns[c] / ((double)rounds * chunk), sock_ns[c] / ((double)rounds * chunk), udp_ns[c] / ((double)rounds * chunk), done_m ? exec_ns[c] / done_m : 0.0);
  printf("]\n");
  return 0;
}
`;

interface Costs { open: number; exec: number; socket: number; udp: number }
interface Rep { rep: number; unprotected: Costs; rules10: Costs; rules10k: Costs }

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! };
}

/** build/ag-kbench and the BPF object */
async function buildTools(): Promise<void> {
  await Promise.resolve();
  mkdirSync(join(PROJECT_ROOT, 'build'), { recursive: true });
  const src = join(PROJECT_ROOT, 'build', 'ag-kbench.c');
  writeFileSync(src, C_SOURCE);
  execFileSync('cc', ['-O2', '-o', join(PROJECT_ROOT, 'build', 'ag-kbench'), src], { stdio: 'inherit' });
  execFileSync('bash', [join(PROJECT_ROOT, 'scripts', 'build-bpf.sh')], { stdio: 'inherit' });
}

async function main(): Promise<void> {
  await buildTools();
  const mode = (process.env.AG_BENCH_MODE ?? 'cgroup') as 'cgroup' | 'global';
  const reps: Rep[] = [];
  let memory: Record<string, number> | null = null;
  const run = await runBench({
    kernel: '6.12', attachMode: mode, suites: ['bench/scenarios/kernel.ts'], timeoutMs: 1_200_000, scenarioTimeoutMs: 1_100_000,
    env: { AG_BENCH_REPS: process.env.AG_BENCH_REPS ?? '5', AG_BENCH_N: process.env.AG_BENCH_N ?? '20000', AG_BENCH_CHUNK: process.env.AG_BENCH_CHUNK ?? '250' },
    onProgress: (l) => process.stderr.write(`${l}\n`),
    onEvent: (name, data) => {
      if (name === 'bench-rep') reps.push(data as Rep);
      if (name === 'bench-memory') memory = data as Record<string, number>;
    },
  });
  if (run.error || run.results.some((r) => !r.ok)) {
    console.error(run.error ?? '', run.results.map((r) => `${r.name}: ${r.error ?? 'ok'}\n${r.output}`).join('\n'));
    process.exitCode = 1;
    if (reps.length === 0) return;
  }
  console.log(`kernel ${run.kernelRelease ?? '6.12'}, attach mode ${mode}, ${reps.length} repetitions (median, min–max of each repetition's ratio)`);
  const ratio = (k: keyof Costs, a: keyof Omit<Rep, 'rep'>, b: keyof Omit<Rep, 'rep'>): string => {
    const s = stats(reps.map((r) => r[a][k] / r[b][k]));
    return `${s.median.toFixed(3)} (${s.min.toFixed(3)}–${s.max.toFixed(3)})`;
  };
  const targets: Record<keyof Costs, number> = { open: 1.3, exec: 1.1, socket: 1.1, udp: 1.1 };
  for (const k of ['open', 'exec', 'socket', 'udp'] as const) {
    const un = stats(reps.map((r) => r.unprotected[k]));
    console.log(`${(k === 'udp' ? 'socket (udp)' : k).padEnd(12)} unprotected ${un.median.toFixed(0)} ns | 10 rules ÷ unprotected ${ratio(k, 'rules10', 'unprotected')} | 10,000 rules ÷ unprotected ${ratio(k, 'rules10k', 'unprotected')} (target ≤ ${targets[k]}) | 10,000 ÷ 10 rules ${ratio(k, 'rules10k', 'rules10')} (target ≤ 1.05)`);
  }
  console.log('socket: tcp, which no pod of the node has a rule on (decided by the node summary, before the pod lookup); socket (udp): a protocol another pod has a rule on, so every udp socket() looks the acting pod up');
  if (memory) console.log(`rules map memory: ${JSON.stringify(memory)} → ${(memory as Record<string, number>).bytesPer1000Rules} bytes per 1,000 rules`);
}

// AG_BENCH_PART=rules or patterns: one part only
if (process.env.AG_BENCH_PART !== 'patterns') await main();
if (process.env.AG_BENCH_PART !== 'rules') {
  if (process.env.AG_BENCH_PART === 'patterns') await buildTools();
  await patternBench((process.env.AG_BENCH_MODE ?? 'cgroup') as 'cgroup' | 'global');
}
