// Shared by the kernel-* guest suites: one enforcer Kernel per boot (loading the BPF
// object under TCG takes seconds), a pod per scenario, event collection.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { openKernel, cleanupPins, type Kernel, type KernelEvent } from '../../../enforcer/kernel/index.ts';
import type { Cgroup, ScenarioContext } from '../scenario.ts';
import type { Action, Profile, ProfileRule, RuleKind, Target } from '../../../policy/types.ts';

export const PIN_DIR = '/sys/fs/bpf/armorgate-test';
const KUBEPODS = '/sys/fs/cgroup/kubepods.slice';

let shared: Promise<{ kernel: Kernel; events: KernelEvent[] }> | null = null;

/** The boot's Kernel (opened on first use, in the boot's attach mode). */
export function kernelFor(ctx: ScenarioContext): Promise<{ kernel: Kernel; events: KernelEvent[] }> {
  shared ??= (async () => {
    // both drivers' roots, so that the programs find pods under either in global mode (cgroup
    // mode attaches to the first, kubepods.slice)
    for (const d of [KUBEPODS, '/sys/fs/cgroup/kubepods']) if (!existsSync(d)) mkdirSync(d);
    cleanupPins(PIN_DIR);
    const t0 = Date.now();
    const r = await openKernel({ attachMode: ctx.attachMode, cgroupRoot: '/sys/fs/cgroup', pinDir: PIN_DIR, eventRatePerSec: 500 });
    if (!r.ok) throw new Error(`openKernel: ${r.error.message}`);
    ctx.log(`kernel opened in ${Date.now() - t0} ms, mode ${r.value.mode}`);
    const events: KernelEvent[] = [];
    r.value.onEvent((e) => events.push(e));
    return { kernel: r.value, events };
  })();
  return shared;
}

/** Closes the boot's Kernel (pins stay); the next kernelFor opens a new one. */
export async function resetKernel(): Promise<void> {
  if (shared) {
    const k = await shared;
    k.kernel.close();
    shared = null;
  }
}

export function rule(action: Action, target: Target, more: Partial<ProfileRule> = {}): ProfileRule {
  return {
    action, target, readOnly: false, ownerOnly: false, fromSource: '', containers: [],
    policies: ['test/policy'], severity: 5, tags: [], message: '', ...more,
  };
}

export function profile(rules: Partial<Record<RuleKind, ProfileRule[]>>, posture: Partial<Profile['posture']> = {}): Profile {
  return {
    version: 1,
    posture: { file: 'block', network: 'block', capabilities: 'block', process: 'block', ...posture },
    process: rules.process ?? [], file: rules.file ?? [], network: rules.network ?? [], capabilities: rules.capabilities ?? [],
  };
}

export interface TestPod extends LoadedPod {
  /** the container's cgroup (a scope beneath the pod's slice, as containerd makes it) */
  cg: Cgroup;
}

export interface LoadedPod {
  uid: string;
  kernel: Kernel;
  events: KernelEvent[];
  /** events of this pod so far */
  mine(): KernelEvent[];
  /** waits for an event of this pod matching pred */
  waitEvent(pred: (e: KernelEvent) => boolean, ms?: number): Promise<KernelEvent>;
}

/**
 * A pod with the given profile put in force by UID only, as the enforcer does when it learns a pod
 * from the API before kubelet has made any cgroup: the programs find the pod from the cgroup names
 * (the pod's cgroup under kubepods, either driver) when its processes first act. Removed after the
 * scenario. For real containers: `ctx.container({ pod: { uid: pod.uid } })`.
 */
