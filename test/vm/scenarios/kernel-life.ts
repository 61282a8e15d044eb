// Guest suite: the life of pods and of the enforcer: cgroupfs pod names, atomic profile
// replacement, the per-cgroup event rate limit, and a restart that keeps protection.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openKernel } from '../../../enforcer/kernel/index.ts';
import { kernelHasFunc } from '../../../enforcer/kernel/libbpf.ts';
import { CAST_KFUNC, CAST_OBJECT, DEFAULT_OBJECT, defaultObject, kernelVersion } from '../../../enforcer/kernel/loader.ts';
import { ONE_BOOT_PER_KERNEL, scenario } from '../../../vm/guest/scenario.ts';
import { PIN_DIR, kernelFor, podWith, profile, py, resetKernel, rule } from '../../../vm/guest/kit/kernel.ts';

scenario('kernel: the build that fits the kernel is loaded: walk steps as plain loads through bpf_rdonly_cast from 6.2 on (6.12), probe reads before (6.1)', async (ctx) => {
  const [maj, min] = kernelVersion();
  const has = kernelHasFunc(CAST_KFUNC);
  assert.ok(has.ok, has.ok ? '' : has.error.message);
  assert.equal(has.value, maj > 6 || (maj === 6 && min >= 2), `kernel ${maj}.${min}`);
  assert.ok(existsSync(CAST_OBJECT), `${CAST_OBJECT} (npm run build:bpf builds it)`);
  assert.equal(defaultObject(), has.value ? CAST_OBJECT : DEFAULT_OBJECT);
  const { kernel } = await kernelFor(ctx);
  assert.equal((kernel as { objectPath?: string | null }).objectPath, defaultObject(), 'the enforcer runs that build');
});

scenario('kernel: cgroupfs pod names (pod<uid>) are found before userspace sees the cgroup', async (ctx) => {
  const { kernel } = await kernelFor(ctx);
  const uid = randomUUID();
  const set = kernel.setPod({ uid, namespace: 't', name: 'p', profile: profile({ process: [rule('Block', { type: 'path', path: '/usr/bin/id' })] }), containers: [{ name: 'c' }] });
  assert.ok(set.ok);
  ctx.defer(() => { kernel.removePod(uid); });
  const cg = await ctx.mkCgroup(`kubepods.slice/kubepods-burstable.slice/pod${uid}/0123456789abcdef`);
  assert.notEqual((await ctx.runIn(cg, ['/usr/bin/id'])).code, 0);
});

scenario('kernel: replacing a profile never opens a window: a blocked exec stays blocked through 40 replacements', async (ctx) => {
  const a = profile({ process: [rule('Block', { type: 'path', path: '/usr/bin/id' })] });
  const b = profile({ process: [rule('Block', { type: 'execname', name: 'id' }), rule('Audit', { type: 'path', path: '/usr/bin/true' })] });
  const pod = await podWith(ctx, a);
  const loop = ctx.startIn(pod.cg, py('import subprocess,time\nok=0\nt=time.time()\nn=0\nwhile time.time()-t<6:\n  n+=1\n  try:\n    subprocess.run(["/usr/bin/id"],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL,check=True); ok+=1\n  except Exception: pass\nprint(n, ok)'), { timeoutMs: 60_000 });
  for (let i = 0; i < 40; i++) {
    const r = pod.kernel.setPod({ uid: pod.uid, namespace: 'test', name: 'pod', profile: i % 2 ? a : b, containers: [{ name: 'main' }] });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    await new Promise((res) => setTimeout(res, 100));
  }
  const out = await loop.done;
  const [tries, succeeded] = out.stdout.trim().split(' ').map(Number);
  ctx.log(`tries ${tries}, succeeded ${succeeded}`);
  assert.ok((tries ?? 0) > 3, `the loop ran: ${out.stdout} ${out.stderr}`);
  assert.equal(succeeded, 0, 'no exec of id ever succeeded');
  const c = pod.kernel.counts();
  assert.ok(c.ok);
});

