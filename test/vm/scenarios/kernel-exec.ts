// Guest suite: process rules (exec by path, by execname, under a directory) and the
// isolation of processes outside protected cgroups.
import assert from 'node:assert/strict';
import { scenario } from '../../../vm/guest/scenario.ts';
import { EPERM_RE, kernelFor, podWith, profile, rule } from '../../../vm/guest/kit/kernel.ts';

scenario('kernel: the programs load and attach in this mode', async (ctx) => {
  const { kernel } = await kernelFor(ctx);
  assert.equal(kernel.mode, ctx.attachMode);
  const c = kernel.counts();
  assert.ok(c.ok, c.ok ? '' : c.error.message);
}, { timeoutMs: 240_000 });

scenario('kernel: exec by path is blocked with EPERM inside the pod only', async (ctx) => {
  const pod = await podWith(ctx, profile({ process: [rule('Block', { type: 'path', path: '/usr/bin/id' })] }));
  const r = await ctx.runIn(pod.cg, ['/usr/bin/id']);
  assert.notEqual(r.code, 0, 'id must not run in the pod');
  assert.match(r.stderr, EPERM_RE);
  const ok1 = await ctx.runIn(pod.cg, ['/usr/bin/true']);
  assert.equal(ok1.code, 0, `true runs: ${ok1.stderr}`);
  const outside = await ctx.runIn(null, ['/usr/bin/id']);
  assert.equal(outside.code, 0, 'outside the pod, id runs');
  const e = await pod.waitEvent((x) => x.hook === 'exec' && x.denied);
  assert.equal(e.target, '/usr/bin/id');
  assert.equal(e.action, 'Block');
  assert.equal(e.errno, 1);
  assert.equal(e.rule?.target.type, 'path');
  assert.ok(e.pid > 0 && e.ppid > 0);
});

scenario('kernel: exec by execname is blocked whatever the directory', async (ctx) => {
  const pod = await podWith(ctx, profile({ process: [rule('Block', { type: 'execname', name: 'id' })] }));
  const r = await ctx.runIn(pod.cg, ['/usr/bin/id']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, EPERM_RE);
  const r2 = await ctx.runIn(pod.cg, ['/usr/bin/whoami']);
  assert.equal(r2.code, 0, r2.stderr);
});

scenario('kernel: exec under a directory, recursive and direct children only', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  const { mkdirSync, copyFileSync, chmodSync } = await import('node:fs');
  mkdirSync('/srv/bin/sub', { recursive: true });
  for (const p of ['/srv/bin/t1', '/srv/bin/sub/t2']) { copyFileSync('/usr/bin/true', p); chmodSync(p, 0o755); }
  const direct = await podWith(ctx, profile({ process: [rule('Block', { type: 'directory', dir: '/srv/bin/', recursive: false })] }));
  assert.notEqual((await ctx.runIn(direct.cg, ['/srv/bin/t1'])).code, 0, 'direct child blocked');
  assert.equal((await ctx.runIn(direct.cg, ['/srv/bin/sub/t2'])).code, 0, 'grandchild not blocked by a non-recursive rule');
  const rec = await podWith(ctx, profile({ process: [rule('Block', { type: 'directory', dir: '/srv/bin/', recursive: true })] }));
  assert.notEqual((await ctx.runIn(rec.cg, ['/srv/bin/t1'])).code, 0);
  assert.notEqual((await ctx.runIn(rec.cg, ['/srv/bin/sub/t2'])).code, 0, 'grandchild blocked by a recursive rule');
  assert.equal((await ctx.runIn(rec.cg, ['/usr/bin/true'])).code, 0);
});

scenario('kernel: allow-list process rules: unlisted executables get the posture', async (ctx) => {
  const allow = [rule('Allow', { type: 'path', path: '/usr/bin/dash' }), rule('Allow', { type: 'path', path: '/usr/bin/true' })];
  const blockPod = await podWith(ctx, profile({ process: allow }, { process: 'block' }));
  assert.equal((await ctx.runIn(blockPod.cg, ['/usr/bin/true'])).code, 0);
  const r = await ctx.runIn(blockPod.cg, ['/usr/bin/id']);
  assert.notEqual(r.code, 0);
  const e = await blockPod.waitEvent((x) => x.hook === 'exec' && x.denied);
  assert.equal(e.rule, null, 'decided by posture');
  const auditPod = await podWith(ctx, profile({ process: allow }, { process: 'audit' }));
  assert.equal((await ctx.runIn(auditPod.cg, ['/usr/bin/id'])).code, 0, 'audit posture lets it run');
  const a = await auditPod.waitEvent((x) => x.hook === 'exec' && x.target === '/usr/bin/id');
  assert.equal(a.action, 'Audit');
  assert.equal(a.denied, false);
});

scenario('kernel: Audit allows and reports', async (ctx) => {
  const pod = await podWith(ctx, profile({ process: [rule('Audit', { type: 'path', path: '/usr/bin/id' })] }));
  assert.equal((await ctx.runIn(pod.cg, ['/usr/bin/id'])).code, 0);
  const e = await pod.waitEvent((x) => x.target === '/usr/bin/id');
  assert.equal(e.action, 'Audit');
  assert.equal(e.denied, false);
  assert.equal(e.exe, '/usr/bin/dash', 'the calling executable');
});
