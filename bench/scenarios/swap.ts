// The enforcer follows a running pod's annotations (issue 16, item 4): inside a real container
// (runc, kubelet's systemd cgroup layout), a Block added to the pod's signed profile denies within
// 2 s of the new annotations reaching the node, and removed, allows again within 2 s; a rule in
// both profiles never lapses across the swaps (no moment with neither set in force). Once with the
// pods folder as the source, once with the API server (the list/watch test server, in the guest)
// through the enforcer's ListWatch. A control container outside every pod runs the blocked binary
// the whole time.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Pod } from '../../policy/types.ts';
import { ONE_BOOT_PER_KERNEL, scenario, type ScenarioContext } from '../../vm/guest/scenario.ts';
import { TestApiServer, type K8sObject } from '../../devtools/apiserver.ts';
import { fixture, preparePod, publish, sharedEnforcer, startEnforcer, waitEnforced, type Enforcer, type Fixture, type PreparedPod } from '../../vm/guest/kit/enforcer.ts';

const BOUND_MS = 2000;
const PODS = '/api/v1/pods';

function policy(name: string, execname: string): string {
  return `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: { name: ${name}, namespace: shop }
spec:
  selector: { matchLabels: { app: web } }
  process: { matchPaths: [ { execname: ${execname} } ] }
  action: Block
`;
}

/** The same pod (UID, containers) compiled twice: A blocks apt-config; B blocks apt-config and dpkg. */
async function twoProfiles(ctx: ScenarioContext, fx: Fixture): Promise<{ a: PreparedPod; b: PreparedPod }> {
  const dirA = join(ctx.tmp, 'policies-a'), dirB = join(ctx.tmp, 'policies-b');
  mkdirSync(dirA); mkdirSync(dirB);
  for (const d of [dirA, dirB]) writeFileSync(join(d, 'common.yaml'), policy('swap-common', 'apt-config'));
  writeFileSync(join(dirB, 'dpkg.yaml'), policy('swap-dpkg', 'dpkg'));
  const uid = randomUUID();
  const containers = { web: randomBytes(32).toString('hex'), 'log-shipper': randomBytes(32).toString('hex') };
  const a = await preparePod(ctx, fx, { uid, containers, policies: dirA, name: 'swap' });
  const b = await preparePod(ctx, fx, { uid, containers, policies: dirB, name: 'swap' });
  assert.notEqual(a.manifest.metadata?.annotations?.['armorgate.io/profile-digest'], b.manifest.metadata?.annotations?.['armorgate.io/profile-digest']);
  return { a, b };
}

// one line per try, stamped with the guest's clock (the scenario's Date.now() reads the same clock):
// "<epoch seconds.micro> <dpkg: A|D> <apt-config: A|D>"
const LOOP = 'while :; do t=$EPOCHREALTIME; if /usr/bin/dpkg --version >/dev/null 2>&1; then d=A; else d=D; fi; '
  + 'if /usr/bin/apt-config --version >/dev/null 2>&1; then c=A; else c=D; fi; echo "$t $d $c"; done';

interface Try { t: number; dpkg: 'A' | 'D'; aptConfig: 'A' | 'D' }
function tries(logs: string): Try[] {
  const out: Try[] = [];
  for (const l of logs.split('\n')) {
    const m = /^(\d+)[.,](\d+) ([AD]) ([AD])$/.exec(l.trim());
    if (m) out.push({ t: Number(m[1]) * 1000 + Number(`0.${m[2]}`) * 1000, dpkg: m[3] as 'A' | 'D', aptConfig: m[4] as 'A' | 'D' });
  }
  return out;
}

