// Shared by the enforcer-* guest suites: pods compiled and signed by `armorgate profile --output pod`
// into a --pods-dir, the real `armorgate enforcer` started as a process, its alerts (stdout) and
// logs (stderr) collected as they come, kubelet-style cgroups.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeArmorAlert } from '../../../enforcer/alerts.ts';
import type { Pod } from '../../../policy/types.ts';
import type { Cgroup, ScenarioContext } from '../scenario.ts';

export const KUBEPODS = 'kubepods.slice';
export const BURSTABLE = 'kubepods.slice/kubepods-burstable.slice';

export interface Fixture {
  dir: string;
  keyFile: string;
  podsDir: string;
  pinDir: string;
}

/** Key, pods folder and pin folder shared by the scenarios of one boot (an enforcer takes tens of
 *  seconds to start under TCG: one runs for the whole boot, scenarios add and remove their pods). */
let sharedFixture: Fixture | null = null;
export async function fixture(ctx: ScenarioContext): Promise<Fixture> {
  if (sharedFixture !== null) return sharedFixture;
  const dir = '/tmp/ag-enforcer';
  mkdirSync(join(dir, 'pods'), { recursive: true });
  const keyFile = join(dir, 'signing.key');
  writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  // the kubepods hierarchy exists before the enforcer starts, as on a node (cgroup mode attaches there)
  mkdirSync(`/sys/fs/cgroup/${BURSTABLE}`, { recursive: true });
  sharedFixture = { dir, keyFile, podsDir: join(dir, 'pods'), pinDir: '/sys/fs/bpf/armorgate-e2e' };
  await cleanupPins(ctx, sharedFixture.pinDir);
  return sharedFixture;
}

export async function cleanupPins(ctx: ScenarioContext, pinDir: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return ctx.runIn(null, [process.execPath, join(ctx.root, 'bin/armorgate.js'), 'enforcer', '--cleanup', '--pin-dir', pinDir], { timeoutMs: 90_000 });
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
let compiledExample: Promise<PreparedPod> | null = null;

export async function preparePod(ctx: ScenarioContext, fx: Fixture, spec: PodSpec = {}): Promise<PreparedPod> {
  if (spec.policies === undefined && spec.uid === undefined && spec.containers === undefined) {
    // the example pod with the example policies is compiled once per boot (a CLI run takes seconds
    // under TCG); every other pod of that profile is a clone with its own UID and containers
    compiledExample ??= compilePod(ctx, fx, { name: 'example' });
    return clonePod(fx, await compiledExample, spec.name ?? 'web');
  }
  return compilePod(ctx, fx, spec);
}

async function compilePod(ctx: ScenarioContext, fx: Fixture, spec: PodSpec): Promise<PreparedPod> {
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
  ], { timeoutMs: 180_000 }); // seconds alone; minutes with two guests and other VMs on two cores
  assert.equal(r.code, 0, `armorgate profile: ${r.stderr}`);
  const manifest = JSON.parse(r.stdout) as Pod;
  const file = join(fx.podsDir, `${name}-${uid}.json`);
  const podCgroup = `${BURSTABLE}/kubepods-burstable-pod${uid.replaceAll('-', '_')}.slice`;
  return {
    uid, name, containerIds, file, manifest, podCgroup,
    containerCgroup(n: string) {
      const id = containerIds[n];
      assert.ok(id, `container ${n}`);
      return `${podCgroup}/cri-containerd-${id}.scope`;
    },
  };
}


/** Writes the pod into the pods folder atomically (the enforcer never reads half a file); the file is
 *  removed after the scenario (the pod is deleted). */
export function publish(ctx: ScenarioContext, fx: Fixture, p: PreparedPod, manifest: Pod = p.manifest): void {
  const tmp = join(fx.podsDir, `.${p.uid}.tmp`);
  writeFileSync(tmp, JSON.stringify(manifest));
  renameSync(tmp, p.file); // atomic within the folder
  ctx.defer(() => rmSync(p.file, { force: true }));
}

