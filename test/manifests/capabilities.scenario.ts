// Guest suite (VM): the enforcer DaemonSet's capability set, read from manifests/enforcer.yaml,
// is enough and each of its capabilities is needed. Processes run as root (as the DaemonSet's
// container does) with only those capabilities, through setpriv: the bounding set limited to
// them, no inheritable or ambient ones, no_new_privs (allowPrivilegeEscalation: false). A
// container runtime gives the container's root the same effective set.
//
// Self-contained on purpose: it uses only the harness's stable scenario API and the CLI.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { scenario, type ScenarioContext } from '../../vm/guest/scenario.ts';
import { daemonSetCapabilities, withCapabilities } from './capabilities-support.ts';

type Probe = { canEnforce: boolean; attachMode: string; lsm: { programsLoad: boolean; detail: string } };

async function probe(ctx: ScenarioContext, caps: readonly string[]): Promise<Probe> {
  const r = await ctx.runIn(null, [...withCapabilities(caps), process.execPath, join(ctx.root, 'bin/armorgate.js'), 'probe', '--json'], { timeoutMs: 120_000 });
  assert.ok(r.stdout.trim().startsWith('{'), `probe with ${caps.join('+') || 'no capability'}: exit ${r.code}\n${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout) as Probe;
}

scenario('capabilities: root with only CAP_BPF and CAP_PERFMON (the DaemonSet\'s set) can load and attach LSM programs', async (ctx) => {
  const caps = daemonSetCapabilities(ctx.root);
  const status = await ctx.runIn(null, [...withCapabilities(caps), '/usr/bin/grep', '^CapEff', '/proc/self/status']);
  ctx.log(`${caps.join('+')}: ${status.stdout.trim()}`);
  const p = await probe(ctx, caps);
  ctx.log(`probe: canEnforce=${p.canEnforce} attachMode=${p.attachMode} ${p.lsm.detail}`);
  assert.equal(p.canEnforce, true, `with ${caps.join('+')}: ${JSON.stringify(p)}`);
  // both attach paths: BPF_LSM_CGROUP (kernels >= 6.0) and BPF_LSM_MAC (5.11-5.19, UEK7)
  assert.match(p.lsm.detail, /BPF_LSM_CGROUP attach works/);
  assert.match(p.lsm.detail, /BPF_LSM_MAC attach works/);
}, { timeoutMs: 180_000 });

scenario('capabilities: each capability of the DaemonSet is needed', async (ctx) => {
  const caps = daemonSetCapabilities(ctx.root);
  for (const dropped of caps) {
    const rest = caps.filter((c) => c !== dropped);
    const p = await probe(ctx, rest);
    ctx.log(`without ${dropped}: canEnforce=${p.canEnforce} ${p.lsm.detail}`);
    assert.equal(p.canEnforce, false, `without CAP_${dropped} the enforcer could still enforce: CAP_${dropped} is not needed`);
  }
}, { timeoutMs: 240_000 });
