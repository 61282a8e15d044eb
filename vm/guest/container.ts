// Real OCI containers in the guest (ctx.container), run by Debian's runc from the host's root, the
// way containerd's CRI plugin has runc run a pod's container on a node:
//   - root: an overlayfs whose lower layer is the containers' Debian root (a read-only ext4 image,
//     vm/harness/rootfs.ts, mounted by init.sh at CONTAINER_ROOTFS) and whose upper and work
//     directories are on the guest's tmpfs; runc's default pivot_root into it;
//   - new mount, PID, IPC, UTS and network namespaces (the network one has only loopback, which runc
//     brings up), no user namespace, no cgroup namespace (so /proc/self/cgroup shows kubelet's path);
//   - containerd's default capability set, no seccomp (Kubernetes' default is Unconfined), no
//     AppArmor, no no_new_privs; containerd's masked and read-only /proc paths, /sys and
//     /sys/fs/cgroup read-only, uid 0;
//   - the cgroup kubelet would give it, systemd or cgroupfs driver (runc's cgroupfs manager with an
//     absolute cgroupsPath: there is no systemd in the guest, and the directories are the same), or
//     one outside every pod (/system.slice/ctl-<id>.scope) for control runs.
// Everything is undone after the scenario: the container killed and deleted, its mounts unmounted,
// its cgroups removed.
import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';
import type { Cgroup, RunResult, Started } from './scenario.ts';

const exec = promisify(execFile);

/** Where init.sh mounts the containers' root image (read-only) when the boot asked for containers. */
export const CONTAINER_ROOTFS = '/run/ag-vm/rootfs';
const RUNC = '/usr/sbin/runc';
const RUNC_ROOT = '/run/ag-vm/runc';
const STREAM_KEEP = 1 << 20;

/** containerd's default capabilities (oci.defaultUnixCaps), also CRI-O's bar NET_RAW/MKNOD/AUDIT_WRITE. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export type CgroupDriver = 'systemd' | 'cgroupfs';
export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';

export interface ContainerPod {
  /** The pod's metadata.uid (with dashes). */
  uid: string;
  /** Default besteffort. */
  qos?: QosClass;
}

export interface ContainerOptions {
  /** The pod it belongs to; absent: a container outside every pod (/system.slice/ctl-<id>.scope). */
  pod?: ContainerPod;
  /** kubelet's cgroup driver (default systemd). */
  driver?: CgroupDriver;
  /** The container id, 64 hex digits (random by default); the pod's status names it `containerd://<id>`. */
  id?: string;
  /** PID 1 of the container (default `/bin/sleep infinity`). */
  argv?: string[];
  /** PID 1's environment additions (PATH and HOSTNAME are set). */
  env?: Record<string, string>;
  /** Host (guest) paths bind-mounted into the container, read-only unless readOnly is false. */
  binds?: { source: string; target: string; readOnly?: boolean }[];
  /** A tmpfs at a container path holding these files (relative name → content), like a projected
   *  volume (the service-account token): read-only unless readOnly is false. */
  tmpfs?: { target: string; files?: Record<string, string>; readOnly?: boolean }[];
  /** Files written into the container's own root (the overlay's upper layer) before it starts:
   *  absolute container path → content. Parent directories are made. */
  files?: Record<string, string>;
  /** Capabilities (bounding, effective, permitted), default DEFAULT_CAPABILITIES. */
  capabilities?: readonly string[];
  hostname?: string;
}

export interface ExecOptions {
  /** `uid` or `uid:gid` (numeric), as `runc exec --user`; default 0:0. */
  user?: string | number;
  env?: Record<string, string>;
  cwd?: string;
  /** Written to the process's stdin, which is then closed (stdin is /dev/null otherwise). */
  input?: string | Uint8Array;
  /** A cgroup below the container's (relative to it, made beforehand) to run the process in:
   *  `runc exec --cgroup`. */
  cgroup?: string;
  /** SIGKILL after this long; default 30 s. */
  timeoutMs?: number;
}

