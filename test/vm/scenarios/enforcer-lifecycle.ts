// The enforcer's life cycle in the VM: no start-up window, 200 pods coming and going, kill -9 and
// restart without a gap (--cleanup is enforcer-cleanup.ts, the last suite). Runs after enforcer-e2e.ts on the same boot's enforcer.
import assert from 'node:assert/strict';
import { rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openMapsOnly } from '../../../enforcer/kernel/index.ts';
import { ONE_BOOT_PER_KERNEL, ONE_BOOT_PER_KERNEL_CROSSED, scenario, type ScenarioContext } from '../../../vm/guest/scenario.ts';
import {
  cgroup, clonePod, deniedExec, fixture, preparePod, publish, sharedEnforcer, waitEnforced, type Fixture, type PreparedPod,
} from '../../../vm/guest/kit/enforcer.ts';

function mapCounts(fx: Fixture): { pods: number; rules: number; cgroups: number } {
  const m = openMapsOnly({ pinDir: fx.pinDir });
  if (!m.ok) throw new Error(`opening the pinned maps: ${m.error.message}`);
  try {
    const c = m.value.counts();
    if (!c.ok) throw new Error(`counting: ${c.error.message}`);
    return c.value;
  } finally {
    m.value.close();
  }
}

async function settledCounts(fx: Fixture): Promise<{ pods: number; rules: number; cgroups: number }> {
  // two equal readings a sweep apart
  let prev = JSON.stringify(mapCounts(fx));
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 1500));
    const now = JSON.stringify(mapCounts(fx));
    if (now === prev) return JSON.parse(now) as { pods: number; rules: number; cgroups: number };
    prev = now;
  }
  throw new Error(`map counts never settled (last ${prev})`);
}

async function publishClones(ctx: ScenarioContext, fx: Fixture, prefix: string, n: number): Promise<PreparedPod[]> {
  const base = await preparePod(ctx, fx, { name: `${prefix}-base` });
  const pods = Array.from({ length: n }, (_, i) => clonePod(fx, base, `${prefix}-${i}`));
  for (const p of pods) publish(ctx, fx, p);
  return pods;
}

/** A bash script that, for each pod, creates its cgroup and a container scope and runs `cmd` in it
 *  the way runc does: a forked process joins the brand-new cgroup, then execs at once. (A bash
 *  subshell knows its own pid: no extra shell is exec'd, which keeps 100 iterations fast under TCG.)
 *  Prints one exit code per line. */
function enterAndExec(pods: readonly PreparedPod[], cmd: string, remove: boolean): string {
  const lines = ['#!/bin/bash', 'set -u'];
  for (const p of pods) {
    const cg = `/sys/fs/cgroup/${p.containerCgroup('web')}`;
    lines.push(`mkdir -p '${cg}'`);
    lines.push(`( echo $BASHPID > '${cg}/cgroup.procs' && exec ${cmd} ) >/dev/null 2>>"$ERR"; echo $?`);
    if (remove) lines.push(`rmdir '${cg}' '/sys/fs/cgroup/${p.podCgroup}'`);
  }
  return `${lines.join('\n')}\n`;
}

scenario('enforcer: no start-up window: a brand-new pod cgroup execs a blocked binary at once, denied 100 of 100', async (ctx) => {
  const fx = await fixture(ctx);
  const e = await sharedEnforcer(ctx);
  const from = e.logs.length;
  const pods = await publishClones(ctx, fx, 'burst', 100);
  await waitEnforced(e, pods.map((p) => p.uid), from);
  // the cgroups do not exist yet: kubelet creates them now, and the container execs at once
  const script = join(ctx.tmp, 'burst.sh');
  writeFileSync(script, enterAndExec(pods, '/usr/bin/dpkg --version', true));
  const err = join(ctx.tmp, 'burst.err');
  const r = await ctx.runIn(null, ['/bin/bash', script], { env: { ERR: err }, timeoutMs: 300_000 });
  const codes = r.stdout.trim().split('\n');
  assert.equal(codes.length, 100, r.stderr);
  const allowed = codes.filter((c) => c === '0').length;
  assert.equal(allowed, 0, `${allowed} of 100 execs in brand-new pod cgroups were allowed`);
  const { readFileSync } = await import('node:fs');
  const denials = readFileSync(err, 'utf8').split('\n').filter((l) => /Operation not permitted/.test(l)).length;
  assert.equal(denials, 100, 'every refusal is the LSM\'s EPERM');
}, { timeoutMs: 400_000 });

scenario('enforcer: 200 pods come and go, map entry counts back at baseline', async (ctx) => {
  const fx = await fixture(ctx);
  const e = await sharedEnforcer(ctx);
  const baseline = await settledCounts(fx);
  ctx.log(`baseline ${JSON.stringify(baseline)}`);
  const from = e.logs.length;
  const pods = await publishClones(ctx, fx, 'churn', 200);
  await waitEnforced(e, pods.map((p) => p.uid), from, 120_000);
  const script = join(ctx.tmp, 'churn.sh');
  writeFileSync(script, enterAndExec(pods, '/usr/bin/dpkg --version', false));
  const r = await ctx.runIn(null, ['/bin/bash', script], { env: { ERR: join(ctx.tmp, 'churn.err') }, timeoutMs: 300_000 });
  assert.equal(r.stdout.trim().split('\n').length, 200, r.stderr);
  const loaded = mapCounts(fx);
  ctx.log(`with 200 pods ${JSON.stringify(loaded)}`);
  assert.ok(loaded.pods >= baseline.pods + 200, 'every pod is in the maps');
  // the pods go: manifests deleted, cgroups removed
  const removedFrom = e.logs.length;
  for (const p of pods) rmSync(p.file, { force: true });
  for (const p of pods) {
    rmdirSync(`/sys/fs/cgroup/${p.containerCgroup('web')}`);
    rmdirSync(`/sys/fs/cgroup/${p.podCgroup}`);
  }
  await e.waitLog(() => e.logs.slice(removedFrom).filter((l) => l.msg === 'pod removed').length >= 200, '200 pods removed', 60_000);
  const after = await settledCounts(fx);
  assert.deepEqual(after, baseline, 'map entries back at baseline');
// the maps and the enforcer's bookkeeping are the same in both attach modes: each kernel once (the
// boots without the gRPC scenario)
}, { timeoutMs: 300_000, on: ONE_BOOT_PER_KERNEL_CROSSED });