scenario('kernel: events are rate-limited per cgroup with a counted "dropped" event', async (ctx) => {
  const pod = await podWith(ctx, profile({ file: [rule('Audit', { type: 'path', path: '/etc/hostname' })] }));
  assert.ok(pod.kernel.setEventRate(5).ok);
  ctx.defer(() => { pod.kernel.setEventRate(500); });
  const r = await ctx.runIn(pod.cg, py('import time\nfor i in range(60): open("/etc/hostname").read()\ntime.sleep(1.2)\nopen("/etc/hostname").read()'));
  assert.equal(r.code, 0, r.stderr);
  await pod.waitEvent((e) => e.type === 'dropped');
  await new Promise((res) => setTimeout(res, 300));
  // 61 audited opens: each either delivered or counted in a "dropped" event (the loop may
  // span two one-second windows under TCG; the last open flushes the last window's count)
  const dropped = pod.mine().filter((e) => e.type === 'dropped').reduce((n, e) => n + (e.dropped ?? 0), 0);
  const audits = pod.mine().filter((e) => e.type === 'decision' && e.target === '/etc/hostname').length;
  ctx.log(`delivered ${audits}, dropped ${dropped}`);
  assert.equal(audits + dropped, 61, `delivered ${audits} + dropped ${dropped}`);
  assert.ok(audits <= 20, `at most the rate per window got through: ${audits}`);
});

scenario('kernel: visibility logs are rate-limited per cgroup apart from alerts, with a counted "logs dropped" event', async (ctx) => {
  // visibility on for files, no file rule: every open is a log, never an alert
  const pod = await podWith(ctx, { ...profile({}), visibility: ['file'] });
  assert.ok(pod.kernel.setLogRate?.(5).ok, 'the log rate is set');
  ctx.defer(() => { pod.kernel.setLogRate?.(1000); });
  // python's own start opens many files (one window); then 60 opens of /etc/hostname in the next
  // window, and one more after it, whose window starts with the count of what the 60 lost
  const r = await ctx.runIn(pod.cg, py('import time\ntime.sleep(1.2)\nfor i in range(60): open("/etc/hostname").read()\ntime.sleep(1.2)\nopen("/etc/hostname").read()'));
  assert.equal(r.code, 0, r.stderr);
  const t0 = Date.now();
  while (pod.mine().filter((e) => e.type === 'log' && e.target === '/etc/hostname').length < 2 && Date.now() - t0 < 20_000) await new Promise((res) => setTimeout(res, 200));
  await new Promise((res) => setTimeout(res, 500));
  const drops = pod.mine().filter((e) => e.type === 'log-dropped');
  const lost = drops.at(-1)?.dropped ?? 0;
  const logs = pod.mine().filter((e) => e.type === 'log' && e.target === '/etc/hostname').length;
  ctx.log(`61 opens of /etc/hostname: ${logs} logs delivered, ${lost} counted as dropped (${drops.length} "logs dropped" events in all)`);
  assert.equal(pod.mine().filter((e) => e.type === 'decision').length, 0, 'no rule: no alert');
  assert.ok(lost > 0, 'the 60 opens of one window went over the rate');
  assert.equal(logs + lost, 61, `delivered ${logs} + dropped ${lost}`);
  assert.ok(logs <= 10, `at most the rate per window got through: ${logs}`);
});

