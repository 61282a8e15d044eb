// Guest suite of `npm run bench:workload` (not part of the test run). Two real runc containers
// (overlay root, pivot_root, their own namespaces; vm/guest/container.ts), each in a pod's cgroup:
// "protected" in a pod whose profile is what the gateway compiles for a web pod of the `shop`
// namespace from the seed's four policies (examples/policies) plus one policy of 200 file
// matchPatterns, and "unprotected" in a pod the enforcer has no profile for. Both run the same
// workload, alternating which goes first, AG_BENCH_REPS times (default 6, bench/workload.bench.ts):
//   - a whole workload (sh): untar a source tree, a find + grep pass over it, and a build-like loop
//     of many short execs (one `wc -c` per source file), timed inside the container;
//   - the cost of one open() and one exec (posix_spawn of /usr/bin/true), measured by a small C
//     program (build/ag-cbench, built on the host by bench/workload.bench.ts) in each container.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { scenario, type Container, type ScenarioContext } from '../../vm/guest/scenario.ts';
import { cleanupPins, openKernel, type Kernel } from '../../enforcer/kernel/index.ts';
import { parseDocuments } from '../../policy/parse.ts';
import { validatePolicy } from '../../policy/validate.ts';
import { compile } from '../../policy/compile.ts';
import { DEFAULT_POSTURE } from '../../policy/posture.ts';
import type { Namespace, Pod, Policy, Profile } from '../../policy/types.ts';

const PIN_DIR = '/sys/fs/bpf/armorgate-bench';

/** 200 file patterns of the shapes policies use (suffix, middle `*`, `?`, classes, braces, `**`),
 *  none of them naming what the workload touches: the cost of looking, not of denying. */
function patternPolicy(n: number): unknown {
  const shapes = [
    (i: number) => `/srv/data${i}/*.pem`,
    (i: number) => `/etc/app${i}/**/secret?.txt`,
    (i: number) => `/var/lib/store${i}/[a-c]*.db`,
    (i: number) => `/opt/keys${i}/{id_rsa,id_ed25519}`,
    (i: number) => `/home/*/.config/tool${i}/*.token`,
  ];
  return {
    apiVersion: 'security.kubearmor.com/v1', kind: 'KubeArmorPolicy',
    metadata: { name: 'bench-patterns', namespace: 'shop' },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      file: { matchPatterns: Array.from({ length: n }, (_, i) => ({ pattern: shapes[i % shapes.length]!(i) })) },
      action: 'Block',
    },
  };
}

function seedPolicies(ctx: ScenarioContext, patterns: number): Policy[] {
  const dir = join(ctx.root, 'examples', 'policies');
  const docs: unknown[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml')).sort()) {
    for (const d of parseDocuments(readFileSync(join(dir, f), 'utf8'))) if (d.value) docs.push(d.value);
  }
  if (patterns > 0) docs.push(patternPolicy(patterns));
  return docs.map((d) => {
    const v = validatePolicy(d);
    if (!v.policy) throw new Error(`policy refused: ${JSON.stringify(v.problems)}`);
    return v.policy;
  });
}

function webProfile(ctx: ScenarioContext, patterns: number, container: string): Profile {
  const pod: Pod = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'web-0', namespace: 'shop', labels: { app: 'web', tier: 'front' } },
    spec: { containers: [{ name: container }] },
  };
  const ns: Namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } };
  const r = compile(pod, ns, seedPolicies(ctx, patterns), { defaultPosture: DEFAULT_POSTURE });
  if (!r.ok) throw new Error(`compile: ${r.error.message}`);
  if (!r.value.profile) throw new Error('no profile');
  ctx.log(`profile: ${r.value.bound.join(', ')}; rules ${['process', 'file', 'network', 'capabilities'].map((k) => `${k} ${(r.value.profile as unknown as Record<string, unknown[]>)[k]!.length}`).join(', ')}`);
  return r.value.profile;
}

