// Guest suite: the life of pods and of the enforcer: cgroupfs pod names, atomic profile
// replacement, the per-cgroup event rate limit, and a restart that keeps protection.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openKernel } from '../../../enforcer/kernel/index.ts';
import { DEFAULT_OBJECT } from '../../../enforcer/kernel/loader.ts';
import { scenario } from '../guest/scenario.ts';
import { PIN_DIR, kernelFor, podWith, profile, py, resetKernel, rule } from './kernel-helpers.ts';

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
  writeFileSync(upgraded, Buffer.concat([readFileSync(DEFAULT_OBJECT), Buffer.from([0])]));
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

scenario('kernel: an upgrade across map layouts keeps every pod protected: the earlier programs enforce until the new maps hold the pod, then their links and maps go', async (ctx) => {
  const { cleanupPins, openMapsOnly } = await import('../../../enforcer/kernel/index.ts');
  const dir = '/sys/fs/bpf/armorgate-layout';
  const variant = join(ctx.root, 'build', 'armorgate-variant.bpf.o');
  assert.ok(existsSync(variant), `${variant} (npm run build:bpf builds it)`);
  assert.ok(cleanupPins(dir).ok);
  ctx.defer(() => { cleanupPins(dir); });
  const uid = randomUUID();
  const binding = { uid, namespace: 'test', name: 'layout', profile: profile({ process: [rule('Block', { type: 'path', path: '/usr/bin/id' })] }), containers: [{ name: 'main' }] };
  const cg = await ctx.mkCgroup(`kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-${uid.slice(0, 8)}.scope`);
  // "an earlier ArmorGate": the same programs over another map layout, its pod enforced, then stopped
  const old = await openKernel({ attachMode: ctx.attachMode, cgroupRoot: '/sys/fs/cgroup', pinDir: dir, eventRatePerSec: 0, objectPath: variant });
  assert.ok(old.ok, old.ok ? '' : old.error.message);
  assert.ok(old.value.setPod(binding).ok);
  old.value.close();
  assert.notEqual((await ctx.runIn(cg, ['/usr/bin/id'])).code, 0, 'blocked by the earlier programs');
  const oldLinks = readdirSync(join(dir, 'links'));
  // a maps-only open of the other layout refuses, naming the map, and moves nothing
  const peek = openMapsOnly({ pinDir: dir });
  assert.equal(peek.ok, false, 'the maps of another layout are not reused');
  if (!peek.ok) assert.match(peek.error.message, /another layout[^]*rates: pinned .*16383 entries.*16384 entries/);
  assert.ok(existsSync(join(dir, 'rates')), 'nothing moved by a maps-only open');

  const loop = ctx.startIn(cg, ['/bin/sh', '-c', 'while :; do if /usr/bin/id >/dev/null 2>&1; then echo ALLOWED; else echo denied; fi; done'], { timeoutMs: 300_000 });
  const up = await openKernel({ attachMode: ctx.attachMode, cgroupRoot: '/sys/fs/cgroup', pinDir: dir, eventRatePerSec: 0 });
  assert.ok(up.ok, up.ok ? '' : up.error.message);
  const k = up.value;
  ctx.defer(() => { k.close(); });
  assert.equal(k.adopted, false);
  assert.match((k.retiredLayout ?? []).join('\n'), /^rates: /m, 'the rates map had another layout');
  const retired = readdirSync(dir).filter((n) => n.startsWith('retired-'));
  assert.equal(retired.length, 1, `the earlier maps moved aside: ${readdirSync(dir).join(', ')}`);
  assert.ok(oldLinks.every((n) => existsSync(join(dir, 'links', n))), 'the earlier links stay while the new maps are empty');
  assert.equal(k.podUids().length, 0, 'the new maps start empty');
  await new Promise((res) => setTimeout(res, 500));
  assert.ok(k.setPod(binding).ok, 'the pod into the new maps');
  const done = k.finishStart?.();
  assert.deepEqual(done, { links: oldLinks.length, retiredMaps: 1 });
  await new Promise((res) => setTimeout(res, 500));
  loop.kill('SIGKILL');
  const tries = (await loop.done).stdout.trim().split('\n');
  ctx.log(`during the upgrade: ${tries.filter((l) => l === 'denied').length} denied, ${tries.filter((l) => l === 'ALLOWED').length} allowed`);
  assert.ok(tries.filter((l) => l === 'denied').length >= 3, 'the loop kept trying');
  assert.equal(tries.filter((l) => l === 'ALLOWED').length, 0, 'no exec of id got through while the new layout took over');
  assert.ok(readdirSync(join(dir, 'links')).every((n) => !oldLinks.includes(n)), 'only the new links stay pinned');
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('retired-')), [], 'the earlier maps are gone');
  assert.notEqual((await ctx.runIn(cg, ['/usr/bin/id'])).code, 0, 'blocked by the new programs alone');
  assert.ok(k.removePod(uid).ok);
  assert.equal((await ctx.runIn(cg, ['/usr/bin/id'])).code, 0, 'nothing of the earlier layout still enforces');
}, { timeoutMs: 240_000 });