export async function loadPod(ctx: ScenarioContext, p: Profile, opts: { containers?: string[]; uid?: string } = {}): Promise<LoadedPod> {
  const { kernel, events } = await kernelFor(ctx);
  const uid = opts.uid ?? randomUUID();
  const names = opts.containers ?? ['main'];
  const set = kernel.setPod({ uid, namespace: 'test', name: 'pod', profile: p, containers: names.map((name) => ({ name })) });
  if (!set.ok) throw new Error(`setPod: ${set.error.message}`);
  ctx.defer(() => { kernel.removePod(uid); });
  const start = events.length;
  const mine = (): KernelEvent[] => events.slice(start).filter((e) => e.podUid === uid);
  return {
    uid, kernel, events, mine,
    waitEvent: async (pred, ms = 5000) => {
      const end = Date.now() + ms;
      for (;;) {
        const hit = mine().find(pred);
        if (hit) return hit;
        if (Date.now() > end) throw new Error(`no matching event within ${ms} ms; events of the pod: ${JSON.stringify(mine().map(brief))}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

/**
 * A pod with the given profile, loaded BEFORE its cgroup exists (as the enforcer learns
 * pods from the API before kubelet starts them); the container cgroup is then created
 * under kubepods like kubelet's systemd driver does, and never told to the kernel: the
 * programs find the pod from the cgroup names. Processes join it by `ctx.runIn` (a shell moved
 * into the cgroup); `loadPod` + `ctx.container` is the real thing.
 */
export async function podWith(ctx: ScenarioContext, p: Profile, opts: { tellCgroup?: boolean; containers?: string[]; uid?: string } = {}): Promise<TestPod> {
  const pod = await loadPod(ctx, p, opts);
  const { uid, kernel } = pod;
  const names = opts.containers ?? ['main'];
  const slice = `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid.replace(/-/g, '_')}.slice`;
  const cg = await ctx.mkCgroup(`${slice}/cri-containerd-${uid.slice(0, 8)}.scope`);
  if (opts.tellCgroup) {
    const again = kernel.setPod({ uid, namespace: 'test', name: 'pod', profile: p, containers: names.map((name, i) => (i === 0 ? { name, cgroupId: cg.id } : { name })) });
    if (!again.ok) throw new Error(`setPod: ${again.error.message}`);
  }
  return { ...pod, cg };
}

export function brief(e: KernelEvent): string {
  return `${e.type} ${e.hook} ${e.kind} ${e.action}${e.denied ? ' denied' : ''} ${e.exe} → ${e.target}${e.rule ? '' : ' (posture)'}`;
}

export const EPERM_RE = /Operation not permitted|Permission denied|EPERM/;

/** python3 one-liner run in the cgroup; returns exit code and output */
export function py(code: string): string[] {
  return ['/usr/bin/python3', '-c', code];
}

/** The programs' shortcut counters (bpf/opencache.h, map ocstats), summed over CPUs and over every
 *  loaded object's map: opens allowed from the open cache (hits), its slots written (stores), the
 *  acting pod looked up past its memo (who), file hooks in an allow-list decided by the posture
 *  without their path matched (posture). */
export async function kernelCounters(ctx: ScenarioContext): Promise<{ hits: number; stores: number; who: number; posture: number }> {
  const r = await ctx.runIn(null, ['bpftool', '-j', 'map', 'show']);
  const ids = (JSON.parse(r.stdout) as { id: number; name?: string }[]).filter((m) => m.name === 'ocstats').map((m) => m.id);
  const sums = [0, 0, 0, 0];
  for (const id of ids) {
    const d = await ctx.runIn(null, ['bpftool', '-j', 'map', 'dump', 'id', String(id)]);
    // with BTF, bpftool's JSON carries the typed entry under "formatted"
    type Entry = { key: number; values: { value: number }[] };
    for (const raw of JSON.parse(d.stdout) as (Entry & { formatted?: Entry })[]) {
      const e = raw.formatted ?? raw;
      if (e.key >= 0 && e.key < sums.length) sums[e.key]! += e.values.reduce((a, v) => a + Number(v.value), 0);
    }
  }
  return { hits: sums[0]!, stores: sums[1]!, who: sums[2]!, posture: sums[3]! };
}