const WORKLOAD = String.raw`
set -e
ms() { echo $(( $(date +%s%N) / 1000000 )); }
rm -rf /tmp/w; mkdir -p /tmp/w
t0=$(ms)
tar -xf /tmp/src.tar -C /tmp/w
t1=$(ms)
files=$(find /tmp/w -type f | wc -l)
hits=$(grep -rl import /tmp/w | wc -l)
t2=$(ms)
n=0
for f in $(find /tmp/w -type f -name '*.py'); do /usr/bin/wc -c "$f" >/dev/null; n=$((n+1)); done
t3=$(ms)
echo "untar=$((t1-t0)) scan=$((t2-t1)) build=$((t3-t2)) total=$((t3-t0)) files=$files hits=$hits execs=$n"
`;

function parseKv(s: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of s.trim().split(/\s+/)) { const [k, v] = m.split('='); if (k && v !== undefined) out[k] = Number(v); }
  return out;
}

/** The CPU time (µs) the cgroup's tasks have used: cpu.stat's usage_usec (always there on
 *  cgroup v2), which counts the BPF programs too, as they run in the acting task's context. */
function cgroupCpuUs(c: Container): number {
  const m = /^usage_usec (\d+)$/m.exec(readFileSync(join(c.cgroup.path, 'cpu.stat'), 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** The run time (ns) of every BPF program loaded, from the kernel's bpf_stats (only counted
 *  while kernel.bpf_stats_enabled is 1; AG_BENCH_BPF_STATS=1 turns it on for the run). */
function bpfRuns(): Map<string, [number, number]> {
  const out = execFileSync(existsSync('/usr/sbin/bpftool') ? '/usr/sbin/bpftool' : 'bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const m = new Map<string, [number, number]>();
  for (const p of JSON.parse(out) as { name?: string; run_cnt?: number; run_time_ns?: number }[]) {
    const k = p.name ?? '?';
    const o = m.get(k) ?? [0, 0];
    m.set(k, [o[0] + (p.run_cnt ?? 0), o[1] + (p.run_time_ns ?? 0)]);
  }
  return m;
}

interface Costs { events: () => number; bpfStats: boolean }

/** One run of the workload in c: its phases' wall times (ms, inside the container), and what it
 *  cost besides: cpu = the container's CPU time (ms; cpu.stat), enforcer = this process's CPU
 *  time meanwhile (ms: the in-guest enforcer taking and decoding the ring buffer's records, and
 *  runc exec's), events = records taken meanwhile, bpf = the programs' run time (ms; bpf_stats). */
async function workload(c: Container, costs?: Costs): Promise<Record<string, number>> {
  const cpu0 = cgroupCpuUs(c);
  const self0 = process.cpuUsage();
  const ev0 = costs?.events() ?? 0;
  const bpf0 = costs?.bpfStats ? bpfRuns() : null;
  const r = await c.exec(['/bin/sh', '-c', WORKLOAD], { timeoutMs: 900_000 });
  if (r.code !== 0) throw new Error(`workload failed (${r.code}): ${r.stderr}`);
  // the records the workload left in the ring buffer are the enforcer's work too: a little
  // more than its quiet poll period (100 ms) for them to be taken, on both sides alike
  await new Promise((res) => setTimeout(res, 300));
  const self = process.cpuUsage(self0);
  const out = parseKv(r.stdout);
  out.cpu = (cgroupCpuUs(c) - cpu0) / 1000;
  out.enforcer = (self.user + self.system) / 1000;
  out.events = (costs?.events() ?? 0) - ev0;
  if (bpf0) {
    let ns = 0;
    for (const [k, [cnt, t]] of bpfRuns()) {
      const [c0, t0] = bpf0.get(k) ?? [0, 0];
      if (cnt === c0) continue;
      ns += t - t0;
      // per program: runs and µs (named prog:<name>:runs and prog:<name>:us)
      out[`prog:${k}:runs`] = cnt - c0;
      out[`prog:${k}:us`] = (t - t0) / 1000;
    }
    out.bpf = ns / 1e6;
  }
  return out;
}

async function micro(c: Container, n: number, m: number): Promise<{ open: number; exec: number }> {
  const r = await c.exec(['/opt/ag-cbench', '/tmp/probe.txt', String(n), String(m)], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`ag-cbench failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as { open: number; exec: number };
}

async function openBenchKernel(ctx: ScenarioContext): Promise<Kernel> {
  cleanupPins(PIN_DIR);
  const r = await openKernel({ attachMode: ctx.attachMode, cgroupRoot: '/sys/fs/cgroup', pinDir: PIN_DIR, eventRatePerSec: Number(ctx.env.AG_BENCH_RATE ?? '500'), waitForKubepods: true });
  if (!r.ok) throw new Error(`openKernel: ${r.error.message}`);
  ctx.defer(() => { r.value.close(); cleanupPins(PIN_DIR); });
  return r.value;
}

scenario('bench: a whole workload and one open/exec in a protected vs an unprotected container', async (ctx) => {
  const patterns = Number(ctx.env.AG_BENCH_PATTERNS ?? '200');
  const reps = Number(ctx.env.AG_BENCH_REPS ?? '6');
  const n = Number(ctx.env.AG_BENCH_N ?? '20000');
  const m = Number(ctx.env.AG_BENCH_M ?? '400');
  // 'web' (default): the service-account token policy's Allow rule binds too, which puts the
  // container's file access in allow-list mode under the namespace's audit posture (every other
  // open is judged and audited, as KubeArmor does); another name: block rules only
  const container = ctx.env.AG_BENCH_CONTAINER ?? 'web';
  const profile = webProfile(ctx, patterns, container);
  // containers first (kubelet's cgroups exist when the enforcer starts, as on a running node)
  const binds = [{ source: join(ctx.root, 'build', 'ag-cbench'), target: '/opt/ag-cbench' }];
  const uid = randomUUID();
  const protectedC = await ctx.container({ pod: { uid, qos: 'burstable' }, driver: 'systemd', binds });
  const unprotectedC = await ctx.container({ pod: { uid: randomUUID(), qos: 'burstable' }, driver: 'systemd', binds });
  const kernel = await openBenchKernel(ctx);
  let events = 0;
  kernel.onEvent(() => { events++; });
  const set = kernel.setPod({ uid, namespace: 'shop', name: 'web-0', profile, containers: [{ name: container, cgroupId: protectedC.cgroup.id }] });
  if (!set.ok) throw new Error(`setPod: ${set.error.message}`);
  ctx.defer(() => { kernel.removePod(uid); });
  for (const c of [protectedC, unprotectedC]) {
    const r = await c.exec(['/bin/sh', '-c', 'tar -cf /tmp/src.tar -C / usr/lib/python3.11 usr/share && echo x > /tmp/probe.txt']);
    if (r.code !== 0) throw new Error(`preparing the source tree: ${r.stderr}`);
  }
  // warm-up: page cache, the programs' caches
  const bpfStats = ctx.env.AG_BENCH_BPF_STATS === '1';
  if (bpfStats) {
    writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
    ctx.defer(() => { writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '0'); });
  }
  const costs: Costs = { events: () => events, bpfStats };
  await workload(protectedC); await workload(unprotectedC);
  await micro(protectedC, 2000, 50); await micro(unprotectedC, 2000, 50);
  for (let i = 0; i < reps; i++) {
    const order: ['protected' | 'unprotected', Container][] = [['protected', protectedC], ['unprotected', unprotectedC]];
    if (i % 2 === 1) order.reverse();
    const row: Record<string, unknown> = { rep: i };
    for (const [name, c] of order) row[name] = { workload: await workload(c, costs) };
    for (const [name, c] of order) (row[name] as Record<string, unknown>).micro = await micro(c, n, m);
    ctx.log(JSON.stringify(row));
    ctx.emit('bench-rep', row);
  }
  ctx.emit('bench-info', { container, patterns, events, counts: kernel.counts() });
}, { timeoutMs: 3_000_000 });
