// Guest suite of `npm run bench:kernel` (patterns part; not part of the test run): cost of open()
// and exec in pods with 1, 50 and 500 pattern rules per kind vs the same pod without patterns and
// an unprotected cgroup; and, beside them, the same pod without patterns with visibility logs of
// every open and exec, and one whose file shape rules the opened file out (no path resolved). Each
// repetition measures the same file opened again and again (the open cache serves it after the
// first) and 256 files opened in turn (each decided afresh, as a first open is).
// Every other measured pod has the same 10 path rules in the opened file's directory, one of them
// shaped like the opened file's name, so each resolves the path; the patterns add their
// automaton's walk. The patterns share the opened file's and the exec'd program's path and are
// not matched (`PATH.N`): the walk goes over the whole path. build/ag-kbench
// (bench/kernel.bench.ts) measures.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scenario } from '../../vm/guest/scenario.ts';
import type { ProfileRule } from '../../policy/types.ts';
import { kernelFor, podWith, profile, rule } from '../../vm/guest/kit/kernel.ts';

const DATA = '/srv/bench/app/lib/data.bin';
// 256 files named like data.bin (8 bytes, "data" first: the pods' file shape cannot rule them out),
// opened in turn: each open is decided afresh (more files than the open cache has slots)
const COLD = '/srv/bench/app/lib/data%04d';

function rulesWith(patterns: number, shaped = true): { process: ProfileRule[]; file: ProfileRule[] } {
  const file: ProfileRule[] = [];
  const process: ProfileRule[] = [];
  for (let i = 0; i < 9; i++) file.push(rule('Block', { type: 'path', path: `/srv/bench/app/lib/other${i}.bin` }));
  // a name of the opened file's length and first four bytes: the pod's file shape (bpf/armorgate.h)
  // cannot rule the opened file out, so every measured pod resolves its path, as the patterns'
  // pods must (their literal directory, /srv/bench/app/lib/, is in the shape); without it
  // (`shaped` false: the "excluded" pod) the shape rules the opened file out and its path is
  // never resolved, the case the rules part of bench:kernel measures
  file.push(rule('Block', { type: 'path', path: shaped ? '/srv/bench/app/lib/dataXbin' : '/srv/bench/app/lib/other9.bin' }));
  for (let i = 0; i < patterns; i++) {
    file.push(rule('Block', { type: 'pattern', pattern: `${DATA}.${i}` }));
    process.push(rule('Block', { type: 'pattern', pattern: `/usr/bin/true.${i}` }));
  }
  return { process, file };
}

scenario('bench: open and exec cost with 1, 50 and 500 patterns vs none', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  mkdirSync('/srv/bench/app/lib', { recursive: true });
  writeFileSync(DATA, 'x');
  for (let i = 0; i < 256; i++) writeFileSync(`/srv/bench/app/lib/data${String(i).padStart(4, '0')}`, 'x');
  await kernelFor(ctx);
  const pods = [];
  for (const n of [0, 1, 50, 500]) {
    const pod = await podWith(ctx, profile(rulesWith(n)));
    const missing = pod.kernel.notEnforced(pod.uid);
    if (missing.length > 0) throw new Error(`${n} patterns: not enforced: ${missing[0]!.reason}`);
    pods.push(pod);
  }
  // the same pod as "none" with visibility logs (process, file) of every open and exec: no limit
  // on their rate, so each is resolved, written to the ring buffer and read by this runner
  const { kernel } = await kernelFor(ctx);
  const rate = kernel.setLogRate?.(0);
  if (rate === undefined || !rate.ok) throw new Error(`setLogRate: ${rate?.ok === false ? rate.error.message : 'not supported'}`);
  const logs = await podWith(ctx, { ...profile(rulesWith(0)), visibility: ['file', 'process'] });
  const excluded = await podWith(ctx, profile(rulesWith(0, false)));
  const free = await ctx.mkCgroup('bench-unprotected');
  // the pod with logs in a run of its own (with the unprotected cgroup and "none"): the ring
  // buffer its opens fill is read by this process while the loop runs, which would fall on
  // whichever cgroup's turn it is in a shared run
  const cgs = [free, ...pods.map((p) => p.cg), excluded.cg];
  const coldCgs = [free, ...pods.map((p) => p.cg)];
  const logCgs = [free, pods[0]!.cg, logs.cg];
  const reps = Number(ctx.env.AG_BENCH_REPS ?? '5');
  const n = Number(ctx.env.AG_BENCH_N ?? '20000');
  const chunk = Number(ctx.env.AG_BENCH_CHUNK ?? '250');
  const run = async (ops: number, path = DATA, list = cgs): Promise<{ open: number; exec: number }[]> => {
    const m = Math.max(20, Math.round(ops / 400));
    const r = await ctx.runIn(null, [join(ctx.root, 'build', 'ag-kbench'), path, String(ops), String(m), String(chunk), ...list.map((c) => c.path)], { timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`ag-kbench: ${r.stderr}`);
    return JSON.parse(r.stdout) as { open: number; exec: number }[];
  };
  await run(2000); // warm-up
  for (let i = 0; i < reps; i++) {
    const [unprotected, none, p1, p50, p500, shapeExcluded] = await run(n);
    const [cUnprotected, cNone, cP1, cP50, cP500] = await run(n, COLD, coldCgs);
    const [lUnprotected, lNone, withLogs] = await run(n, DATA, logCgs);
    const row = {
      rep: i, unprotected, none, p1, p50, p500, excluded: shapeExcluded,
      cold: { unprotected: cUnprotected, none: cNone, p1: cP1, p50: cP50, p500: cP500 },
      logRun: { unprotected: lUnprotected, none: lNone, logs: withLogs },
    };
    ctx.log(JSON.stringify(row));
    ctx.emit('bench-patterns-rep', row);
  }
}, { timeoutMs: 900_000 });
