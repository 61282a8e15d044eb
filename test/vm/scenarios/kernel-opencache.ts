// Guest suite: the open cache (bpf/opencache.h). An open allowed with no event is allowed again
// from a per-CPU slot while nothing its decision depended on has changed. Each check here first
// makes the pod's opens of a file come from the cache (the cache's hit counter moves), then
// changes one thing the decision depends on, from outside the pod, then opens again in the pod:
// the open must be decided afresh (a slot written, no hit) and denied. The change is checked to
// work outside the pod (the control), so that a failed change can never pass as a denial. Every
// pod process runs on CPU 0, so the slots it fills are the ones the next process reads.
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import type { Cgroup, ScenarioContext } from '../../../vm/guest/scenario.ts';
import { ONE_BOOT_PER_KERNEL, ONE_BOOT_PER_KERNEL_CROSSED, scenario } from '../../../vm/guest/scenario.ts';
import { kernelCounters, podWith, profile, py, rule } from '../../../vm/guest/kit/kernel.ts';
import type { ProfileRule } from '../../../policy/types.ts';

interface Opened { results: Record<string, string> }

/** Opens each path `times` times on CPU 0 (as `uid` when given; write: O_WRONLY); the last result of each. */
async function openIn(ctx: ScenarioContext, cg: Cgroup | null, paths: string[], o: { times?: number; write?: boolean; uid?: number } = {}): Promise<Opened> {
  const code = `
import os, json, errno
os.sched_setaffinity(0, {0})
${o.uid !== undefined ? `os.setgid(${o.uid}); os.setuid(${o.uid})` : ''}
r = {}
for p in ${JSON.stringify(paths)}:
    for i in range(${o.times ?? 20}):
        try:
            os.close(os.open(p, ${o.write ? 'os.O_WRONLY' : 'os.O_RDONLY'})); r[p] = 'ok'
        except OSError as e:
            r[p] = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps(r))
`;
  const res = await ctx.runIn(cg, py(code));
  assert.equal(res.code, 0, `python failed: ${res.stderr}`);
  return { results: JSON.parse(res.stdout) as Record<string, string> };
}

async function sh(ctx: ScenarioContext, cmd: string): Promise<void> {
  const r = await ctx.runIn(null, ['sh', '-c', cmd]);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
}

const BASE: ProfileRule[] = [
  rule('Block', { type: 'directory', dir: '/srv/oc/secret/', recursive: true }),
  rule('Block', { type: 'path', path: '/srv/oc/pub/ro.txt' }, { readOnly: true }),
  rule('Block', { type: 'path', path: '/srv/oc/pub/own.txt' }, { ownerOnly: true }),
];

/** A process in the pod, on CPU 0, that runs each step when the host says so (a file appears in
 *  `go`: a stat, no open) and prints one JSON line per step: between two steps it opens nothing,
 *  so the cache's counters around a step count that step's opens alone. */
