// An enforcer started before kubelet made the kubepods cgroup (issue 15): it waits, says every pod
// is not enforced and why, and enforces once kubelet's cgroupfs driver makes
// kubepods/besteffort/pod<uid>/<container id>; the hierarchy removed and made again is attached
// again without piling up links. Its own enforcer, pods folder and pin folder, and a cgroup root
// of its own (/sys/fs/cgroup/agnode: the boot's shared enforcer has made kubepods.slice at the
// real root). Figures are printed (ctx.log) and sent to the host (ctx.emit 'kubepods-late').
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pod } from '../../../policy/types.ts';
import { ONE_BOOT_PER_KERNEL, scenario, type ScenarioContext, type Started } from '../../../vm/guest/scenario.ts';
import { cleanupPins, fixture, preparePod, publish, startEnforcer, type Enforcer, type Fixture, type PreparedPod } from '../../../vm/guest/kit/enforcer.ts';

const NODE = 'agnode';

/** The pod as kubelet's cgroupfs driver lays out a BestEffort pod: its manifest says BestEffort. */
function bestEffort(p: PreparedPod): { pod: PreparedPod; manifest: Pod; container: string } {
  const manifest: Pod = { ...p.manifest, status: { ...p.manifest.status, qosClass: 'BestEffort' } };
  const id = p.containerIds.web;
  assert.ok(id);
  return { pod: p, manifest, container: `${NODE}/kubepods/besteffort/pod${p.uid}/${id}` };
}

/** A loop trying the blocked exec in the cgroup at `cg` (absolute), which it makes itself (mkdir -p,
 *  as kubelet and the runtime would) and joins before its first try, so no time passes between the
 *  hierarchy appearing and the first try: `T0 <epoch seconds>` when made, then one line per try,
 *  `<epoch seconds> allowed|EPERM|other`. */
function tryLoop(ctx: ScenarioContext, cg: string): { started: Started; lines: string[]; t0: () => number } {
  const script = [
    'set -e',
    `mkdir -p '${cg}'`,
    'echo "T0 $EPOCHREALTIME"',
    `echo $BASHPID > '${cg}/cgroup.procs'`,
    'set +e',
    'while :; do',
    '  if out=$(/usr/bin/dpkg --version 2>&1 >/dev/null); then echo "$EPOCHREALTIME allowed"',
    '  else case "$out" in *"Operation not permitted"*) echo "$EPOCHREALTIME EPERM";; *) echo "$EPOCHREALTIME other";; esac; fi',
    'done',
  ].join('\n');
  const started = ctx.startIn(null, ['/bin/bash', '-c', script], { timeoutMs: 300_000 });
  const lines: string[] = [];
  let t0 = NaN;
  let buf = '';
  started.child.stdout?.on('data', (c: Buffer) => {
    buf += c.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const l of parts) {
      if (l.startsWith('T0 ')) t0 = Number(l.slice(3)) * 1000;
      else lines.push(l);
    }
  });
  return { started, lines, t0: () => t0 };
}

