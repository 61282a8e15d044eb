// Scenario API of the VM test harness: how kernel tests are written. STABLE CONTRACT.
//
// A suite is a module (NOT named *.test.ts: the host's test runner must not pick it up; use
// *.scenario.ts or *.vm.ts) that registers scenarios at import time:
//
//   import assert from 'node:assert/strict';
//   import { scenario } from '../../../vm/guest/scenario.ts'; // path relative to the suite
//   scenario('raw sockets are refused in the pod cgroup', async (ctx) => {
//     const cg = await ctx.mkCgroup('kubepods.slice/demo');   // { path, id } (id = cgroup id)
//     const r = await ctx.runIn(cg, ['python3', '-c', '...']);
//     assert.equal(r.code, 1, r.stderr);
//   }, { timeoutMs: 60_000 });
//
// A host test file runs suites in the VM, one boot per (kernel, attach mode), every scenario
// reported as its own node:test subtest:
//
//   import { registerVmTests } from '../../vm/harness/index.ts';
//   registerVmTests('kernel enforcement', { suites: ['test/vm/enforce.scenario.ts'] });
//
// Inside the guest: the host's root is the guest's root, read-only (so the project, node,
// node_modules, libbpf and build/ are all at their host paths); /tmp, /run, /root are tmpfs;
// securityfs, bpffs (/sys/fs/bpf) and cgroup2 (/sys/fs/cgroup) are mounted; `lo` is up; there
// is no other network. ctx.modprobe loads a module of the guest kernel (its tree is in .cache/vm/).
// <root>/node_modules is not read over 9p but from a read-only ext4 image of it on a virtio disk
// mounted at the same path (9p costs tens of ms per file under TCG): same paths, another st_dev.
// Everything runs as root. A scenario fails when it throws (use node:assert) or times out (default
// 60 s under TCG); the runner goes on with the next scenario and always powers the guest off.
// A timed-out scenario's pending work is abandoned, not stopped: ctx.signal is aborted and its
// processes are killed, so long loops should check ctx.signal.
// After each scenario, whatever it set up is undone: deferred functions (last first), processes
// it started (killed), cgroups it created (cgroup.kill, then rmdir), tmpfs it mounted, ctx.tmp.
//
// ctx.container(opts) runs a real OCI container with Debian's runc (a boot registered with
// `containers: true`): overlay root, pivot_root, its own namespaces, containerd's default
// capabilities, kubelet's cgroup for either driver; see container.ts and vm/README.md. It is what a
// node runs: prefer it to runIn/startIn for anything a pod does.
//
// runIn/startIn put the process in the cgroup BEFORE it execs argv: `/bin/sh` (dash, whose real
// path is /usr/bin/dash) writes its own pid into <cgroup>/cgroup.procs and then execs argv, so for
// fromSource rules the source of argv[0]'s exec is /usr/bin/dash; with `uid`/`gid` the chain is
// dash → /usr/bin/setpriv → argv. Processes started with a null cgroup stay in the runner's cgroup
// (the root cgroup) and are spawned directly.
import type { ChildProcess } from 'node:child_process';
import type { Container, ContainerOptions } from './container.ts';
import type { AttachMode, KernelSeries } from './protocol.ts';

export type { AttachMode, KernelSeries } from './protocol.ts';
export type { CgroupDriver, Container, ContainerOptions, ContainerPod, ExecOptions, QosClass } from './container.ts';
export { containerCgroupPath, DEFAULT_CAPABILITIES, randomContainerId } from './container.ts';

export interface Cgroup {
  /** Absolute path under /sys/fs/cgroup. */
  path: string;
  /** The cgroup id (the directory's inode number), as bpf_get_current_cgroup_id() returns it. */
  id: bigint;
}

export interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Written to the process's stdin, which is then closed (stdin is /dev/null otherwise). */
  input?: string | Uint8Array;
  /** Kill (SIGKILL) the process after this long; default 30 s. */
  timeoutMs?: number;
  /** Run as this uid/gid (supplementary groups cleared), through setpriv. */
  uid?: number;
  gid?: number;
}

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface Started {
  pid: number;
  child: ChildProcess;
  /** Settles when the process exits (never rejects; a spawn failure gives code null, stderr set). */
  done: Promise<RunResult>;
  kill(signal?: NodeJS.Signals): void;
}

export interface MountOptions {
  /** Start the tmpfs with a copy of what the directory held (default: empty). */
  keepContents?: boolean;
}