export interface Container {
  /** The container id (64 hex digits). */
  id: string;
  /** Its cgroup (created by runc), absolute under /sys/fs/cgroup, and its id. */
  cgroup: Cgroup;
  /** The cgroup path as kubelet and /proc/<pid>/cgroup name it (from the cgroup root, leading /). */
  cgroupPath: string;
  /** The guest pid of the container's PID 1. */
  pid: number;
  /** The container's root as the guest sees it (the overlay mount). */
  rootfs: string;
  /** How long `runc run -d` took, ms. */
  startMs: number;
  /** What PID 1 wrote to its stdout and stderr so far. */
  logs(): string;
  /** The pod status' containerID: `containerd://<id>`. */
  statusId: string;
  /** Runs argv in the container to completion (`runc exec`). A process killed by a signal reports
   *  that signal (runc exits 128 + n for it). */
  exec(argv: string[], opts?: ExecOptions): Promise<RunResult>;
  /** Starts argv in the container and returns at once; `pid` is runc's, kill() signals the process. */
  start(argv: string[], opts?: ExecOptions): Started;
  /** Kills and deletes the container and undoes its mounts (also done after the scenario). */
  stop(): Promise<void>;
}

/** kubelet's cgroup of a container (from the cgroup root, leading /), or a control path outside pods. */
export function containerCgroupPath(id: string, pod: ContainerPod | undefined, driver: CgroupDriver = 'systemd'): string {
  if (!pod) return `/system.slice/ctl-${id.slice(0, 12)}.scope`;
  const qos = pod.qos ?? 'besteffort';
  if (driver === 'systemd') {
    const u = pod.uid.replaceAll('-', '_');
    const podSlice = qos === 'guaranteed' ? `/kubepods.slice/kubepods-pod${u}.slice` : `/kubepods.slice/kubepods-${qos}.slice/kubepods-${qos}-pod${u}.slice`;
    return `${podSlice}/cri-containerd-${id}.scope`;
  }
  return qos === 'guaranteed' ? `/kubepods/pod${pod.uid}/${id}` : `/kubepods/${qos}/pod${pod.uid}/${id}`;
}

export function randomContainerId(): string {
  return randomBytes(32).toString('hex');
}

/** A fresh pod UID (for scenarios that make one up). */
export function randomPodUid(): string {
  return randomUUID();
}

export interface ContainerDeps {
  /** The guest kernel's module tree (for modprobe overlay). */
  kernelTree: string;
  /** mkdir -p of a cgroup (removed after the scenario). */
  mkCgroup(rel: string): Promise<Cgroup>;
  defer(fn: () => void | Promise<void>): void;
  note(line: string): void;
  /** Registers a started process so that the scenario's clean-up kills it. */
  track(s: Started): void;
  untrack(s: Started): void;
}

let overlayLoaded: Promise<void> | null = null;

function sigName(n: number): string | null {
  for (const [name, v] of Object.entries(constants.signals)) if (v === n) return name;
  return null;
}

function capped(s: string, add: string): string {
  const out = s + add;
  return out.length > STREAM_KEEP ? out.slice(out.length - STREAM_KEEP) : out;
}