async function until<T>(f: () => T | undefined, what: string, ms = 60_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A, then B (Block dpkg added), then A again (removed), each change made by `change`. */
async function swaps(ctx: ScenarioContext, e: Enforcer, p: { a: PreparedPod; b: PreparedPod }, change: (m: Pod) => void, source: string): Promise<void> {
  const from = e.logs.length;
  change(p.a.manifest);
  await waitEnforced(e, [p.a.uid], from);
  const c = await ctx.container({ pod: { uid: p.a.uid, qos: 'burstable' }, driver: 'systemd', id: p.a.containerIds.web, argv: ['/bin/bash', '-c', LOOP] });
  const ctl = await ctx.container({ argv: ['/bin/sleep', 'infinity'] });
  await until(() => (tries(c.logs()).length >= 3 ? true : undefined), 'three tries under profile A');
  for (const x of tries(c.logs())) {
    assert.equal(x.dpkg, 'A', 'profile A: dpkg allowed in the pod');
    assert.equal(x.aptConfig, 'D', 'profile A: apt-config denied in the pod');
  }

  // Block added: B's annotations reach the node now
  const tAdd = Date.now();
  change(p.b.manifest);
  const denied = await until(() => tries(c.logs()).find((x) => x.t >= tAdd && x.dpkg === 'D'), 'dpkg denied after the Block was added', 30_000);
  ctx.emit('swap', { source, change: 'block added', ms: Math.round(denied.t - tAdd) });
  assert.ok(denied.t - tAdd <= BOUND_MS, `${source}: the added Block denied ${Math.round(denied.t - tAdd)} ms after the annotations reached the node (bound ${BOUND_MS})`);
  const ctl1 = await ctl.exec(['/usr/bin/dpkg', '--version']);
  assert.equal(ctl1.code, 0, `control: dpkg runs outside the pod (${ctl1.stderr})`);
  await until(() => (tries(c.logs()).filter((x) => x.t > denied.t).length >= 3 ? true : undefined), 'three more tries under B');

  // Block removed: A's annotations again
  const tRemove = Date.now();
  change(p.a.manifest);
  const allowed = await until(() => tries(c.logs()).find((x) => x.t >= tRemove && x.dpkg === 'A'), 'dpkg allowed after the Block was removed', 30_000);
  ctx.emit('swap', { source, change: 'block removed', ms: Math.round(allowed.t - tRemove) });
  assert.ok(allowed.t - tRemove <= BOUND_MS, `${source}: the removed Block allowed again ${Math.round(allowed.t - tRemove)} ms after (bound ${BOUND_MS})`);
  await until(() => (tries(c.logs()).filter((x) => x.t > allowed.t).length >= 3 ? true : undefined), 'three more tries under A');

  const all = tries(c.logs());
  ctx.log(`${source}: ${all.length} tries`);
  // the rule in both profiles never lapsed: no try of apt-config was allowed, before, during or after the swaps
  assert.deepEqual(all.filter((x) => x.aptConfig === 'A'), [], 'apt-config (blocked by both profiles) never allowed across the swaps');
  // each swap took effect once: dpkg allowed, then denied from the first denial until the removal, then allowed
  const underB = all.filter((x) => x.t >= denied.t && x.t < tRemove);
  assert.ok(underB.length >= 3 && underB.every((x) => x.dpkg === 'D'), 'once denied, dpkg stays denied until the Block is removed');
  assert.ok(all.filter((x) => x.t >= allowed.t).every((x) => x.dpkg === 'A'), 'once allowed again, dpkg stays allowed');
  assert.ok(all.filter((x) => x.t < tAdd).every((x) => x.dpkg === 'A'), 'before the Block, dpkg allowed');
}

scenario('enforcer follows annotation changes: pods folder source, real container, Block added denies within 2 s, removed allows again', async (ctx) => {
  const fx = await fixture(ctx);
  const e = await sharedEnforcer(ctx); // the boot's enforcer, on the same pods folder
  const p = await twoProfiles(ctx, fx);
  await swaps(ctx, e, p, (m) => publish(ctx, fx, p.a, m), 'pods-dir');
// a swap is a new generation in the maps, the same in both attach modes: each kernel once (the API
// source below on one more boot)
}, { timeoutMs: 600_000, on: ONE_BOOT_PER_KERNEL });

scenario('enforcer follows annotation changes: API server source (ListWatch), real container, Block added denies within 2 s, removed allows again', async (ctx) => {
  const fx = await fixture(ctx);
  const api = await TestApiServer.start({ https: true });
  ctx.defer(() => api.stop());
  api.resource(PODS, { kind: 'Pod', apiVersion: 'v1', namespaced: true });
  const kubeconfig = join(ctx.tmp, 'kubeconfig');
  writeFileSync(kubeconfig, api.kubeConfig().exportConfig());
  const e = await startEnforcer(ctx, fx, ['--kubeconfig', kubeconfig]);
  ctx.defer(() => e.stop());
  const p = await twoProfiles(ctx, fx);
  let created = false;
  const change = (m: Pod): void => {
    const obj = { ...m, spec: { ...m.spec, nodeName: 'vm-node' } } as unknown as K8sObject;
    if (created) api.update(PODS, obj); else { api.create(PODS, obj); created = true; }
  };
  await swaps(ctx, e, p, change, 'api');
  assert.ok(api.requests.some((r) => r.path === PODS && r.watch && r.query.fieldSelector === 'spec.nodeName=vm-node'), 'the enforcer watched with its node\'s field selector');
// the source is what this adds to the scenario above (which swaps on every boot): one boot, the one
// of the enforcer suite's four with the least else to do
}, { timeoutMs: 600_000, on: [{ kernel: '6.1', attachMode: 'cgroup' }] });
