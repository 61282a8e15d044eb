// Shared by the enforcer-* guest suites: pods compiled and signed by `armorgate profile --output pod`
// into a --pods-dir, the real `armorgate enforcer` started as a process, its alerts (stdout) and
// logs (stderr) collected as they come, kubelet-style cgroups.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeArmorAlert } from '../../../enforcer/alerts.ts';
import type { Pod } from '../../../policy/types.ts';
import type { Cgroup, ScenarioContext, Started } from '../guest/scenario.ts';

export const KUBEPODS = 'kubepods.slice';
export const BURSTABLE = 'kubepods.slice/kubepods-burstable.slice';

export interface Fixture {
  dir: string;
  keyFile: string;
  podsDir: string;
  pinDir: string;
}

/** Key, pods folder and a pin folder of this scenario; the kubepods hierarchy the enforcer attaches to. */
export async function fixture(ctx: ScenarioContext): Promise<Fixture> {
  const keyFile = join(ctx.tmp, 'signing.key');
  writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const podsDir = join(ctx.tmp, 'pods');
  mkdirSync(podsDir);
  if (!existsSync(`/sys/fs/cgroup/${BURSTABLE}`)) await ctx.mkCgroup(BURSTABLE);
  const pinDir = `/sys/fs/bpf/ag-${randomBytes(4).toString('hex')}`;
  ctx.defer(() => cleanupPins(ctx, pinDir));
  return { dir: ctx.tmp, keyFile, podsDir, pinDir };
}

async function cleanupPins(ctx: ScenarioContext, pinDir: string): Promise<void> {
  await ctx.runIn(null, [process.execPath, join(ctx.root, 'bin/armorgate.js'), 'enforcer', '--cleanup', '--pin-dir', pinDir], { timeoutMs: 60_000 });
}

export interface PodSpec {
  uid?: string;
  name?: string;
  /** Container name → containerd container ID (64 hex); default the example pod's two containers. */
  containers?: Record<string, string>;
  policies?: string;
}

export interface PreparedPod {
  uid: string;
  name: string;
  containerIds: Record<string, string>;
  file: string;
  manifest: Pod;
  /** The pod's kubelet cgroup path (systemd driver, Burstable), relative to /sys/fs/cgroup. */
  podCgroup: string;
  containerCgroup(name: string): string;
}

const hex64 = (): string => randomBytes(32).toString('hex');

/** The example pod (examples/pod.yaml) with a UID and a status naming its containers, compiled and
 *  signed by `armorgate profile --output pod`, written into the pods folder. */
export async function preparePod(ctx: ScenarioContext, fx: Fixture, spec: PodSpec = {}): Promise<PreparedPod> {
  const uid = spec.uid ?? randomUUID();
  const containerIds = spec.containers ?? { web: hex64(), 'log-shipper': hex64() };
  const base = readFileSync(join(ctx.root, 'examples/pod.yaml'), 'utf8');
  const { parse } = await import('yaml');
  const pod = parse(base) as Pod;
  const name = spec.name ?? pod.metadata?.name ?? 'web';
  pod.metadata = { ...pod.metadata, name, uid };
  pod.status = {
    phase: 'Running', qosClass: 'Burstable',
    containerStatuses: Object.entries(containerIds).map(([n, id]) => ({ name: n, containerID: `containerd://${id}` })),
  };
  const input = join(fx.dir, `${uid}.input.json`);
  writeFileSync(input, JSON.stringify(pod));
  const r = await ctx.runIn(null, [
    process.execPath, join(ctx.root, 'bin/armorgate.js'), 'profile', '--pod', input,
    '--policies', spec.policies ?? join(ctx.root, 'examples/policies'),
    '--namespace', join(ctx.root, 'examples/namespace.yaml'),
    '--signing-key-file', fx.keyFile, '--output', 'pod',
  ], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `armorgate profile: ${r.stderr}`);
  const manifest = JSON.parse(r.stdout) as Pod;
  const file = join(fx.podsDir, `${name}-${uid}.json`);
  return {
    uid, name, containerIds, file, manifest,
    podCgroup: `${BURSTABLE}/kubepods-burstable-pod${uid.replaceAll('-', '_')}.slice`,
    containerCgroup(n: string) {
      const id = containerIds[n];
      assert.ok(id, `container ${n}`);
      return `${this.podCgroup}/cri-containerd-${id}.scope`;
    },
  };
}