export async function createContainer(deps: ContainerDeps, opts: ContainerOptions = {}): Promise<Container> {
  if (!existsSync(join(CONTAINER_ROOTFS, 'etc', 'armorgate-rootfs'))) {
    throw new Error(`ctx.container: no container root at ${CONTAINER_ROOTFS}: boot with containers (runSuite's / registerVmTests' \`containers: true\`)`);
  }
  const id = opts.id ?? randomContainerId();
  if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`ctx.container: id must be 64 hex digits, got ${JSON.stringify(id)}`);
  overlayLoaded ??= exec('modprobe', ['-d', deps.kernelTree, 'overlay']).then(() => undefined, () => undefined);
  await overlayLoaded;

  const bundle = mkdtempSync(join('/tmp', 'ag-ct-'));
  const rootfs = join(bundle, 'rootfs');
  const mounts: string[] = [];
  let created = false;
  let stopped = false;
  const runc = (...args: string[]) => exec(RUNC, ['--root', RUNC_ROOT, ...args], { maxBuffer: 16 << 20 });
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (created) {
      await runc('kill', id, 'KILL').catch(() => undefined);
      try {
        await runc('delete', '--force', id);
      } catch (e) {
        deps.note(`[container ${id.slice(0, 12)}] runc delete: ${e instanceof Error ? e.message.trim() : String(e)}`);
      }
    }
    for (const m of mounts.reverse()) await exec('umount', ['-l', m]).catch((e: unknown) => deps.note(`[container] umount ${m}: ${String(e)}`));
    rmSync(bundle, { recursive: true, force: true });
  };
  deps.defer(stop);

  for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(bundle, d));
  await exec('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${CONTAINER_ROOTFS},upperdir=${join(bundle, 'upper')},workdir=${join(bundle, 'work')}`, rootfs]);
  mounts.push(rootfs);
  for (const [path, content] of Object.entries(opts.files ?? {})) {
    const p = join(rootfs, posix.normalize(`/${path}`));
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }

  const extraMounts: Record<string, unknown>[] = [];
  for (const [i, t] of (opts.tmpfs ?? []).entries()) {
    const dir = join(bundle, `tmpfs-${i}`);
    mkdirSync(dir);
    await exec('mount', ['-t', 'tmpfs', '-o', 'mode=0755,size=16m', 'tmpfs', dir]);
    mounts.push(dir);
    for (const [name, content] of Object.entries(t.files ?? {})) {
      const p = join(dir, posix.normalize(`/${name}`));
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, content);
    }
    extraMounts.push({ destination: t.target, type: 'bind', source: dir, options: ['rbind', 'rprivate', t.readOnly === false ? 'rw' : 'ro'] });
  }
  for (const b of opts.binds ?? []) {
    extraMounts.push({ destination: b.target, type: 'bind', source: b.source, options: ['rbind', 'rprivate', b.readOnly === false ? 'rw' : 'ro'] });
  }

  // The pod's cgroups above the container's: made here so that the scenario's clean-up removes
  // them; runc makes the container's own (and removes it on delete).
  const cgroupPath = containerCgroupPath(id, opts.pod, opts.driver);
  await deps.mkCgroup(posix.dirname(cgroupPath));

  const caps = [...(opts.capabilities ?? DEFAULT_CAPABILITIES)];
  const config = {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: opts.argv ?? ['/bin/sleep', 'infinity'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `HOSTNAME=${opts.hostname ?? id.slice(0, 12)}`,
        ...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`)],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: false,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: opts.hostname ?? id.slice(0, 12),
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      ...extraMounts,
    ],
    linux: {
      cgroupsPath: cgroupPath,
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }],
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      maskedPaths: ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/sys/devices/virtual/powercap', '/proc/scsi'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(config, null, 2));

  // runc run -d: returns once PID 1 runs. PID 1 keeps runc's stdout and stderr (pass-through), so
  // they go to a file: a pipe would stay open as long as the container.
  mkdirSync(RUNC_ROOT, { recursive: true });
  const logPath = join(bundle, 'init.log');
  const logFd = openSync(logPath, 'w');
  const t0 = performance.now();
  await new Promise<void>((resolveRun, reject) => {
    const child = spawn(RUNC, ['--root', RUNC_ROOT, 'run', '--detach', '--bundle', bundle, '--pid-file', join(bundle, 'init.pid'), id],
      { stdio: ['ignore', logFd, logFd] });
    child.on('error', reject);
    child.on('exit', (code) => {
      created = true; // whatever runc left behind, delete --force cleans it
      if (code === 0) resolveRun();
      else reject(new Error(`runc run ${id.slice(0, 12)} (cgroup ${cgroupPath}) exited with ${code}: ${readFileSync(logPath, 'utf8').trim().slice(-2000)}`));
    });
  }).finally(() => closeSync(logFd));
  const startMs = Math.round(performance.now() - t0);
  const pid = Number(readFileSync(join(bundle, 'init.pid'), 'utf8').trim());
  const cgDir = join('/sys/fs/cgroup', cgroupPath);
  const cgroup: Cgroup = { path: cgDir, id: statSync(cgDir, { bigint: true }).ino };
  deps.note(`[container ${id.slice(0, 12)}] started in ${startMs} ms, pid ${pid}, cgroup ${cgroupPath}`);

  let execCount = 0;
  const start = (argv: string[], o: ExecOptions = {}): Started => {
    if (argv.length === 0) throw new Error('container.start: argv is empty');
    const pidFile = join(bundle, `exec-${++execCount}.pid`);
    const args = ['--root', RUNC_ROOT, 'exec', '--pid-file', pidFile];
    if (o.user !== undefined) args.push('--user', String(o.user));
    if (o.cwd !== undefined) args.push('--cwd', o.cwd);
    if (o.cgroup !== undefined) args.push('--cgroup', o.cgroup);
    for (const [k, v] of Object.entries(o.env ?? {})) args.push('--env', `${k}=${v}`);
    args.push(id, ...argv);
    const child = spawn(RUNC, args, { stdio: [o.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => { stdout = capped(stdout, s); });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr = capped(stderr, s); });
    if (o.input !== undefined && child.stdin) {
      child.stdin.on('error', () => { /* the process may exit without reading */ });
      child.stdin.end(o.input);
    }
    // runc forwards catchable signals to the process; SIGKILL goes to the process itself (its
    // pid file), since runc cannot forward what it cannot catch.
    const kill = (signal: NodeJS.Signals = 'SIGKILL'): void => {
      try {
        const p = Number(readFileSync(pidFile, 'utf8').trim());
        if (p > 0) process.kill(p, signal);
      } catch { /* not started yet, or gone */ }
      if (signal !== 'SIGKILL') child.kill(signal);
      else setTimeout(() => child.kill('SIGKILL'), 500).unref();
    };
    const timeoutMs = o.timeoutMs ?? 30_000;
    const started: Started = {
      pid: child.pid ?? -1,
      child,
      kill,
      done: new Promise<RunResult>((resolveDone) => {
        const timer = setTimeout(() => {
          stderr = capped(stderr, `\n[harness] killed after ${timeoutMs} ms\n`);
          kill('SIGKILL');
        }, timeoutMs);
        let settled = false;
        const settle = (r: RunResult): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          deps.untrack(started);
          deps.note(`$ ${argv.join(' ')}  (in container ${id.slice(0, 12)}, ${cgroupPath}) → ${r.signal ? `signal ${r.signal}` : `exit ${r.code}`}` +
            (r.stderr.trim() ? `\n  stderr: ${r.stderr.trim().split('\n').slice(-5).join('\n  stderr: ')}` : ''));
          resolveDone(r);
        };
        child.on('error', (e) => settle({ code: null, signal: null, stdout, stderr: stderr + `spawn runc exec: ${e.message}` }));
        child.on('close', (code, signal) => {
          const sig = code !== null && code > 128 && code < 128 + 65 ? sigName(code - 128) : null;
          settle(sig ? { code: null, signal: sig, stdout, stderr } : { code, signal, stdout, stderr });
        });
      }),
    };
    deps.track(started);
    return started;
  };

  return {
    id, cgroup, cgroupPath, pid, rootfs, startMs, statusId: `containerd://${id}`,
    logs: () => { try { return readFileSync(logPath, 'utf8'); } catch { return ''; } },
    exec: (argv, o) => start(argv, o).done,
    start,
    stop,
  };
}
