// Guest suite of `npm run bench:workload` (not part of the test run). Two real runc containers
// (overlay root, pivot_root, their own namespaces; vm/guest/container.ts), each in a pod's cgroup:
// "protected" in a pod whose profile is what the gateway compiles for a web pod of the `shop`
// namespace from the seed's four policies (examples/policies) plus one policy of 200 file
// matchPatterns, and "unprotected" in a pod the enforcer has no profile for. Both run the same
// workload, alternating which goes first, AG_BENCH_REPS times (default 5):
//   - a whole workload (sh): untar a source tree, a find + grep pass over it, and a build-like loop
//     of many short execs (one `wc -c` per source file), timed inside the container;
//   - the cost of one open() and one exec (posix_spawn of /usr/bin/true), measured by a small C
//     program (build/ag-cbench, built on the host by bench/workload.bench.ts) in each container.
import { readFileSync, readdirSync } from 'node:fs';
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

async function workload(c: Container): Promise<Record<string, number>> {
  const r = await c.exec(['/bin/sh', '-c', WORKLOAD], { timeoutMs: 900_000 });
  if (r.code !== 0) throw new Error(`workload failed (${r.code}): ${r.stderr}`);
  return parseKv(r.stdout);
}

async function micro(c: Container, n: number, m: number): Promise<{ open: number; exec: number }> {
  const r = await c.exec(['/opt/ag-cbench', '/tmp/probe.txt', String(n), String(m)], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`ag-cbench failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as { open: number; exec: number };
}

async function openBenchKernel(ctx: ScenarioContext): Promise<Kernel> {
  cleanupPins(PIN_DIR);
  const r = await openKernel({ attachMode: ctx.attachMode, cgroupRoot: '/sys/fs/cgroup', pinDir: PIN_DIR, eventRatePerSec: 500, waitForKubepods: true });
  if (!r.ok) throw new Error(`openKernel: ${r.error.message}`);
  ctx.defer(() => { r.value.close(); cleanupPins(PIN_DIR); });
  return r.value;
}

scenario('bench: a whole workload and one open/exec in a protected vs an unprotected container', async (ctx) => {
  const patterns = Number(ctx.env.AG_BENCH_PATTERNS ?? '200');
  const reps = Number(ctx.env.AG_BENCH_REPS ?? '5');
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
  await workload(protectedC); await workload(unprotectedC);
  await micro(protectedC, 2000, 50); await micro(unprotectedC, 2000, 50);
  for (let i = 0; i < reps; i++) {
    const order: ['protected' | 'unprotected', Container][] = [['protected', protectedC], ['unprotected', unprotectedC]];
    if (i % 2 === 1) order.reverse();
    const row: Record<string, unknown> = { rep: i };
    for (const [name, c] of order) row[name] = { workload: await workload(c) };
    for (const [name, c] of order) (row[name] as Record<string, unknown>).micro = await micro(c, n, m);
    ctx.log(JSON.stringify(row));
    ctx.emit('bench-rep', row);
  }
  ctx.emit('bench-info', { container, patterns, events, counts: kernel.counts() });
}, { timeoutMs: 3_000_000 });
