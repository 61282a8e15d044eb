// Cgroup mode attaches the LSM programs to kubelet's `kubepods` cgroup (kubepods.slice with the
// systemd driver, kubepods with cgroupfs). An enforcer can start before kubelet made it, and
// kubelet can make it again (its hierarchy removed and re-created): this watches the cgroup root
// (inotify through fs.watch, and a poll as the bound: cgroupfs reports a mkdir to inotify, but
// nothing here depends on it), attaches the cgroup programs to the kubepods cgroup there is, and
// opens or closes the reconciler's gate, so that until the programs are attached every pod is
// reported not enforced, with the reason.
import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { Result } from '../policy/types.ts';
import { cgroupIdOf } from './cgroup.ts';
import type { Gate, Log } from './reconciler.ts';

export const NO_KUBEPODS = 'E_NO_KUBEPODS';

/** The kubepods cgroup under the root (kubepods.slice first, as the loader looks) and its id. */
export function kubepodsOf(root: string): { path: string; id: bigint } | null {
  for (const name of ['kubepods.slice', 'kubepods']) {
    const path = join(root, name);
    const id = cgroupIdOf(path);
    if (id !== null) return { path, id };
  }
  return null;
}

/** What the watch needs of the kernel (cgroup mode). */
export interface CgroupAttach {
  cgroupAttachedTo(): bigint | null;
  attachCgroup(path: string): Result<bigint>;
  /** Makes the next attachCgroup quick (loads what it needs); called when the cgroup goes. */
  prepareCgroup?(): Result<void>;
}

/** What the watch needs of the reconciler. */
export interface GateSink {
  openGate(): number;
  closeGate(g: Gate): void;
}

export interface KubepodsWatchOptions {
  root: string;
  kernel: CgroupAttach;
  log: Log;
  /** The poll's period (the bound on noticing a change when inotify says nothing); default 1000 ms. */
  pollMs?: number;
  /** Called after each change of state (enforcing or not). */
  onChange?: (enforcing: boolean) => void;
}

export class KubepodsWatch {
  readonly #o: KubepodsWatchOptions;
  #attachedId: bigint | null = null;
  #gate: Gate | null = null;
  #sink: GateSink | null = null;
  #poll: NodeJS.Timeout | null = null;
  #watcher: FSWatcher | null = null;
  #queued = false;
  #lastError = '';
  #since = Date.now();

  constructor(o: KubepodsWatchOptions) {
    this.#o = o;
    const kp = kubepodsOf(o.root);
    const at = o.kernel.cgroupAttachedTo();
    if (kp !== null && at === kp.id) this.#attachedId = kp.id;
    else this.#gate = this.#waiting(kp);
  }

  /** Whether the cgroup programs are attached to the kubepods cgroup there is now. */
  get enforcing(): boolean {
    return this.#gate === null;
  }

  /** Why not, or null when enforcing. */
  get gate(): Gate | null {
    return this.#gate;
  }

  #waiting(kp: { path: string } | null): Gate {
    return kp === null
      ? { code: NO_KUBEPODS, message: `no kubepods cgroup (kubepods.slice or kubepods) under ${this.#o.root}: waiting for kubelet to make it; nothing is enforced until then` }
      : { code: NO_KUBEPODS, message: `the kubepods cgroup ${kp.path} is not attached yet; nothing is enforced until it is` };
  }

  /** Starts watching; the sink's gate follows from now on (checked at once). */
  start(sink: GateSink): void {
    this.#sink = sink;
    try {
      this.#watcher = watch(this.#o.root, { persistent: false }, () => this.#queue());
      this.#watcher.on('error', () => { this.#watcher?.close(); this.#watcher = null; });
    } catch {
      this.#watcher = null; // the poll alone
    }
    this.#poll = setInterval(() => this.check(), this.#o.pollMs ?? 1000);
    this.#poll.unref();
    this.check();
  }

  stop(): void {
    if (this.#poll !== null) clearInterval(this.#poll);
    this.#poll = null;
    this.#watcher?.close();
    this.#watcher = null;
    this.#sink = null;
  }

  #queue(): void {
    if (this.#queued) return;
    this.#queued = true;
    setImmediate(() => { this.#queued = false; if (this.#sink !== null) this.check(); });
  }

  /** Compares what is attached with the kubepods cgroup there is now and acts on a difference. */
  check(): void {
    const kp = kubepodsOf(this.#o.root);
    if (kp !== null && kp.id === this.#attachedId) return;
    if (kp === null) {
      if (this.#attachedId !== null || this.#gate === null) {
        this.#attachedId = null;
        this.#gate = this.#waiting(null);
        this.#since = Date.now();
        this.#o.log.warn({ root: this.#o.root, reason: this.#gate.message }, 'the kubepods cgroup is gone: not enforcing until it is back');
        this.#sink?.closeGate(this.#gate);
        this.#o.onChange?.(false);
        // ready for its coming back: an adopted set loads its cgroup programs now, not then
        const pr = this.#o.kernel.prepareCgroup?.();
        if (pr !== undefined && !pr.ok) this.#o.log.error({ error: pr.error }, 'loading the cgroup programs ahead of the kubepods cgroup\'s return failed: tried again when it is back');
      }
      return;
    }
    const r = this.#o.kernel.attachCgroup(kp.path);
    if (!r.ok) {
      const message = `attaching to the kubepods cgroup ${kp.path} failed: ${r.error.message}`;
      if (message !== this.#lastError) this.#o.log.error({ path: kp.path, error: r.error }, 'attaching to the kubepods cgroup failed: not enforcing; tried again at each poll');
      this.#lastError = message;
      const wasEnforcing = this.#gate === null;
      this.#attachedId = null;
      this.#gate = { code: NO_KUBEPODS, message };
      if (wasEnforcing) { this.#sink?.closeGate(this.#gate); this.#o.onChange?.(false); }
      return;
    }
    this.#lastError = '';
    this.#attachedId = r.value;
    this.#gate = null;
    const pods = this.#sink?.openGate() ?? 0;
    this.#o.log.info({ path: kp.path, cgroupId: String(r.value), pods, waitedMs: Date.now() - this.#since }, 'kubepods cgroup attached: enforcing');
    this.#o.onChange?.(true);
  }
}