export interface ScenarioContext {
  /** The guest kernel's release, e.g. '6.12.117+deb12-amd64'. */
  kernel: string;
  kernelSeries: KernelSeries;
  /** Attach mode the host asked for ('cgroup': BPF_LSM_CGROUP, 'global': BPF_LSM_MAC by cgroup id). */
  attachMode: AttachMode;
  /** Project root (same path as on the host). */
  root: string;
  /** A fresh empty directory on tmpfs, removed after the scenario. */
  tmp: string;
  /** The environment the host passed in (runSuite's env), also in process.env. */
  env: Record<string, string>;
  /** Aborted when the scenario times out. */
  signal: AbortSignal;
  /** Creates (mkdir -p) a cgroup v2 directory under /sys/fs/cgroup; removed after the scenario. */
  mkCgroup(relPath: string): Promise<Cgroup>;
  /** Runs argv to completion inside the cgroup (see the note above on how). */
  runIn(cgroup: Cgroup | string | null, argv: string[], opts?: RunOptions): Promise<RunResult>;
  /** Starts argv inside the cgroup and returns at once (for daemons); killed after the scenario. */
  startIn(cgroup: Cgroup | string | null, argv: string[], opts?: RunOptions): Started;
  /**
   * Mounts a tmpfs over dir (for fixtures under the read-only root, e.g. /etc/ssl, /srv); with
   * keepContents it starts as a copy of what dir held. A dir that does not exist (e.g. /etc/pki) is
   * created after making its nearest existing ancestor writable with an overlay (tmpfs upper layer;
   * a copy on tmpfs if overlayfs fails; never '/'). As in a container's overlay root, an open of a
   * file in such an overlay reaches file_open twice, the second time for overlayfs's own open of
   * the layer's file (FMODE_NOACCOUNT), which the programs leave alone: the process's open was
   * judged by the path it used. Everything is unmounted after the scenario.
   */
  mountTmpfs(dir: string, opts?: MountOptions): Promise<void>;
  /** Loads a module of the guest kernel (modprobe). */
  modprobe(name: string): Promise<void>;
  /**
   * Starts a real OCI container with Debian's runc (see vm/guest/container.ts): overlayfs root over
   * a small Debian (python3, perl-base, coreutils, apt, dpkg), pivot_root, new mount/PID/IPC/UTS/
   * network namespaces, containerd's default capabilities, no seccomp, in the cgroup kubelet gives
   * it (`pod` + `driver`) or outside every pod (no `pod`). Only in boots that asked for containers
   * (runSuite / registerVmTests `containers: true`). Stopped and deleted after the scenario.
   */
  container(opts?: ContainerOptions): Promise<Container>;
  /** Registers a clean-up step, run after the scenario (last registered first). */
  defer(fn: () => void | Promise<void>): void;
  /** Adds a line to the scenario's output (shown on failure) and to the guest console. */
  log(...args: unknown[]): void;
  /** Sends a structured event to the host (runSuite's onEvent; e.g. benchmark figures). */
  emit(name: string, data: unknown): void;
}

/** The boots a scenario runs on: one kernel × attach mode of those the suite boots, when what it
 *  checks depends on neither (a pod source, an API) and another scenario covers the kernel side
 *  on every boot. */
export interface ScenarioBoot { kernel: KernelSeries; attachMode: AttachMode }

export interface ScenarioOptions {
  timeoutMs?: number;
  /** Only on these boots (default: every boot of the suite). */
  on?: readonly ScenarioBoot[];
}

export interface RegisteredScenario {
  name: string;
  suite: string;
  fn: (ctx: ScenarioContext) => Promise<void>;
  timeoutMs: number | undefined;
  on: readonly ScenarioBoot[] | undefined;
}

/** One boot per kernel, each kernel in another attach mode: for a scenario about what the
 *  programs decide (rule semantics), which is the same code in both modes, unlike which tasks
 *  they see (attach-mode scenarios run on every boot). */
export const ONE_BOOT_PER_KERNEL: readonly ScenarioBoot[] = [{ kernel: '6.12', attachMode: 'cgroup' }, { kernel: '6.1', attachMode: 'global' }];
/** The other two boots: a second such scenario here keeps the boots that run side by side even. */
export const ONE_BOOT_PER_KERNEL_CROSSED: readonly ScenarioBoot[] = [{ kernel: '6.12', attachMode: 'global' }, { kernel: '6.1', attachMode: 'cgroup' }];

/** Whether the scenario runs on this boot. */
export function runsOn(s: Pick<RegisteredScenario, 'on'>, boot: ScenarioBoot): boolean {
  return s.on === undefined || s.on.some((b) => b.kernel === boot.kernel && b.attachMode === boot.attachMode);
}

const registry: RegisteredScenario[] = [];
let currentSuite = '(unknown suite)';

/** Registers a scenario of the suite module being imported. Names must be unique per boot. */
export function scenario(name: string, fn: (ctx: ScenarioContext) => Promise<void>, opts: ScenarioOptions = {}): void {
  if (registry.some((s) => s.name === name)) throw new Error(`scenario ${JSON.stringify(name)} is registered twice`);
  registry.push({ name, suite: currentSuite, fn, timeoutMs: opts.timeoutMs, on: opts.on });
}

/** For the runner: the suite whose module is being imported now. */
export function setCurrentSuite(suite: string): void {
  currentSuite = suite;
}

/** For the runner: every scenario registered so far, in registration order. */
export function registeredScenarios(): readonly RegisteredScenario[] {
  return registry;
}