export interface Enforcer {
  child: ChildProcess;
  exited: boolean;
  /** how it ended, once exited: "exit code N" or "signal SIG…" */
  exitedHow?: string;
  alerts: KubeArmorAlert[];
  logs: Record<string, unknown>[];
  /** Waits for a log line (stderr) matching pred, among lines from index `from` on. */
  waitLog(pred: (l: Record<string, unknown>) => boolean, what: string, ms?: number, from?: number): Promise<Record<string, unknown>>;
  /** Waits for an alert matching pred. */
  waitAlert(pred: (a: KubeArmorAlert) => boolean, what: string, ms?: number): Promise<KubeArmorAlert>;
  /** SIGTERM (graceful) or SIGKILL, waiting for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function lines(onLine: (line: string) => void): (chunk: Buffer | string) => void {
  let rest = '';
  return (chunk) => {
    const parts = (rest + chunk.toString()).split('\n');
    rest = parts.pop() ?? '';
    for (const l of parts) onLine(l);
  };
}

async function until<T>(find: () => T | undefined, what: string, ms: number, e: { exited: boolean; exitedHow?: string }, diag: () => string): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = find();
    if (v !== undefined) return v;
    if (e.exited) throw new Error(`enforcer exited (${e.exitedHow ?? '?'}) while waiting for ${what}\n${diag()}`);
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${diag()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let shared: Enforcer | null = null;

/** The boot's enforcer, started on first use (and again after a scenario stopped it). */
export async function sharedEnforcer(ctx: ScenarioContext): Promise<Enforcer> {
  if (shared !== null && !shared.exited) return shared;
  shared = await startEnforcer(ctx, await fixture(ctx));
  return shared;
}

/** Starts `armorgate enforcer` on the fixture (outside any scenario's clean-up: it may outlive one);
 *  resolves once it logged "ready" (and fails at once if it says it cannot enforce), or, with
 *  `started`, once a log line matches it. */
export async function startEnforcer(ctx: ScenarioContext, fx: Fixture, extra: string[] = [], started?: (l: Record<string, unknown>) => boolean,
  o: { stdoutFile?: string } = {}): Promise<Enforcer> {
  const t0 = Date.now();
  const reportDir = join(ctx.tmp, `enforcer-report-${t0}`);
  // stdout to a file, as a container runtime keeps a container's log (nothing parses it meanwhile:
  // `alerts` stays empty); the benchmarks that count lines read the file
  const out = o.stdoutFile === undefined ? 'pipe' : openSync(o.stdoutFile, 'a');
  const child = spawn(process.execPath, [
    // SIGUSR2 writes node's diagnostic report (its JavaScript and native stacks): the post-mortem
    // of an enforcer that never gets ready
    '--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${reportDir}`,
    join(ctx.root, 'bin/armorgate.js'), 'enforcer',
    // from the API server instead of the pods folder when the caller passes a --kubeconfig
    '--signing-key-file', fx.keyFile, ...(extra.includes('--kubeconfig') ? [] : ['--pods-dir', fx.podsDir]), '--pin-dir', fx.pinDir,
    '--attach-mode', ctx.attachMode, '--node-name', 'vm-node', '--cluster-name', 'vm-cluster',
    '--sweep-interval', '1', ...extra,
  ], { stdio: ['ignore', out, 'pipe'], env: { ...process.env, OTEL_SDK_DISABLED: 'true' } });
  if (typeof out === 'number') closeSync(out);
  const alerts: KubeArmorAlert[] = [];
  const logs: Record<string, unknown>[] = [];
  const raw: string[] = [];
  child.stdout?.on('data', lines((l) => {
    try { alerts.push(JSON.parse(l) as KubeArmorAlert); } catch { raw.push(`stdout: ${l}`); }
  }));
  child.stderr!.on('data', lines((l) => {
    try { logs.push(JSON.parse(l) as Record<string, unknown>); } catch { raw.push(`stderr: ${l}`); }
  }));
  const diag = (): string => [...logs.slice(-12).map((l) => JSON.stringify(l).slice(0, 600)), ...(raw.length > 24 ? [...raw.slice(0, 16), '…', ...raw.slice(-8)] : raw)].join('\n');
  const exit = new Promise<void>((resolve) => child.on('close', (code, signal) => {
    e.exitedHow = signal !== null ? `signal ${signal}` : `exit code ${String(code)}`;
    e.exited = true;
    resolve();
  }));
  const e: Enforcer = {
    child, exited: false, alerts, logs,
    waitLog: (pred, what, ms = 60_000, from = 0) => until(() => logs.slice(from).find(pred), what, ms, e, diag),
    waitAlert: (pred, what, ms = 20_000) => until(() => alerts.find(pred), what, ms, e, diag),
    stop: async (signal = 'SIGTERM') => {
      if (!e.exited) child.kill(signal);
      await exit;
    },
  };
  let first: Record<string, unknown>;
  try {
    first = await e.waitLog((l) => l.msg === 'ready' || l.msg === 'running without enforcement' || started?.(l) === true, 'the ready log line', 150_000);
  } catch (err) {
    const why = e.exited ? '' : await postMortem(child.pid!, reportDir, alerts.length);
    // an enforcer that never got ready must not outlive its scenario: it would hold the gRPC
    // and metrics ports (and its pins) and fail the scenarios after it
    await e.stop('SIGKILL');
    if (why !== '' && err instanceof Error) err.message += `\n--- post-mortem ---\n${why}`;
    throw err;
  }
  if (first.msg !== 'ready' && started?.(first) !== true) {
    await e.stop('SIGKILL');
    throw new Error(`the enforcer cannot enforce here:\n${diag()}`);
  }
  ctx.log(`enforcer ready in ${Date.now() - t0} ms (mode ${String(first.mode)})`);
  return e;
}

/** What a live enforcer that is not answering is doing: CPU time used over a second (spinning or
 *  blocked), each thread's state and wait channel, and the stacks of node's diagnostic report. */
async function postMortem(pid: number, reportDir: string, alerts: number): Promise<string> {
  const read = (f: string): string => { try { return readFileSync(f, 'utf8').trim(); } catch (e) { return `(${(e as Error).message})`; } };
  const ticks = (): number => { const f = read(`/proc/${pid}/stat`).split(') ')[1]?.split(' ') ?? []; return Number(f[11]) + Number(f[12]); };
  const out: string[] = [`alerts received: ${alerts}`];
  const c0 = ticks();
  await new Promise((r) => setTimeout(r, 1000));
  out.push(`CPU over 1 s: ${ticks() - c0} ticks (100 = one core busy)`);
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const st = read(`/proc/${pid}/task/${t}/stat`).split(') ');
      out.push(`thread ${t} ${read(`/proc/${pid}/task/${t}/comm`)}: state ${st[1]?.split(' ')[0] ?? '?'}, wchan ${read(`/proc/${pid}/task/${t}/wchan`)}, stack ${read(`/proc/${pid}/task/${t}/stack`).split('\n').slice(0, 4).join(' < ')}`);
    }
  } catch (e) {
    out.push(`threads: ${(e as Error).message}`);
  }
  try {
    process.kill(pid, 'SIGUSR2');
    for (let i = 0; i < 50 && !(existsSync(reportDir) && readdirSync(reportDir).length > 0); i++) await new Promise((r) => setTimeout(r, 200));
    const files = existsSync(reportDir) ? readdirSync(reportDir) : [];
    if (files.length === 0) out.push('no diagnostic report within 10 s (the main thread never returned to JavaScript)');
    else {
      const report = JSON.parse(readFileSync(join(reportDir, files[0]!), 'utf8')) as { javascriptStack?: { message?: string; stack?: string[] }; nativeStack?: { symbol?: string }[] };
      out.push(`JavaScript stack: ${report.javascriptStack?.message ?? ''}\n  ${(report.javascriptStack?.stack ?? []).slice(0, 25).join('\n  ')}`);
      out.push(`native stack: ${(report.nativeStack ?? []).slice(0, 25).map((f) => f.symbol).join(' < ')}`);
    }
  } catch (e) {
    out.push(`report: ${(e as Error).message}`);
  }
  return out.join('\n');
}

