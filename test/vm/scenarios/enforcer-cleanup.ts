// `armorgate enforcer --cleanup` in the VM, on the boot's shared enforcer: it stops that enforcer
// and removes its pins, so this suite comes last in test/vm/enforcer.test.ts (every scenario
// before it shares one enforcer start).
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { scenario } from '../../../vm/guest/scenario.ts';
import { cgroup, cleanupPins, deniedExec, fixture, preparePod, publish, sharedEnforcer, waitEnforced } from '../../../vm/guest/kit/enforcer.ts';

scenario('enforcer: --cleanup leaves nothing pinned and nothing enforced', async (ctx) => {
  const fx = await fixture(ctx);
  const e = await sharedEnforcer(ctx);
  const pod = await preparePod(ctx, fx, { name: 'cleanup' });
  const from = e.logs.length;
  publish(ctx, fx, pod);
  await waitEnforced(e, [pod.uid], from);
  const cg = await cgroup(ctx, pod.containerCgroup('web'));
  assert.ok(deniedExec(await ctx.runIn(cg, ['/usr/bin/dpkg', '--version'])));
  await e.stop('SIGTERM');
  assert.ok(existsSync(fx.pinDir) && readdirSync(fx.pinDir).length > 0, 'a stopped enforcer keeps its pins');
  assert.ok(deniedExec(await ctx.runIn(cg, ['/usr/bin/dpkg', '--version'])), 'protection outlives the process');
  const r = await cleanupPins(ctx, fx.pinDir);
  assert.equal(r.code, 0, `armorgate enforcer --cleanup: exit ${String(r.code)}, signal ${String(r.signal)}\n${r.stdout}\n${r.stderr}`);
  assert.ok(!existsSync(fx.pinDir) || readdirSync(fx.pinDir).length === 0, `nothing pinned under ${fx.pinDir}`);
  // the kernel detaches a link whose last reference went asynchronously (deferred work, RCU): allow it
  // a moment, under TCG
  let code: number | null = null;
  for (let i = 0; i < 30 && code !== 0; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 500));
    code = (await ctx.runIn(cg, ['/usr/bin/dpkg', '--version'])).code;
  }
  assert.equal(code, 0, 'nothing enforced after cleanup');
}, { timeoutMs: 180_000 });