/** Waits for the loop's first EPERM; returns ms from its T0 (guest clock) and the tries before it. */
async function firstDenial(loop: { lines: string[]; t0: () => number }, ms: number): Promise<{ ms: number; allowedBefore: number; tries: number }> {
  const until = Date.now() + ms;
  for (;;) {
    const i = loop.lines.findIndex((l) => l.endsWith(' EPERM'));
    if (i >= 0) {
      const t0 = loop.t0();
      const at = Number(loop.lines[i]!.split(' ')[0]) * 1000;
      return { ms: Math.round(at - t0), allowedBefore: loop.lines.slice(0, i).filter((l) => l.endsWith(' allowed')).length, tries: i + 1 };
    }
    if (Date.now() > until) throw new Error(`no EPERM within ${ms} ms; the loop said: ${loop.lines.slice(-5).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** cgroup.kill, then rmdir, depth first (kubelet removing its hierarchy). */
function removeTree(path: string): void {
  if (!existsSync(path)) return;
  for (const d of readdirSync(path, { withFileTypes: true })) if (d.isDirectory()) removeTree(join(path, d.name));
  try { writeFileSync(join(path, 'cgroup.kill'), '1'); } catch { /* 5.14+ only */ }
  for (let i = 0; ; i++) {
    try { rmdirSync(path); return; } catch (e) {
      if (i >= 100) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); // the killed tasks exit
    }
  }
}

/** Every BPF_LSM_CGROUP link in the kernel (bpftool): id and the cgroup it is on (0: gone). */
async function lsmCgroupLinks(ctx: ScenarioContext): Promise<{ id: number; cgroupId: number }[]> {
  const r = await ctx.runIn(null, ['bpftool', '-j', 'link', 'show']);
  assert.equal(r.code, 0, `bpftool: ${r.stderr}`);
  const links = JSON.parse(r.stdout) as { id: number; type: string; attach_type?: string; cgroup_id?: number }[];
  return links.filter((l) => l.type === 'cgroup' && l.attach_type === 'lsm_cgroup').map((l) => ({ id: l.id, cgroupId: l.cgroup_id ?? -1 }));
}

/** Ms from `t0` (epoch ms) to the time of an enforcer log line (pino's ISO time); null when either
 *  is missing. */
function msSince(t0: number, l: Record<string, unknown>): number | null {
  const t = typeof l.time === 'string' ? Date.parse(l.time) : typeof l.time === 'number' ? l.time : NaN;
  return Number.isFinite(t) && Number.isFinite(t0) ? Math.round(t - t0) : null;
}

function cgroupLinkPins(fx: Fixture): string[] {
  try { return readdirSync(join(fx.pinDir, 'links')).filter((n) => n.includes('-ag_cg_')).sort(); } catch { return []; }
}

scenario('enforcer: started before kubelet made kubepods (cgroupfs driver): waits, then enforces once it appears (window measured); gone and back, no links pile up', async (ctx) => {
  const shared = await fixture(ctx);
  const fx: Fixture = { ...shared, podsDir: '/tmp/ag-kubepods/pods', pinDir: '/sys/fs/bpf/armorgate-kubepods' };
  mkdirSync(fx.podsDir, { recursive: true });
  await cleanupPins(ctx, fx.pinDir);
  await ctx.mkCgroup(NODE); // the node's cgroup root, with no kubepods in it
  const root = `/sys/fs/cgroup/${NODE}`;
  const waiting = (l: Record<string, unknown>): boolean => l.msg === 'running without enforcement until the kubepods cgroup exists';
  let e: Enforcer = await startEnforcer(ctx, fx, ['--cgroup-root', root], waiting);
  ctx.defer(async () => {
    await e.stop('SIGTERM');
    await cleanupPins(ctx, fx.pinDir);
  });
  const cgroupMode = ctx.attachMode === 'cgroup';
  // both modes: the programs find pods under the kubepods roots they are told of, so global mode
  // (which attaches nothing to a cgroup) waits for kubepods too
  assert.ok(!e.logs.some((l) => l.msg === 'ready'), 'never ready before the kubepods cgroup exists');
  const w = e.logs.find((l) => l.msg === 'not enforcing yet: waiting for the kubepods cgroup');
  assert.match(String(w?.reason), /no kubepods cgroup .* waiting for kubelet/);
  if (cgroupMode) assert.deepEqual(cgroupLinkPins(fx), [], 'no cgroup link yet');

  // the pod is known before kubelet made anything
  const a = bestEffort(await preparePod(ctx, fx, { name: 'late-a' }));
  const from = e.logs.length;
  publish(ctx, fx, a.pod, a.manifest);
  // the first pod a fresh enforcer verifies costs seconds under TCG (code compiled on first use)
  const alert = await e.waitAlert((x) => x.PodName === 'late-a' && x.Type === 'SystemEvent', 'the pod reported not enforced', 60_000);
  assert.equal(alert.Data, 'code=E_NO_KUBEPODS');
  assert.match(alert.Message, /pod not enforced: no kubepods cgroup/);
  await e.waitLog((l) => l.msg === 'pod rules loaded, not enforced yet' && l.uid === a.pod.uid, 'rules loaded while waiting', 60_000, from);

  // kubelet makes the hierarchy and the pod's cgroup; the container runs at once
  ctx.defer(() => removeTree(`${root}/kubepods`));
  const loopA = tryLoop(ctx, `/sys/fs/cgroup/${a.container}`);
  const first = await firstDenial(loopA, 20_000);
  const attached = await e.waitLog((l) => l.msg === 'kubepods cgroup attached: enforcing', 'attached', 20_000);
  const attachedMs: number | null = msSince(loopA.t0(), attached); // the enforcer's own time of the line
  await e.waitLog((l) => l.msg === 'ready', 'ready once attached', 20_000);
  assert.ok(e.logs.some((l) => l.msg === 'pod enforced' && l.uid === a.pod.uid), 'the known pod is enforced once attached');
  if (cgroupMode) assert.equal(cgroupLinkPins(fx).length, 4, `the four cgroup links pinned: ${cgroupLinkPins(fx).join(', ')}`);
  ctx.log(`kubepods made: first EPERM ${first.ms} ms after (${first.tries} tries, ${first.allowedBefore} allowed before it)${attachedMs === null ? '' : `; attached ${attachedMs} ms after`}`);
  await new Promise((r) => setTimeout(r, 500));
  const afterFirst = loopA.lines.slice(first.tries);
  assert.ok(afterFirst.length > 0 && afterFirst.every((l) => l.endsWith(' EPERM')), `every try after the first denial denied: ${afterFirst.filter((l) => !l.endsWith(' EPERM')).slice(0, 3).join(' | ')}`);
  // the loop has shown the window; kept running, its flood of denials would only slow what
  // follows on a one-vCPU guest (a restart under such a flood: enforcer-lifecycle's kill -9)
  loopA.started.kill('SIGKILL');
  await loopA.started.done;

  // control: the same command in a pod whose profile does not exist yet is allowed; then denied
  const b = bestEffort(await preparePod(ctx, fx, { name: 'late-b' }));
  const cgB = await ctx.mkCgroup(b.container);
  const before = await ctx.runIn(cgB, ['/usr/bin/dpkg', '--version']);
  assert.equal(before.code, 0, `allowed before the pod's profile exists: ${before.stderr}`);
  const fromB = e.logs.length;
  publish(ctx, fx, b.pod, b.manifest);
  await e.waitLog((l) => l.msg === 'pod enforced' && l.uid === b.pod.uid, 'pod b enforced', 60_000, fromB);
  const afterB = await ctx.runIn(cgB, ['/usr/bin/dpkg', '--version']);
  assert.notEqual(afterB.code, 0);
  assert.match(afterB.stderr, /Operation not permitted/);

  // a restart while enforcing adopts the links on this kubepods cgroup (so the hierarchy coming
  // back below is attached again by an adopted set, which loads the cgroup programs then)
  await e.stop('SIGTERM');
  e = await startEnforcer(ctx, fx, ['--cgroup-root', root]);
  assert.equal(e.logs.find((l) => l.msg === 'kernel enforcement available')?.adopted, true, 'adopted: the links are on the kubepods cgroup there is');
  const afterRestart = await ctx.runIn(cgB, ['/usr/bin/dpkg', '--version']);
  assert.match(afterRestart.stderr, /Operation not permitted/);

  // kubelet's hierarchy goes (its pods with it) and comes back
  const pinsBefore = cgroupLinkPins(fx);
  const cgLinksBefore = await lsmCgroupLinks(ctx);
  const goneFrom = e.logs.length;
  removeTree(`${root}/kubepods`);
  const alertsBefore = e.alerts.length;
  await e.waitLog((l) => l.msg === 'the kubepods cgroup is gone: not enforcing until it is back', 'gone noticed', 20_000, goneFrom);
  await e.waitAlert((x) => e.alerts.indexOf(x) >= alertsBefore && x.PodName === 'late-a' && x.Data === 'code=E_NO_KUBEPODS', 'pod a reported not enforced again');
  const loopA2 = tryLoop(ctx, `${root}/kubepods/besteffort/pod${a.pod.uid}/${a.pod.containerIds['log-shipper']!}`);
  const again = await firstDenial(loopA2, 20_000);
  loopA2.started.kill('SIGKILL');
  const attachedAgain = await e.waitLog((l) => l.msg === 'kubepods cgroup attached: enforcing', 'attached again', 20_000, goneFrom);
  const againAttachedMs: number | null = msSince(loopA2.t0(), attachedAgain);
  ctx.log(`kubepods made again: first EPERM ${again.ms} ms after (${again.tries} tries, ${again.allowedBefore} allowed before it)${againAttachedMs === null ? '' : `; attached ${againAttachedMs} ms after`}`);
  const pinsAfter = cgroupLinkPins(fx);
  assert.deepEqual(pinsAfter, pinsBefore, 'the same four pins: the links to the vanished cgroup were replaced, not added to');
  const cgLinksAfter = await lsmCgroupLinks(ctx);
  assert.deepEqual(cgLinksAfter.map((l) => l.cgroupId === 0).filter(Boolean), [], `no link left on a vanished cgroup: ${JSON.stringify(cgLinksAfter)}`);
  assert.equal(cgLinksAfter.length, cgLinksBefore.length, 'as many BPF_LSM_CGROUP links in the kernel as before the hierarchy went');
  ctx.emit('kubepods-late', { kernel: ctx.kernelSeries, mode: ctx.attachMode, firstDenialMs: first.ms, allowedBefore: first.allowedBefore, attachedMs, againMs: again.ms, againAllowedBefore: again.allowedBefore, againAttachedMs });
  // what differs here is the attach mode (cgroup links, their pins, adoption), not the kernel: each
  // mode once, each kernel once
}, { timeoutMs: 400_000, on: ONE_BOOT_PER_KERNEL });
