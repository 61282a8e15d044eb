// Guest suite of `npm run bench:kernel` (not part of the test run): cost of open(), exec
// and socket() in a protected cgroup (10 rules, and 10,000 rules on the node with the most a
// pod's profile may hold in the measured pod) vs an unprotected one, and
// map memory per 1,000 rules. The measuring program is build/ag-kbench (C, built on the
// host by bench/kernel.bench.ts): no interpreter between the loop and the syscalls. It moves
// itself between the three cgroups every AG_BENCH_CHUNK (250) operations, rotating the order.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scenario, type ScenarioContext, type Cgroup } from '../../vm/guest/scenario.ts';
import { kernelFor, podWith, profile, rule } from '../../vm/guest/kit/kernel.ts';
import type { ProfileRule } from '../../policy/types.ts';
import { KERNEL_LIMITS } from '../../policy/kernel-limits.ts';

function rulesOf(n: number, from = 0): { process: ProfileRule[]; file: ProfileRule[]; network: ProfileRule[] } {
  const file: ProfileRule[] = [];
  const process: ProfileRule[] = [];
  for (let i = from; i < from + n; i++) {
    if (i % 10 === 9) process.push(rule('Block', { type: 'path', path: `/opt/tools/bin${i}/tool${i}` }));
    else if (i % 10 === 8) file.push(rule('Block', { type: 'directory', dir: `/srv/bench/app/other${i}/`, recursive: true }));
    else file.push(rule('Block', { type: 'path', path: `/srv/bench/app/lib/other${i}.bin` }));
  }
  return { process, file, network: [rule('Block', { type: 'protocol', protocol: 'raw' })] };
}

/** memlock of the rules map (key 32, value 608) as /proc/self/fdinfo reports it */
function rulesMapBytes(): number {
  let best = 0;
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    let info: string;
    try { info = readFileSync(join('/proc/self/fdinfo', fd), 'utf8'); } catch { continue; }
    if (!/key_size:\s+32\b/.test(info) || !/value_size:\s+608\b/.test(info)) continue;
    const m = /memlock:\s+(\d+)/.exec(info);
    if (m) best = Math.max(best, Number(m[1]));
  }
  return best;
}

/** One ag-kbench run over the three cgroups: it moves itself between them every `chunk`
 *  operations (rotating the order), so each sees the same drift of the shared, emulated host. */
async function measure(ctx: ScenarioContext, cgs: readonly Cgroup[], n: number, chunk: number): Promise<{ open: number; exec: number; socket: number; udp: number }[]> {
  const m = Math.max(20, Math.round(n / 400));
  const r = await ctx.runIn(null, [join(ctx.root, 'build', 'ag-kbench'), '/srv/bench/app/lib/data.bin', String(n), String(m), String(chunk), ...cgs.map((c) => c.path)], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`ag-kbench: ${r.stderr}`);
  return JSON.parse(r.stdout) as { open: number; exec: number; socket: number; udp: number }[];
}

scenario('bench: open, exec and socket cost with 10 and 10,000 rules vs unprotected', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  mkdirSync('/srv/bench/app/lib', { recursive: true });
  writeFileSync('/srv/bench/app/lib/data.bin', 'x');
  await kernelFor(ctx);
  const m0 = rulesMapBytes();
  const small = await podWith(ctx, profile(rulesOf(10)));
  const m1 = rulesMapBytes();
  // 10,000 rules on the node: the acting pod with as many as a pod's profile may hold
  // (KERNEL_LIMITS.rulesPerProfile), other pods of the node with the rest (the maps are shared)
  const per = KERNEL_LIMITS.rulesPerProfile;
  const big = await podWith(ctx, profile(rulesOf(per)));
  for (let from = per; from < 10_000; from += per) await podWith(ctx, profile(rulesOf(Math.min(per, 10_000 - from), from)));
  ctx.log(`10,000 rules on the node, ${per} of them in the measured pod`);
  const m2 = rulesMapBytes();
  // another pod of the node with a udp rule: udp sockets are then looked up in every pod
  await podWith(ctx, profile({ network: [rule('Block', { type: 'protocol', protocol: 'udp' })] }));
  const free = await ctx.mkCgroup('bench-unprotected');
  const reps = Number(ctx.env.AG_BENCH_REPS ?? '5');
  const n = Number(ctx.env.AG_BENCH_N ?? '20000');
  const chunk = Number(ctx.env.AG_BENCH_CHUNK ?? '250');
  // warm-up (caches, executable cache)
  await measure(ctx, [free, small.cg, big.cg], 2000, chunk);
  for (let i = 0; i < reps; i++) {
    const [unprotected, rules10, rules10k] = await measure(ctx, [free, small.cg, big.cg], n, chunk);
    const row = { rep: i, unprotected, rules10, rules10k };
    ctx.log(JSON.stringify(row));
    ctx.emit('bench-rep', row);
  }
  ctx.emit('bench-memory', { baseline: m0, after10: m1, after10k: m2, bytesPer1000Rules: Math.round(((m2 - m1) / 9990) * 1000) });
}, { timeoutMs: 900_000 });