scenario('enforcer: kill -9 and restart while a loop keeps trying a blocked exec: every try denied; the restart window measured', async (ctx) => {
  const fx = await fixture(ctx);
  let e = await sharedEnforcer(ctx);
  const pod = await preparePod(ctx, fx, { name: 'restart' });
  const from = e.logs.length;
  publish(ctx, fx, pod);
  await waitEnforced(e, [pod.uid], from);
  const cg = await cgroup(ctx, pod.containerCgroup('web'));
  // each try stamped with the guest's clock (the scenario's Date.now() reads the same clock)
  const loop = ctx.startIn(cg, ['/bin/bash', '-c', 'while :; do if /usr/bin/dpkg --version >/dev/null 2>&1; then echo "$EPOCHREALTIME ALLOWED"; else echo "$EPOCHREALTIME denied"; fi; done'], { timeoutMs: 200_000 });
  await new Promise((r) => setTimeout(r, 1000));
  const tKill = Date.now();
  await e.stop('SIGKILL');
  ctx.log('enforcer killed with SIGKILL');
  await new Promise((r) => setTimeout(r, 1500));
  const tSpawn = Date.now();
  e = await sharedEnforcer(ctx); // a new process adopts the pins
  await e.waitLog((l) => l.msg === 'ready', 'ready again');
  const tReady = Date.now();
  // its first decision: the first alert of this pod the new process reads from the ring buffer
  await e.waitAlert((a) => a.PodName === 'restart' && a.Type === 'MatchedPolicy', 'the new process\'s first alert of the loop', 60_000);
  const tFirst = Date.now();
  const available = e.logs.find((l) => l.msg === 'kernel enforcement available');
  assert.equal(available?.adopted, true, 'the restart adopted the pinned programs of the same object and mode (no second load)');
  await new Promise((r) => setTimeout(r, 1000));
  loop.kill('SIGKILL');
  const out = (await loop.done).stdout.trim().split('\n').map((l) => { const [t, what] = l.split(' '); return { t: Number(t) * 1000, what }; });
  const allowed = out.filter((l) => l.what === 'ALLOWED').length;
  const denied = out.filter((l) => l.what === 'denied').length;
  const gap = out.filter((l) => l.t >= tKill && l.t <= tFirst);
  const gapAllowed = gap.filter((l) => l.what === 'ALLOWED').length;
  ctx.log(`restart: new process spawned -> ready ${tReady - tSpawn} ms, -> its first alert ${tFirst - tSpawn} ms; from kill to that alert (${tFirst - tKill} ms) ${gap.length - gapAllowed} tries denied, ${gapAllowed} allowed; whole loop ${denied} denied, ${allowed} allowed`);
  ctx.emit('restart-window', { kernel: ctx.kernelSeries, mode: ctx.attachMode, spawnToReadyMs: tReady - tSpawn, spawnToFirstAlertMs: tFirst - tSpawn, killToFirstAlertMs: tFirst - tKill, triesInGap: gap.length, allowedInGap: gapAllowed });
  assert.ok(denied >= 10, `the loop kept trying (${denied})`);
  assert.ok(gap.length >= 5, `the loop kept trying while no enforcer ran (${gap.length})`);
  assert.equal(allowed, 0, 'no try succeeded while the enforcer was dead or restarting');
  assert.ok(deniedExec(await ctx.runIn(cg, ['/usr/bin/dpkg', '--version'])), 'still enforced after the restart');
// what a restart adopts is the attach mode's (its links); the kernel's own restart is kernel-life.ts's
// on every boot: each mode and each kernel once here (the boots of the 200-pod churn)
}, { timeoutMs: 300_000, on: ONE_BOOT_PER_KERNEL_CROSSED });

scenario('enforcer: armorgate probe says this guest can enforce, in this attach mode', async (ctx) => {
  const r = await ctx.runIn(null, [process.execPath, join(ctx.root, 'bin/armorgate.js'), 'probe', '--json'], { timeoutMs: 120_000 });
  const report = JSON.parse(r.stdout) as { canEnforce: boolean; attachMode: string; cgroup: string; btf: boolean; lsm: { bpfListed: boolean; programsLoad: boolean }; problems: unknown[] };
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(report.canEnforce, true);
  assert.equal(report.cgroup, 'v2');
  assert.equal(report.btf, true);
  assert.equal(report.lsm.bpfListed, true);
  assert.equal(report.lsm.programsLoad, true);
  assert.equal(report.attachMode, 'cgroup', 'both guest kernels are >= 6.0: cgroup-attached LSM programs');
  assert.deepEqual(report.problems, []);
// the probe tries both attach types whatever the boot's mode: each kernel once
}, { timeoutMs: 150_000, on: ONE_BOOT_PER_KERNEL });