/** Creates a kubelet-style cgroup (mkdir -p); removed after the scenario. */
export function cgroup(ctx: ScenarioContext, rel: string): Promise<Cgroup> {
  return ctx.mkCgroup(rel);
}

/** Exec of argv inside the cgroup was refused by the LSM (dash reports the exec failure). */
export function deniedExec(r: { code: number | null; stderr: string }): boolean {
  return r.code !== 0 && /Operation not permitted|Permission denied/.test(r.stderr);
}

/** Another pod with the same signed profile (the signature covers namespace and digest, not the UID):
 *  a fresh UID and fresh container IDs. */
export function clonePod(fx: Fixture, base: PreparedPod, name: string): PreparedPod {
  const uid = randomUUID();
  const containerIds: Record<string, string> = {};
  for (const n of Object.keys(base.containerIds)) containerIds[n] = hex64();
  const manifest: Pod = {
    ...base.manifest,
    metadata: { ...base.manifest.metadata, name, uid },
    status: {
      ...base.manifest.status,
      containerStatuses: Object.entries(containerIds).map(([n, id]) => ({ name: n, containerID: `containerd://${id}` })),
    },
  };
  const podCgroup = `${BURSTABLE}/kubepods-burstable-pod${uid.replaceAll('-', '_')}.slice`;
  return {
    uid, name, containerIds, manifest, file: join(fx.podsDir, `${name}-${uid}.json`), podCgroup,
    containerCgroup(n: string) {
      const id = containerIds[n];
      assert.ok(id, `container ${n}`);
      return `${podCgroup}/cri-containerd-${id}.scope`;
    },
  };
}

/** Waits until the enforcer logged "pod enforced" for every UID (from log index `from` on). */
export async function waitEnforced(e: Enforcer, uids: readonly string[], from: number, ms = 60_000): Promise<void> {
  const want = new Set(uids);
  await e.waitLog(() => {
    for (let i = from; i < e.logs.length; i++) {
      const l = e.logs[i];
      if (l?.msg === 'pod enforced' && typeof l.uid === 'string') want.delete(l.uid);
    }
    from = e.logs.length;
    return want.size === 0;
  }, `${uids.length} pods enforced`, ms);
}