scenario('kernel: events the ring buffer has no room for are counted in a "dropped" event, never lost unsaid', async (ctx) => {
  const pod = await podWith(ctx, profile({ file: [rule('Audit', { type: 'path', path: '/etc/hostname' })] }));
  assert.ok(pod.kernel.setEventRate(0).ok); // no rate limit: every loss here is the ring buffer's
  ctx.defer(() => { pod.kernel.setEventRate(500); });
  // 4000 audited opens while this process's event loop (which drains the ring buffer) is held by
  // spawnSync: the 4 MiB ring holds about 2 550 events, the rest find it full
  const n = 4000;
  const r = spawnSync('/bin/sh', ['-c', `echo $$ > '${pod.cg.path}/cgroup.procs' && exec /usr/bin/python3 -c 'for i in range(${n}): open("/etc/hostname").read()'`], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  // the next window's first event tells what the last one lost
  await new Promise((res) => setTimeout(res, 1200));
  assert.equal((await ctx.runIn(pod.cg, ['/bin/cat', '/etc/hostname'])).code, 0);
  const count = (): { audits: number; dropped: number } => ({
    audits: pod.mine().filter((e) => e.type === 'decision' && e.target === '/etc/hostname').length,
    dropped: pod.mine().filter((e) => e.type === 'dropped').reduce((k, e) => k + (e.dropped ?? 0), 0),
  });
  const t0 = Date.now();
  while (count().audits + count().dropped < n + 1 && Date.now() - t0 < 30_000) await new Promise((res) => setTimeout(res, 200));
  const { audits, dropped } = count();
  ctx.log(`${n + 1} audited opens: delivered ${audits}, counted as dropped ${dropped}`);
  assert.ok(audits < n + 1, `the ring buffer overflowed: not every event was delivered (else this proves nothing): ${audits}`);
  assert.equal(audits + dropped, n + 1, `every event delivered or counted: delivered ${audits} + dropped ${dropped}`);
}, { timeoutMs: 360_000 });

scenario('kernel: a restart keeps protection (pinned maps and links adopted), cleanup leaves nothing', async (ctx) => {
  const pod = await podWith(ctx, profile({ process: [rule('Block', { type: 'path', path: '/usr/bin/id' })] }));
  assert.notEqual((await ctx.runIn(pod.cg, ['/usr/bin/id'])).code, 0);
  await resetKernel(); // close(): pins stay
  assert.ok(readdirSync(`${PIN_DIR}/links`).length > 0, 'links pinned');
  assert.notEqual((await ctx.runIn(pod.cg, ['/usr/bin/id'])).code, 0, 'no enforcer running: still blocked');
  const again = await openKernel({ attachMode: ctx.attachMode, cgroupRoot: '/sys/fs/cgroup', pinDir: PIN_DIR, eventRatePerSec: 0 });
  assert.ok(again.ok, again.ok ? '' : again.error.message);
  assert.equal(again.value.adopted, true, 'the same object in the same mode: the attached links are adopted, nothing loaded again');
  const c = again.value.counts();
  assert.ok(c.ok && c.value.pods >= 1 && c.value.rules >= 1, `adopted: ${JSON.stringify(c)}`);
  assert.ok(again.value.podUids().includes(pod.uid), 'the adopted pod is listed');
  assert.notEqual((await ctx.runIn(pod.cg, ['/usr/bin/id'])).code, 0, 'blocked under the new enforcer');
  again.value.close();
  // an upgrade: another object (the same programs and one byte more) is loaded and attached, and its
  // links replace the pinned ones with no moment in between; the old links go
  const upgraded = join(ctx.tmp, 'upgraded.bpf.o');
  writeFileSync(upgraded, Buffer.concat([readFileSync(defaultObject()), Buffer.from([0])]));
  const oldLinks = readdirSync(`${PIN_DIR}/links`);
  const loop = ctx.startIn(pod.cg, ['/bin/sh', '-c', 'while :; do if /usr/bin/id >/dev/null 2>&1; then echo ALLOWED; else echo denied; fi; done'], { timeoutMs: 300_000 });
  const up = await openKernel({ attachMode: ctx.attachMode, cgroupRoot: '/sys/fs/cgroup', pinDir: PIN_DIR, eventRatePerSec: 0, objectPath: upgraded });
  await new Promise((res) => setTimeout(res, 500));
  loop.kill('SIGKILL');
  assert.ok(up.ok, up.ok ? '' : up.error.message);
  const k = up.value;
  assert.equal(k.adopted, false, 'another object is loaded, not adopted');
  const tries = (await loop.done).stdout.trim().split('\n');
  ctx.log(`during the upgrade: ${tries.filter((l) => l === 'denied').length} denied, ${tries.filter((l) => l === 'ALLOWED').length} allowed`);
  assert.ok(tries.filter((l) => l === 'denied').length >= 3, 'the loop kept trying');
  assert.equal(tries.filter((l) => l === 'ALLOWED').length, 0, 'no exec of id got through while the new programs replaced the old');
  const newLinks = readdirSync(`${PIN_DIR}/links`);
  assert.ok(newLinks.length > 0 && newLinks.every((n) => !oldLinks.includes(n)), `only the new links stay pinned: ${newLinks.join(', ')}`);
  assert.notEqual((await ctx.runIn(pod.cg, ['/usr/bin/id'])).code, 0, 'blocked under the upgraded programs');
  assert.ok(k.removePod(pod.uid).ok);
  assert.equal((await ctx.runIn(pod.cg, ['/usr/bin/id'])).code, 0, 'removing the adopted pod lifts the rule');
  const after = k.counts();
  assert.ok(after.ok && after.value.rules === 0, `the adopted pod's entries are gone: ${JSON.stringify(after)}`);
  k.close();
  const { cleanupPins } = await import('../../../enforcer/kernel/index.ts');
  assert.ok(cleanupPins(PIN_DIR).ok);
  assert.equal(existsSync(PIN_DIR), false);
});

scenario('kernel: an upgrade across map layouts keeps every pod protected: the earlier programs enforce until the new maps hold the pod, then their links and maps go (a rollback in between too)', async (ctx) => {
  const { cleanupPins, openMapsOnly } = await import('../../../enforcer/kernel/index.ts');
  const dir = '/sys/fs/bpf/armorgate-layout';
  const variant = join(ctx.root, 'build', 'armorgate-variant.bpf.o');
  assert.ok(existsSync(variant), `${variant} (npm run build:bpf builds it)`);
  assert.ok(cleanupPins(dir).ok);
  ctx.defer(() => { cleanupPins(dir); });
  const uid = randomUUID();
  const live = new Set([uid]);
  const binding = { uid, namespace: 'test', name: 'layout', profile: profile({ process: [rule('Block', { type: 'path', path: '/usr/bin/id' })] }), containers: [{ name: 'main' }] };
  const cg = await ctx.mkCgroup(`kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-${uid.slice(0, 8)}.scope`);
  const open = (objectPath?: string) => openKernel({ attachMode: ctx.attachMode, cgroupRoot: '/sys/fs/cgroup', pinDir: dir, eventRatePerSec: 0, ...(objectPath ? { objectPath } : {}) });
  const retiredDirs = (): string[] => readdirSync(dir).filter((n) => n.startsWith('retired-'));
  // "an earlier ArmorGate": the same programs over another map layout, its pod enforced, then stopped
  const v1 = await open(variant);
  assert.ok(v1.ok, v1.ok ? '' : v1.error.message);
  assert.ok(v1.value.setPod(binding).ok);
  v1.value.close();
  assert.notEqual((await ctx.runIn(cg, ['/usr/bin/id'])).code, 0, 'blocked by the earlier programs');
  const v1Links = readdirSync(join(dir, 'links'));
  // a maps-only open of the other layout refuses, naming the map, and moves nothing
  const peek = openMapsOnly({ pinDir: dir });
  assert.equal(peek.ok, false, 'the maps of another layout are not reused');
  if (!peek.ok) {
    assert.equal(peek.error.code, 'E_PIN_LAYOUT');
    assert.match(peek.error.message, /another layout[^]*rates: pinned .*16383 entries.*16384 entries/);
  }
  assert.ok(existsSync(join(dir, 'rates')) && retiredDirs().length === 0, 'nothing moved by a maps-only open');

  const loop = ctx.startIn(cg, ['/bin/sh', '-c', 'while :; do if /usr/bin/id >/dev/null 2>&1; then echo ALLOWED; else echo denied; fi; done'], { timeoutMs: 300_000 });
  // the new version takes over: new maps, its links beside the earlier ones
  const v2 = await open();
  assert.ok(v2.ok, v2.ok ? '' : v2.error.message);
  assert.equal(v2.value.adopted, false);
  assert.match((v2.value.retiredLayout ?? []).join('\n'), /^rates: /m, 'the rates map had another layout');
  assert.equal(retiredDirs().length, 1, `the earlier maps moved aside: ${readdirSync(dir).join(', ')}`);
  assert.deepEqual(readdirSync(join(dir, retiredDirs()[0]!)).sort(), readdirSync(dir).filter((n) => !n.startsWith('retired-') && n !== 'links').sort(), 'every map moved, a new one for each');
  assert.ok(v1Links.every((n) => existsSync(join(dir, 'links', n))), 'the earlier links stay while the new maps are empty');
  assert.equal(v2.value.podUids().length, 0, 'the new maps start empty');
  const early = v2.value.finishStart?.(live);
  assert.deepEqual(early, { links: 0, retiredMaps: 0, waiting: [uid] }, 'the pod is not in the new maps: nothing dropped');
  // ... and it stops before its first sync; the earlier version comes back (a rollback): its links
  // are complete but the maps beside them are the new version's, so it loads as an upgrade would
  v2.value.close();
  const back = await open(variant);
  assert.ok(back.ok, back.ok ? '' : back.error.message);
  const k = back.value;
  ctx.defer(() => { k.close(); });
  assert.equal(k.adopted, false, 'not adopted over maps of another layout');
  assert.equal(retiredDirs().length, 2, 'the new version\'s maps moved aside too');
  await new Promise((res) => setTimeout(res, 300));
  assert.ok(k.setPod(binding).ok, 'the pod into the maps of the rolled-back version');
  const done = k.finishStart?.(live);
  assert.equal(done?.waiting.length, 0);
  assert.equal(done?.retiredMaps, 2);
  assert.ok((done?.links ?? 0) >= 2 * v1Links.length - 1, `the earlier links dropped: ${JSON.stringify(done)}`);
  await new Promise((res) => setTimeout(res, 500));
  loop.kill('SIGKILL');
  const tries = (await loop.done).stdout.trim().split('\n');
  ctx.log(`during the upgrade and the rollback: ${tries.filter((l) => l === 'denied').length} denied, ${tries.filter((l) => l === 'ALLOWED').length} allowed`);
  assert.ok(tries.filter((l) => l === 'denied').length >= 3, 'the loop kept trying');
  assert.equal(tries.filter((l) => l === 'ALLOWED').length, 0, 'no exec of id got through while the layouts changed hands');
  const links = readdirSync(join(dir, 'links'));
  assert.ok(links.length > 0 && links.every((n) => !v1Links.includes(n)) && new Set(links.map((n) => n.slice(0, n.indexOf('-ag_')))).size === 1, `only one set of links stays pinned: ${links.join(', ')}`);
  assert.deepEqual(retiredDirs(), [], 'the retired maps are gone');
  assert.notEqual((await ctx.runIn(cg, ['/usr/bin/id'])).code, 0, 'blocked by the live programs alone');
  assert.ok(k.removePod(uid).ok);
  // a link whose last reference went is detached by the kernel asynchronously (deferred work,
  // RCU): allow it a moment under TCG, as the --cleanup scenario does (a loaded global-mode boot
  // once needed more than the first try)
  let code: number | null = null;
  for (let i = 0; i < 30 && code !== 0; i++) {
    if (i > 0) await new Promise((res) => setTimeout(res, 500));
    code = (await ctx.runIn(cg, ['/usr/bin/id'])).code;
  }
  assert.equal(code, 0, 'nothing of the earlier layouts still enforces');
// how an upgrade across layouts hands over links is the attach mode's, the maps' moves the same on
// both kernels: each kernel and each mode once (the boots of the seed and the limits)
}, { timeoutMs: 300_000, on: ONE_BOOT_PER_KERNEL });
