// Benchmark scenarios for `npm run bench:enforcer` (bench/enforcer.bench.ts), in the VM with the
// real enforcer on a --pods-dir. Figures go to the host with ctx.emit('bench', …).
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scenario } from '../../vm/guest/scenario.ts';
import { clonePod, fixture, preparePod, publish, sharedEnforcer, waitEnforced, type PreparedPod } from '../../vm/guest/kit/enforcer.ts';

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

scenario('bench: pod cgroup creation to profile in force', async (ctx) => {
  const fx = await fixture(ctx);
  const e = await sharedEnforcer(ctx);
  const N = 50;
  const base = await preparePod(ctx, fx, { name: 'bench-new-base' });
  const pods = Array.from({ length: N }, (_, i) => clonePod(fx, base, `bench-new-${i}`));
  // manifest written → profile loaded (keyed by UID, before any cgroup exists)
  const learn: number[] = [];
  for (const p of pods) {
    const from = e.logs.length;
    const t0 = Date.now();
    publish(ctx, fx, p);
    await waitEnforced(e, [p.uid], from);
    learn.push(Date.now() - t0);
  }
  // cgroup created → first exec in it: denied already? (then the time to "in force" is 0)
  const lines = ['#!/bin/sh'];
  for (const p of pods) {
    const cg = `/sys/fs/cgroup/${p.containerCgroup('web')}`;
    lines.push(`mkdir -p '${cg}'; /bin/sh -c 'echo $$ > "$1/cgroup.procs" && exec /usr/bin/dpkg --version' sh '${cg}' >/dev/null 2>&1; echo $?; rmdir '${cg}' '/sys/fs/cgroup/${p.podCgroup}'`);
  }
  const script = join(ctx.tmp, 'new.sh');
  writeFileSync(script, `${lines.join('\n')}\n`);
  const r = await ctx.runIn(null, ['/bin/sh', script], { timeoutMs: 120_000 });
  const codes = r.stdout.trim().split('\n');
  const denied = codes.filter((c) => c !== '0').length;
  assert.equal(codes.length, N);
  ctx.emit('bench', {
    name: 'pod cgroup creation → profile in force',
    firstExecDenied: `${denied}/${N}`,
    inForceAtCreationMs: denied === N ? 0 : null,
    manifestToLoadedMs: { median: quantile(learn, 0.5), p95: quantile(learn, 0.95), max: Math.max(...learn) },
  });
}, { timeoutMs: 300_000 });

scenario('bench: a changed profile applied to 100 pods', async (ctx) => {
  const fx = await fixture(ctx);
  const e = await sharedEnforcer(ctx);
  const N = 100;
  const a = await preparePod(ctx, fx, { name: 'bench-change-a' });
  const pods: PreparedPod[] = Array.from({ length: N }, (_, i) => clonePod(fx, a, `bench-change-${i}`));
  let from = e.logs.length;
  for (const p of pods) publish(ctx, fx, p);
  await waitEnforced(e, pods.map((p) => p.uid), from, 120_000);
  // profile B: the same policies but one (no raw sockets) deleted
  const dir = join(ctx.tmp, 'policies-b');
  mkdirSync(dir);
  for (const f of readdirSync(join(ctx.root, 'examples/policies'))) {
    if (f !== 'no-raw-sockets.yaml') copyFileSync(join(ctx.root, 'examples/policies', f), join(dir, f));
  }
  const b = await preparePod(ctx, fx, { name: 'bench-change-b', policies: dir });
  const newAnn = b.manifest.metadata?.annotations ?? {};
  const digestB = newAnn['armorgate.io/profile-digest'];
  assert.notEqual(digestB, a.manifest.metadata?.annotations?.['armorgate.io/profile-digest']);
  from = e.logs.length;
  const t0 = Date.now();
  for (const p of pods) publish(ctx, fx, p, { ...p.manifest, metadata: { ...p.manifest.metadata, annotations: newAnn } });
  const want = new Set(pods.map((p) => p.uid));
  const attach: number[] = [];
  await e.waitLog(() => {
    for (let i = from; i < e.logs.length; i++) {
      const l = e.logs[i];
      if (l?.msg === 'pod enforced' && l.digest === digestB && typeof l.uid === 'string' && want.delete(l.uid)) attach.push(Number(l.ms));
    }
    from = e.logs.length;
    return want.size === 0;
  }, '100 pods on the new profile', 120_000);
  const total = Date.now() - t0;
  ctx.emit('bench', {
    name: 'changed profile → 100 pods',
    wallMs: total,
    kernelReplaceMs: { median: quantile(attach, 0.5), p95: quantile(attach, 0.95), sum: Math.round(attach.reduce((x, y) => x + y, 0)) },
  });
}, { timeoutMs: 300_000 });