function worker(ctx: ScenarioContext, cg: Cgroup, steps: { path: string; times: number; write?: boolean }[]): { step(i: number): Promise<string> } {
  const go = `${ctx.tmp}/go`;
  mkdirSync(go);
  const code = `
import os, sys, json, errno, time
os.sched_setaffinity(0, {0})
steps = json.loads(${JSON.stringify(JSON.stringify(steps))})
for i, st in enumerate(steps):
    while not os.path.exists('${go}/%d' % i):
        time.sleep(0.01)
    r = ''
    for k in range(st['times']):
        try:
            os.close(os.open(st['path'], os.O_WRONLY if st.get('write') else os.O_RDONLY)); r = 'ok'
        except OSError as e:
            r = errno.errorcode.get(e.errno, str(e.errno))
    sys.stdout.write(json.dumps({'i': i, 'r': r}) + '\\n'); sys.stdout.flush()
`;
  const started = ctx.startIn(cg, py(code), { timeoutMs: 200_000 });
  const lines: string[] = [];
  let buf = '';
  started.child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let n = buf.indexOf('\n'); n >= 0; n = buf.indexOf('\n')) { lines.push(buf.slice(0, n)); buf = buf.slice(n + 1); }
  });
  return {
    async step(i: number): Promise<string> {
      writeFileSync(`${go}/${i}`, '');
      const end = Date.now() + 30_000;
      for (;;) {
        const l = lines.find((x) => (JSON.parse(x) as { i: number }).i === i);
        if (l) return (JSON.parse(l) as { r: string }).r;
        if (Date.now() > end) throw new Error(`worker step ${i}: no answer`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

scenario('open cache: a cached allow is decided afresh and denied after a rename above it, a mount move, a hard link, a new generation, a write, another owner', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  for (const d of ['/srv/oc/pub/a', '/srv/oc/pub/m']) mkdirSync(d, { recursive: true });
  for (const f of ['/srv/oc/pub/a/f', '/srv/oc/pub/ro.txt', '/srv/oc/pub/own.txt', '/srv/oc/pub/g', '/srv/oc/pub/h']) writeFileSync(f, 'x');
  chownSync('/srv/oc/pub/own.txt', 1000, 1000);
  await sh(ctx, 'mount -t tmpfs oc-m /srv/oc/pub/m && echo x > /srv/oc/pub/m/f && mount --make-private /srv/oc/pub/m');
  ctx.defer(async () => { await ctx.runIn(null, ['sh', '-c', 'umount /srv/oc/secret/mnt || umount /srv/oc/pub/m']); });
  const pod = await podWith(ctx, profile({ file: BASE }));
  const { kernel } = pod;
  const w = worker(ctx, pod.cg, [
    { path: '/srv/oc/pub/a/f', times: 20 }, // 0: fill
    { path: '/srv/oc/pub/a/f', times: 20 }, // 1: all from the cache
    { path: '/srv/oc/pub/a/f', times: 1 },  // 2: after a new dentry on the superblock
    { path: '/srv/oc/pub/a/f', times: 20 }, // 3: fill again
    { path: '/srv/oc/secret/f', times: 1 }, // 4: after the rename
    { path: '/srv/oc/pub/m/f', times: 20 }, // 5
    { path: '/srv/oc/secret/mnt/f', times: 1 }, // 6: after the mount move
    { path: '/srv/oc/pub/h', times: 20 },   // 7
    { path: '/srv/oc/secret/h', times: 1 }, // 8: after the link
    { path: '/srv/oc/pub/ro.txt', times: 20 }, // 9
    { path: '/srv/oc/pub/ro.txt', times: 1, write: true }, // 10
    { path: '/srv/oc/pub/g', times: 20 },   // 11
    { path: '/srv/oc/pub/g', times: 1 },    // 12: after a new generation
  ]);
  /** one step; its result and what the cache did meanwhile */
  const whoLookups: number[] = [];
  const step = async (i: number): Promise<{ r: string; hits: number; stores: number }> => {
    const a = await kernelCounters(ctx);
    const r = await w.step(i);
    const b = await kernelCounters(ctx);
    ctx.log(`step ${i}: ${r}, hits ${b.hits - a.hits}, stores ${b.stores - a.stores}, pod lookups ${b.who - a.who}`);
    whoLookups[i] = b.who - a.who;
    return { r, hits: b.hits - a.hits, stores: b.stores - a.stores };
  };
  const afresh = (s: { r: string; hits: number; stores: number }, what: string): void => {
    assert.equal(s.hits, 0, `${what}: decided afresh, not from the cache`);
    assert.equal(s.r, 'EPERM', `${what}: denied`);
  };

  // the cache is in use: once filled, every open of the file comes from it
  assert.equal((await step(0)).r, 'ok');
  const s1 = await step(1);
  assert.deepEqual(s1, { r: 'ok', hits: 20, stores: 0 }, 'repeated opens come from the cache');
  // and the pod of each came from ag_who's memo: the step's pod lookups are the ones other
  // processes on CPU 0 (this runner, bpftool) made the memo lose (2 to 6 seen), not one an open
  assert.ok(whoLookups[1]! < 10, `20 opens, ${whoLookups[1]} lookups of the acting pod: the memo serves repeated checks`);
  // a dentry of the same superblock getting an inode: the slot stops matching
  await sh(ctx, 'touch /srv/oc/pub/new-file');
  assert.deepEqual(await step(2), { r: 'ok', hits: 0, stores: 1 }, 'a new dentry on the superblock: decided afresh');

  // 1. a rename of a directory above the cached file: same dentry, new path
  assert.equal((await step(3)).r, 'ok');
  await sh(ctx, 'mv /srv/oc/pub/a /srv/oc/secret');
  assert.deepEqual((await openIn(ctx, null, ['/srv/oc/secret/f'])).results, { '/srv/oc/secret/f': 'ok' }, 'control: the renamed file opens outside the pod');
  afresh(await step(4), 'renamed under a Block directory');

  // 2. a mount moved under the Block directory: same dentry and vfsmount, new path
  assert.equal((await step(5)).r, 'ok');
  await sh(ctx, 'mkdir -p /srv/oc/secret/mnt && mount --make-private /srv && mount --move /srv/oc/pub/m /srv/oc/secret/mnt');
  assert.deepEqual((await openIn(ctx, null, ['/srv/oc/secret/mnt/f'])).results, { '/srv/oc/secret/mnt/f': 'ok' }, 'control: the moved mount opens outside the pod');
  afresh(await step(6), 'moved under a Block directory');

  // 3. a hard link under the Block directory, the old name removed
  assert.equal((await step(7)).r, 'ok');
  await sh(ctx, 'ln /srv/oc/pub/h /srv/oc/secret/h && rm /srv/oc/pub/h');
  assert.deepEqual((await openIn(ctx, null, ['/srv/oc/secret/h'])).results, { '/srv/oc/secret/h': 'ok' }, 'control: the other name opens outside the pod');
  afresh(await step(8), 'the other name, under a Block directory');

  // 4. a write after cached reads (a readOnly Block permits reads only)
  assert.equal((await step(9)).r, 'ok');
  afresh(await step(10), 'a write after cached reads');

  // 5. a new generation of the pod's profile blocks a file whose opens were cached
  assert.equal((await step(11)).r, 'ok');
  assert.ok(whoLookups[11]! < 10, `20 opens, ${whoLookups[11]} lookups of the acting pod: the memo held it before the change`);
  const set = kernel.setPod({ uid: pod.uid, namespace: 'test', name: 'pod', profile: profile({ file: [...BASE, rule('Block', { type: 'path', path: '/srv/oc/pub/g' })] }), containers: [{ name: 'main' }] });
  assert.ok(set.ok, set.ok ? '' : set.error.message);
  afresh(await step(12), 'a new generation');
  assert.ok(whoLookups[12]! >= 1, 'a new generation: the pod looked up again (the epoch changed), not taken from the memo');

  // 6. the owner's cached opens, then the file given to another user (an ownerOnly Block)
  assert.deepEqual((await openIn(ctx, pod.cg, ['/srv/oc/pub/own.txt'], { uid: 1000 })).results, { '/srv/oc/pub/own.txt': 'ok' });
  chownSync('/srv/oc/pub/own.txt', 0, 0);
  assert.deepEqual((await openIn(ctx, null, ['/srv/oc/pub/own.txt'], { uid: 1000 })).results, { '/srv/oc/pub/own.txt': 'ok' }, 'control: mode 644 lets the user read it outside the pod');
  assert.deepEqual((await openIn(ctx, pod.cg, ['/srv/oc/pub/own.txt'], { times: 1, uid: 1000 })).results, { '/srv/oc/pub/own.txt': 'EPERM' }, 'no longer the owner: denied');
// the open hook's code is the same in both attach modes (lsm_cgroup and lsm wrap one function):
// each kernel once, the visibility scenario below on the other two boots
}, { timeoutMs: 240_000, on: ONE_BOOT_PER_KERNEL });

scenario('open cache: with visibility logs of files, opens allowed from the cache are each still logged', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  mkdirSync('/srv/oc/pub', { recursive: true });
  writeFileSync('/srv/oc/pub/v', 'x');
  // a file rule, so that opens are decided (and cached); the opened file is not under it
  const pod = await podWith(ctx, { ...profile({ file: [rule('Block', { type: 'directory', dir: '/srv/oc/secret/', recursive: true })] }), visibility: ['file'] });
  assert.ok(pod.kernel.setLogRate?.(0).ok, 'no log rate limit');
  ctx.defer(() => { pod.kernel.setLogRate?.(1000); });
  const a = await kernelCounters(ctx);
  assert.deepEqual((await openIn(ctx, pod.cg, ['/srv/oc/pub/v'], { times: 30 })).results, { '/srv/oc/pub/v': 'ok' });
  const b = await kernelCounters(ctx);
  assert.ok(b.hits - a.hits >= 29, `the repeated opens come from the cache (${b.hits - a.hits} hits)`);
  const logs = (): number => pod.mine().filter((e) => e.type === 'log' && e.target === '/srv/oc/pub/v').length;
  const t0 = Date.now();
  while (logs() < 30 && Date.now() - t0 < 10_000) await new Promise((res) => setTimeout(res, 100));
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(logs(), 30, 'one log per open, cached or not');
  assert.equal(pod.mine().filter((e) => e.type === 'decision').length, 0, 'no alert');
}, { on: ONE_BOOT_PER_KERNEL_CROSSED });