/** Writes the pod into the pods folder atomically (the enforcer never reads half a file). */
export function publish(fx: Fixture, p: PreparedPod, manifest: Pod = p.manifest): void {
  const tmp = join(fx.podsDir, `.${p.uid}.tmp`);
  writeFileSync(tmp, JSON.stringify(manifest));
  // rename: atomic within the folder
  writeFileSync(p.file, readFileSync(tmp));
}

export interface Enforcer {
  proc: Started;
  alerts: KubeArmorAlert[];
  logs: Record<string, unknown>[];
  /** Waits for a log line (stderr) matching pred. */
  waitLog(pred: (l: Record<string, unknown>) => boolean, what: string, ms?: number): Promise<Record<string, unknown>>;
  /** Waits for an alert matching pred. */
  waitAlert(pred: (a: KubeArmorAlert) => boolean, what: string, ms?: number): Promise<KubeArmorAlert>;
  /** Graceful stop (SIGTERM), waiting for the exit. */
  stop(): Promise<void>;
}

function lines(onLine: (line: string) => void): (chunk: Buffer | string) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  };
}

async function until<T>(find: () => T | undefined, what: string, ms: number, proc: Started, diag: () => string): Promise<T> {
  const t0 = Date.now();
  let exited = false;
  void proc.done.then(() => { exited = true; });
  for (;;) {
    const v = find();
    if (v !== undefined) return v;
    if (exited) throw new Error(`enforcer exited while waiting for ${what}\n${diag()}`);
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${diag()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts `armorgate enforcer` on the fixture; resolves once it logged "ready". */
export async function startEnforcer(ctx: ScenarioContext, fx: Fixture, extra: string[] = []): Promise<Enforcer> {
  const t0 = Date.now();
  const proc = ctx.startIn(null, [
    process.execPath, join(ctx.root, 'bin/armorgate.js'), 'enforcer',
    '--signing-key-file', fx.keyFile, '--pods-dir', fx.podsDir, '--pin-dir', fx.pinDir,
    '--attach-mode', ctx.attachMode, '--node-name', 'vm-node', '--cluster-name', 'vm-cluster',
    '--sweep-interval', '1', ...extra,
  ], { timeoutMs: 600_000, env: { OTEL_SDK_DISABLED: 'true' } });
  const alerts: KubeArmorAlert[] = [];
  const logs: Record<string, unknown>[] = [];
  const raw: string[] = [];
  proc.child.stdout?.on('data', lines((l) => {
    try { alerts.push(JSON.parse(l) as KubeArmorAlert); } catch { raw.push(`stdout: ${l}`); }
  }));
  proc.child.stderr?.on('data', lines((l) => {
    try { logs.push(JSON.parse(l) as Record<string, unknown>); } catch { raw.push(`stderr: ${l}`); }
  }));
  const diag = (): string => [...logs.slice(-15).map((l) => JSON.stringify(l)), ...raw.slice(-10)].join('\n');
  const e: Enforcer = {
    proc, alerts, logs,
    waitLog: (pred, what, ms = 60_000) => until(() => logs.find(pred), what, ms, proc, diag),
    waitAlert: (pred, what, ms = 20_000) => until(() => alerts.find(pred), what, ms, proc, diag),
    stop: async () => {
      proc.kill('SIGTERM');
      await proc.done;
    },
  };
  await e.waitLog((l) => l.msg === 'ready', 'the ready log line', 120_000);
  ctx.log(`enforcer ready in ${Date.now() - t0} ms`);
  return e;
}

/** Creates a kubelet-style cgroup (mkdir -p); removed after the scenario. */
export function cgroup(ctx: ScenarioContext, rel: string): Promise<Cgroup> {
  return ctx.mkCgroup(rel);
}

/** Exec of argv inside the cgroup was refused by the LSM (dash reports the exec failure). */
export function deniedExec(r: { code: number | null; stderr: string }): boolean {
  return r.code !== 0 && /Operation not permitted|Permission denied/.test(r.stderr);
}
