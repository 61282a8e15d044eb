// The kernel enforcement API the node enforcer codes against: load and attach the
// BPF-LSM programs, keep each pod's rules in the maps, deliver ring-buffer events.
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { err, ok, type Profile, type ProfileRule, type Result, type RuleKind } from '../../policy/types.ts';
import { CAPABILITIES, profileEntries, type Encoded, type UnsupportedCode } from './entries.ts';
import {
  AG_ALL_CONTAINERS, AG_EVERY, AG_MAX_CONTAINERS, AG_PATH_MAX, CG_FLAG, DEFAULT_EVENT_RATE, EV, HOOKS, LAYOUT, PROTO, RULE_POSTURE,
  decodeCgroup, decodeConfig, eventDecoder, decodePathVal, decodePod, decodeRuleKey, decodeSrcKey, encodeCgroup, encodeConfig, encodeUid, summaryOf, u32Key, u64Key, unionSummaries,
  type NodeSummary,
} from './layout.ts';
import { VisibilityMaps, decodeSockArgs } from './visibility.ts';
import { batchOpts, check, libbpf, mapKeys, ringBufferNew, type BpfError, type RingConsumer } from './libbpf.ts';
import {
  DEFAULT_PIN_DIR, defaultObject, adoptableEpoch, attachAll, attachCgroupPinned, cgroupLinkInfo, closeFd, dropOldLinks, dropRetiredMaps, hasRetiredMaps, kubepodsIds, kubepodsRef, retiredPodUids, forkLayout, loadObject, noKubepods,
  objectStamp, openDir, pickMode, programsFor, type AttachMode, type Loaded,
} from './loader.ts';

export type { AttachMode } from './loader.ts';
export { pickMode } from './loader.ts';

export interface KernelOptions {
  attachMode: 'auto' | AttachMode;
  /** default /sys/fs/cgroup; kubepods hierarchy found beneath for cgroup mode */
  cgroupRoot: string;
  /** default /sys/fs/bpf/armorgate */
  pinDir?: string;
  /** default: loader.ts defaultObject() (build/armorgate-cast.bpf.o where the kernel has bpf_rdonly_cast, else build/armorgate.bpf.o) */
  objectPath?: string;
  /** events per cgroup per second before the kernel drops (and counts) them; default
   *  DEFAULT_EVENT_RATE (200), 0 unlimited */
  eventRatePerSec?: number;
  /** ring-buffer poll period in ms while events come fast (at a rate that would bring
   *  BUSY_RECORDS within the quiet period: nextPollMs); default 20 */
  pollMs?: number;
  /** ring-buffer poll period in ms otherwise; default 100 (IDLE_POLL_MS) */
  idlePollMs?: number;
  /** cgroup mode without a kubepods cgroup yet: load, attach the global programs, and leave the
   *  cgroup programs for `attachCgroup` (the enforcer's start before kubelet's). Without it such a
   *  start fails with E_NO_KUBEPODS. */
  waitForKubepods?: boolean;
}

export interface PodBinding {
  uid: string;
  namespace: string;
  name: string;
  profile: Profile;
  /** init: an init container, which has no cgroup once done (not waited for below) */
  containers: { name: string; cgroupId?: bigint; init?: boolean }[];
}

export interface KernelEvent {
  /** log: a visibility log (bpf/visibility.h); log-dropped: how many the kernel dropped */
  type: 'decision' | 'dropped' | 'log' | 'log-dropped';
  cgroupId: bigint;
  podUid: string | null;
  pid: number;
  ppid: number;
  uid: number;
  exe: string;
  source: string;
  target: string;
  hook: string;
  kind: RuleKind;
  action: 'Audit' | 'Block' | 'Allow';
  denied: boolean;
  errno: number;
  /** null: decided by posture (DefaultPosture) */
  rule: ProfileRule | null;
  dropped?: number;
  /** when the kernel wrote it, ns since boot (bpf_ktime_get_ns) as a number: exact for the first
   *  104 days of uptime (2^53 ns), within a few µs after */
  timeNs: number;
  /** socket(): the family, type and protocol asked for */
  sock?: SocketArgs;
}

export interface SocketArgs { family: number; type: number; protocol: number }

export interface Kernel {
  readonly mode: AttachMode;
  /** true when a restarted enforcer adopted the pinned, attached programs of the same object
   *  and mode instead of loading them again (no verifier run, no moment without them) */
  readonly adopted: boolean;
  /** load or atomically replace; works before the pod's cgroup exists. The replaced
   *  generation's entries stay one second (checks in flight use them), then go. */
  setPod(b: PodBinding): Result<void>;
  removePod(uid: string): Result<void>;
  /** drop cached cgroup entries no longer alive; returns count removed */
  sweep(liveCgroupIds: ReadonlySet<bigint>): Result<number>;
  counts(): Result<{ pods: number; rules: number; cgroups: number }>;
  /** Extension: the capacity (max_entries) of the maps `counts` counts (the fill-ratio metric). */
  capacity?(): { pods: number; rules: number; cgroups: number };
  /** UIDs of the pods in the maps, adopted ones included (the enforcer removes those no longer on the node). */
  podUids(): string[];
  /** ring buffer polled without blocking the event loop */
  onEvent(cb: (e: KernelEvent) => void): void;
  /** keeps pins: protection stays */
  close(): void;
  /** The executable the kernel recorded for a process (its exec, or its parent's across fork),
   *  as the process's own mount namespace names it; null when it has none. Needs no hostPID. */
  exeOf(tgid: number): string | null;
  /** Extension: events per cgroup per second before the kernel drops and counts them (0: unlimited). */
  setEventRate(perSec: number): Result<void>;
  /** Extension: visibility logs per cgroup per second, apart from alerts (default 1000; 0: unlimited). */
  setLogRate?(perSec: number): Result<void>;
  /** Tells the programs the kubepods roots (kubepods.slice, kubepods) that exist beneath
   *  cgroupRoot now: call it when they appear or go (a kubelet started after the enforcer).
   *  Returns their cgroup ids; none means no task is a pod's. */
  setKubepods(cgroupRoot: string): Result<bigint[]>;
  /** Extension: called once every pod known at start went through the reconciler (and again
   *  until it is done). Drops what an earlier enforcer left pinned beside the live set: links of
   *  other epochs and maps of another layout (retired at load: their links keep enforcing the old
   *  rules meanwhile). Nothing is dropped while a pod the retired maps hold is still on the node
   *  (`live`: UIDs) and not in the new maps: it is listed in `waiting`. */
  finishStart?(live: ReadonlySet<string>): { links: number; retiredMaps: number; waiting: string[] };
  /** Extension: why the pinned maps were retired at load (another layout), [] when they were not. */
  readonly retiredLayout?: readonly string[];
  /** Extension (cgroup mode): the cgroup the cgroup programs are attached to, as their pinned
   *  links say (every one of them, the same cgroup); null when any is missing or its cgroup is gone. */
  cgroupAttachedTo?(): bigint | null;
  /** Extension (cgroup mode): attaches the cgroup programs to the cgroup at `path` (the kubepods
   *  cgroup, which appeared or came back), each link pinned where the one to a vanished cgroup
   *  was (that one is then freed: links never pile up); links already attached there are kept.
   *  A link to a vanished cgroup stays pinned until then: an adopted set has no other hold on
   *  its program. Returns the cgroup id. */
  attachCgroup?(path: string): Result<bigint>;
  /** Extension (cgroup mode): loads the cgroup programs now when they are not loaded (an adopted
   *  set loads only its smallest program), so that `attachCgroup` is only the attaching: called
   *  when the kubepods cgroup goes, ahead of its coming back. */
  prepareCgroup?(): Result<void>;
  /** Extension: rules of the pod's live profile the kernel does not enforce (matchPatterns past
   *  the automaton's bounds, targets longer than the path buffer, past AG_MAX_ENT on one target, hashes that
   *  collide under every seed tried, no room left in a map), with the reason and its code
   *  (enforcer/kernel/entries.ts, UnsupportedCode); [] for unknown pods. The rest of the
   *  profile is in force. */
  notEnforced(uid: string): NotEnforced[];
}

export interface NotEnforced {
  rule: ProfileRule;
  reason: string;
  code?: UnsupportedCode;
}

const KINDS: RuleKind[] = ['process', 'file', 'network', 'capabilities'];
/** How long a replaced rule generation stays in the maps (an LSM check takes microseconds). */
const GRACE_MS = 1000;
/** Records taken from the ring buffer per turn of the event loop (the rest at the next turn). */
const POLL_BATCH = 256;
/** The ring buffer's poll period when it is quiet. Each poll is a wake-up of the daemon: under
 *  the test VM's emulator one cost 0.8–1.4 ms of CPU (an enforcer with nothing to read used 0.86
 *  and 0.54 s of CPU over about 10 s of loops beside it polling every 20 ms, 0.29 and 0.24 s
 *  every 100 ms). 100 ms is an alert's delay at most, and at that period the ring buffer (4 MiB,
 *  about 2,550 records of 1,640 bytes) holds what about 25,000 events a second bring. */
export const IDLE_POLL_MS = 100;
/** Records (a quarter of the ring buffer) whose coming within one quiet period sets the busy
 *  period (options.pollMs) for the next poll (nextPollMs). A poll that stops at POLL_BATCH with
 *  more waiting polls again at once, whatever the period. */
const BUSY_RECORDS = 640;
const ACTIONS: ('Allow' | 'Audit' | 'Block')[] = ['Allow', 'Allow', 'Audit', 'Block'];
const PROTO_NAMES = Object.entries(PROTO).sort((a, b) => a[1] - b[1]).map(([n]) => n);
const CAP_NAMES = new Map(Object.entries(CAPABILITIES).map(([n, v]) => [v, n]));

interface PodState {
  podId: number;
  gen: number;
  unsupported: NotEnforced[];
  /** rule tables of the live and the previous generation (late events) */
  rules: Map<number, ProfileRule[]>;
  keys: GenKeys | null; // null: adopted, keys found by scan
  cgroups: bigint[];
  /** the live generation's part of the node summary (agconfig) */
  summary: NodeSummary;
}

/** The map keys of one pod generation: rules, sources, pattern automata (bpf/pattern.h). */
interface GenKeys { rules: Buffer[]; sources: Buffer[]; patterns: Buffer[] }

function formatTarget(hook: string, target: string): string {
  if (hook !== 'socket' && hook !== 'capable') return target;
  const n = Number(target);
  if (hook === 'socket' && Number.isInteger(n)) {
    return PROTO_NAMES.filter((_, i) => (n & (1 << i)) !== 0 && PROTO_NAMES[i] !== 'all').join(',');
  }
  if (hook === 'capable' && Number.isInteger(n)) return `CAP_${(CAP_NAMES.get(n) ?? String(n)).toUpperCase()}`;
  return target;
}

class BpfKernel implements Kernel {
  readonly mode: AttachMode;
  readonly adopted: boolean;
  private readonly pods = new Map<string, PodState>();
  private readonly listeners: ((e: KernelEvent) => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly fds: Record<string, number>;
  private readonly vis: VisibilityMaps | null;
  private readonly loaded: Loaded;
  private readonly links: unknown[];
  /** links whose pins failed (attachCgroup): held open, closed at close() */
  private readonly heldFds: number[] = [];
  /** the object the links' programs come from (attachCgroup of an adopted set loads from it) */
  objectPath: string | null = null;
  /** the cgroup programs loaded by attachCgroup for an adopted set */
  private cgObject: Loaded | null = null;
  /** the in-memory handles of the cgroup links among `links` */
  private readonly cgroupHandles: unknown[];
  private readonly rb: RingConsumer;

  /** where the live set is pinned and its link epoch (null: not pinned, or epoch unknown) */
  private readonly pinned: { dir: string; epoch: string } | null;
  readonly retiredLayout: readonly string[];

  /** Whether this kernel keeps the node summary in agconfig: the enforcer's (fresh or adopted)
   *  does; a maps-only one (tools, tests, a peek at a live enforcer's pins) never writes it, or
   *  its snapshot of the pods could narrow the summary under the enforcer's feet. */
  private readonly ownsSummary: boolean;

  constructor(mode: AttachMode, loaded: Loaded, links: unknown[], rb: RingConsumer, pollMs: { busy: number; idle: number }, adopted = false, pinned: { dir: string; epoch: string } | null = null, ownsSummary = true, cgroupHandles: unknown[] = []) {
    this.mode = mode;
    this.cgroupHandles = [...cgroupHandles];
    this.ownsSummary = ownsSummary;
    this.adopted = adopted;
    this.pinned = pinned;
    this.retiredLayout = loaded.retired?.why ?? [];
    this.loaded = loaded;
    this.links = links;
    this.rb = rb;
    this.fds = Object.fromEntries([...loaded.maps].map(([n, m]) => [n, m.fd]));
    this.vis = this.fds.agvis !== undefined && this.fds.agvisconfig !== undefined ? new VisibilityMaps(this.fds.agvis, this.fds.agvisconfig) : null;
    this.adopt();
    this.vis?.adopt(this.entries('agvis', 4, 4));
    this.pollMs = pollMs;
    this.schedule(0);
  }

  private readonly pollMs: { busy: number; idle: number };
  /** records the polls since the last scheduled one took */
  private found = 0;
  /** when the last scheduled poll was set (performance.now()) */
  private scheduledAt = 0;

  /** The next poll: soon while records come fast, later while they do not. */
  private schedule(found: number): void {
    if (this.closed) return;
    const now = performance.now();
    const wait = nextPollMs(found, now - this.scheduledAt, this.pollMs);
    this.scheduledAt = now;
    this.timer = setTimeout(() => { this.timer = null; this.poll(); }, wait);
    this.timer.unref();
  }

  /** Pods already in pinned maps (a restarted enforcer): keep them, keys found by scan when replaced. */
  private adopt(): void {
    for (const [k, v] of this.entries('pods', LAYOUT.ag_uid.size, LAYOUT.ag_pod.size)) {
      const uid = k.toString('utf8', 0, Math.max(0, k.indexOf(0)));
      const p = decodePod(v);
      this.pods.set(uid, { podId: p.podId, gen: p.gen, unsupported: [], rules: new Map(), keys: null, cgroups: [], summary: summaryOf(p) });
    }
    // the pinned summary (a restart) or none (a fresh load) becomes exactly these pods'; left
    // unused (the programs then look every socket() and capable() up) if it cannot be written
    this.writeSummary();
  }

  /** Writes the node summary: the union of the pods' live generations and `extra` (a
   *  generation about to go live), keeping the rate and fork layout in place. An array map
   *  update is a plain copy a program may read half-way: a summary turned on is written first
   *  with summary_valid still 0, then again with 1, so no reader sees the flag before the
   *  masks (while on, every field only widens to or narrows to a superset of what is live). */
  private writeSummary(extra?: NodeSummary): Result<void, BpfError> {
    if (!this.ownsSummary) return ok(undefined);
    const fd = this.fds.agconfig!;
    const cr = readConfig(fd);
    if (!cr.ok) return cr;
    const c = cr.value;
    const parts = [...this.pods.values()].map((p) => p.summary);
    if (extra !== undefined) parts.push(extra);
    const union = unionSummaries(parts);
    if (c.summary === null) {
      const off = writeConfig(fd, encodeConfig(c.ratePerSec, c.forkLayout, union, false, c.kubepods, c.podsEpoch));
      if (!off.ok) return off;
    }
    return writeConfig(fd, encodeConfig(c.ratePerSec, c.forkLayout, union, true, c.kubepods, c.podsEpoch));
  }

  /** All entries of a map (key, value) through get_next_key + lookup. */
  private *entries(map: string, keySize: number, valueSize: number): Generator<[Buffer, Buffer]> {
    const lr = libbpf();
    if (!lr.ok) return;
    const l = lr.value;
    const fd = this.fds[map]!;
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(keySize);
      if (l.bpf_map_get_next_key(fd, prev, next) !== 0) return;
      const val = Buffer.alloc(valueSize);
      if (l.bpf_map_lookup_elem(fd, next, val) === 0) yield [next, val];
      prev = next;
    }
  }

  private keys(map: string, keySize: number): Buffer[] {
    return mapKeys(this.fds[map]!, keySize);
  }

  private updateBatch(map: string, items: readonly Encoded[]): Result<void, BpfError> {
    if (items.length === 0) return ok(undefined);
    const lr = libbpf();
    if (!lr.ok) return lr;
    const l = lr.value;
    const fd = this.fds[map]!;
    const chunk = 4096;
    for (let i = 0; i < items.length; i += chunk) {
      const part = items.slice(i, i + chunk);
      const keys = Buffer.concat(part.map((e) => e.key));
      const vals = Buffer.concat(part.map((e) => e.value));
      const count = new Uint32Array([part.length]);
      const rc = l.bpf_map_update_batch(fd, keys, vals, count, batchOpts());
      if (rc < 0) {
        // kernels without batch ops for this map type: one by one
        for (const e of part.slice(count[0] ?? 0)) {
          const r = check(`update ${map}`, l.bpf_map_update_elem(fd, e.key, e.value, 0n));
          if (!r.ok) return r;
        }
      }
    }
    return ok(undefined);
  }

  /** Writes what fits: a batch, then one by one from the first entry the batch did not take;
   *  returns the indexes of the entries the map refused (full: E2BIG, ENOMEM) with the error. */
  private updateEach(map: string, items: readonly Encoded[]): Result<{ failed: number[]; error: BpfError | null }, BpfError> {
    const lr = libbpf();
    if (!lr.ok) return lr;
    const l = lr.value;
    const fd = this.fds[map]!;
    const failed: number[] = [];
    let error: BpfError | null = null;
    const chunk = 4096;
    for (let i = 0; i < items.length; i += chunk) {
      const part = items.slice(i, i + chunk);
      const count = new Uint32Array([part.length]);
      if (failed.length === 0 && l.bpf_map_update_batch(fd, contiguous(part, 'key'), contiguous(part, 'value'), count, batchOpts()) >= 0) continue;
      // a kernel without batch ops for this map type, or an entry refused: one by one from there
      const done = failed.length === 0 ? Math.min(count[0] ?? 0, part.length) : 0;
      for (let j = done; j < part.length; j++) {
        const r = check(`update ${map}`, l.bpf_map_update_elem(fd, part[j]!.key, part[j]!.value, 0n));
        if (!r.ok) { failed.push(i + j); error ??= r.error; }
      }
    }
    return ok({ failed, error });
  }

  /** Test and tool hook: the fd of one of the object's maps. */
  mapFd(name: string): number {
    return this.fds[name] ?? -1;
  }

  private deleteBatch(map: string, keys: readonly Buffer[]): void {
    if (keys.length === 0) return;
    const lr = libbpf();
    if (!lr.ok) return;
    const l = lr.value;
    const fd = this.fds[map]!;
    const chunk = 4096;
    for (let i = 0; i < keys.length; i += chunk) {
      const part = keys.slice(i, i + chunk);
      const count = new Uint32Array([part.length]);
      const rc = l.bpf_map_delete_batch(fd, Buffer.concat(part), count, batchOpts());
      if (rc < 0) for (const k of part) l.bpf_map_delete_elem(fd, k); // ENOENT of some key stops a batch
    }
  }

  /** rule and source keys of a pod generation, found by scanning (adopted pods) */
  private scanKeys(podId: number, gen: number): GenKeys {
    const rules = this.keys('rules', LAYOUT.ag_rule_key.size).filter((k) => { const d = decodeRuleKey(k); return d.podId === podId && d.gen === gen; });
    const sources = this.keys('sources', LAYOUT.ag_src_key.size).filter((k) => { const d = decodeSrcKey(k); return d.podId === podId && d.gen === gen; });
    const patterns = this.fds.patterns === undefined ? [] : this.keys('patterns', LAYOUT.ag_pat_key.size).filter((k) => k.readUInt32LE(LAYOUT.ag_pat_key.fields.pod_id) === podId && k.readUInt32LE(LAYOUT.ag_pat_key.fields.gen) === gen);
    return { rules, sources, patterns };
  }

  /** Deletes the entries of one generation. */
  private dropKeys(keys: GenKeys): void {
    this.deleteBatch('rules', keys.rules);
    this.deleteBatch('sources', keys.sources);
    this.deleteBatch('patterns', keys.patterns);
  }

  private retired: { at: number; uid: string; keys: GenKeys }[] = [];

  /** Queues a replaced generation's keys for deletion once no check can still use them. */
  private retire(uid: string, keys: GenKeys): void {
    this.retired.push({ at: Date.now(), uid, keys });
    this.purge(false);
  }

  /** Deletes retired generations older than the grace period (all of them when forced). */
  private purge(all: boolean): void {
    const cutoff = Date.now() - GRACE_MS;
    while (this.retired.length > 0 && (all || this.retired[0]!.at <= cutoff)) {
      const r = this.retired.shift()!;
      this.dropKeys(r.keys);
    }
  }

  private freePodId(): number {
    const used = new Set([...this.pods.values()].map((p) => p.podId));
    for (let i = 1; ; i++) if (!used.has(i)) return i;
  }

  setPod(b: PodBinding): Result<void> {
    if (this.closed) return err('E_CLOSED', 'kernel is closed');
    if (!/^[0-9a-fA-F-]{36}$/.test(b.uid)) return err('E_POD_UID', `pod UID ${JSON.stringify(b.uid)} is not a 36-character UID`, 'metadata.uid');
    const uid = b.uid.toLowerCase();
    const prev = this.pods.get(uid);
    const podId = prev?.podId ?? this.freePodId();
    const gen = ((prev?.gen ?? 0) + 1) >>> 0;
    const containers = b.containers.map((c) => c.name);
    // a container scope not told below (a restart, an ephemeral container, the sandbox) gets
    // the pod-wide rules while the pod's containers are not all known, and every container's
    // rules once they are (never fewer than the container it may be)
    const app = b.containers.filter((c) => c.init !== true);
    const known = app.length > 0 && app.every((c) => c.cgroupId !== undefined);
    const er = profileEntries(b.profile, { podId, gen, containers, unknownMask: known ? AG_ALL_CONTAINERS : AG_EVERY });
    if (!er.ok) return er;
    const e = er.value;
    const unsupported: NotEnforced[] = e.plan.unsupported.map((u) => ({ rule: u.rule, reason: u.reason, code: u.code }));
    const loadedRules = e.rules;
    const dropNew = (): void => { this.dropKeys({ rules: loadedRules.map((x) => x.key), sources: e.sources.map((x) => x.key), patterns: e.patterns.map((x) => x.key) }); };
    // 1. the new generation's rules, not yet live. What a full map refuses is left out and
    //    reported; the rest goes live (never the whole pod dropped for a part of it)
    const sr = this.updateEach('sources', e.sources);
    if (!sr.ok) return sr;
    const lostSources = new Set(sr.value.failed.map((i) => e.sourcePaths[i]!));
    const rr = this.updateEach('rules', e.rules);
    if (!rr.ok) { dropNew(); return rr; }
    // the pattern automata: one refused (no room) leaves its kind's pod bit set, so the kernel
    // denies that kind's checks under Block and allow-lists (bpf/pattern.h); reported
    const pa = this.updateEach('patterns', e.patterns);
    if (!pa.ok) { dropNew(); return pa; }
    for (const i of pa.value.failed) {
      const kind = e.patterns[i]!.kind;
      for (const x of e.plan.patterns.find((p) => p.kind === kind)?.table.hits.flat() ?? []) {
        if (!unsupported.some((u) => u.rule === x.rule)) unsupported.push({ rule: x.rule, reason: `no room in the kernel's patterns map (${pa.value.error?.message ?? 'map full'}): the kind's checks deny under Block and allow-lists`, code: 'E_MAP_FULL' });
      }
    }
    const lostSlots = new Set(rr.value.failed);
    if (lostSources.size > 0 || lostSlots.size > 0) {
      const why = (rr.value.error ?? sr.value.error)?.message ?? 'map full';
      e.slots.forEach((slot, i) => {
        const lost = lostSlots.has(i) ? 'rules' : lostSources.has(slot.source) ? 'sources' : null;
        if (lost === null) return;
        for (const ent of slot.ents) unsupported.push({ rule: e.plan.rules[ent.ruleId]!, reason: `no room in the kernel's ${lost} map (${why})`, code: 'E_MAP_FULL' });
      });
    }
    // 2. the node summary widened to the new generation before it goes live (else a socket()
    //    or capable() it decides could be allowed unseen), then the flip: one update of the
    //    pod value makes the new generation live
    const summary = summaryOf(e.plan.pod);
    let r = this.writeSummary(summary);
    if (!r.ok) { dropNew(); return r; }
    const lr = libbpf();
    if (!lr.ok) return lr;
    const pr = check('update pods', lr.value.bpf_map_update_elem(this.fds.pods!, encodeUid(uid), e.pod, 0n));
    if (!pr.ok) { dropNew(); return pr; }
    // every CPU's memo of this pod (ag_who) goes: the next check reads the new generation (a
    // failed bump is not the profile's failure: the memos then go within 10 ticks, while the
    // old generation's rules stay for GRACE_MS)
    bumpPodsEpoch(this.fds.agconfig!);
    // 3. the old generation goes after a grace period: a check that read the pod
    //    value just before the flip still looks its rules up under the old generation
    if (prev) this.retire(uid, prev.keys ?? this.scanKeys(prev.podId, prev.gen));
    // the new generation is live: recorded now, whatever follows (the node summary is
    // rebuilt from these records)
    const cgroups: bigint[] = [];
    const cgItems: Encoded[] = [];
    b.containers.forEach((c, i) => {
      if (c.cgroupId === undefined) return;
      // past the 31st a container has no bit of its own: it gets every container's rules
      const mask = i < AG_MAX_CONTAINERS ? ((1 << i) | AG_EVERY) >>> 0 : AG_ALL_CONTAINERS;
      cgItems.push({ key: u64Key(c.cgroupId), value: encodeCgroup(uid, mask, CG_FLAG.pod | CG_FLAG.user) });
      cgroups.push(c.cgroupId);
    });
    const tables = new Map<number, ProfileRule[]>();
    if (prev?.rules.has(prev.gen)) tables.set(prev.gen, prev.rules.get(prev.gen)!);
    tables.set(gen, e.plan.rules);
    this.pods.set(uid, { podId, gen, unsupported, rules: tables, keys: { rules: loadedRules.filter((_, i) => !lostSlots.has(i)).map((x) => x.key), sources: e.sources.filter((_, i) => !sr.value.failed.includes(i)).map((x) => x.key), patterns: e.patterns.filter((_, i) => !pa.value.failed.includes(i)).map((x) => x.key) }, cgroups, summary });
    // 4. narrowed to the live generations (a check that read the old pod value has already
    //    passed the summary); if this fails the summary stays wider, which is safe
    this.writeSummary();
    // visibility logs the profile asks for (no verdict depends on them)
    this.vis?.set(podId, b.profile.visibility);
    // 5. container cgroups userspace already knows; then the memos go again (the masks of
    //    those cgroups, the pod's visibility bits: ag_vis_wants keeps them with the memo)
    r = this.updateBatch('cgroups', cgItems);
    bumpPodsEpoch(this.fds.agconfig!);
    if (!r.ok) return r;
    return ok(undefined);
  }

  removePod(uid0: string): Result<void> {
    if (this.closed) return err('E_CLOSED', 'kernel is closed');
    const uid = uid0.toLowerCase();
    const prev = this.pods.get(uid);
    if (!prev) return ok(undefined);
    const lr = libbpf();
    if (!lr.ok) return lr;
    // a pod value that could not be deleted stays live: keep its record (and its part of the
    // node summary) and say so
    const dr = check('delete pods', lr.value.bpf_map_delete_elem(this.fds.pods!, encodeUid(uid)));
    if (!dr.ok && dr.error.errno !== 2) return dr;
    // every CPU's memo of the pod goes before its rules do (and again once its cgroups went)
    bumpPodsEpoch(this.fds.agconfig!);
    // the pod is no longer enforced: its retired generations can go at once
    for (const r of this.retired.filter((x) => x.uid === uid)) this.dropKeys(r.keys);
    this.retired = this.retired.filter((x) => x.uid !== uid);
    this.dropKeys(prev.keys ?? this.scanKeys(prev.podId, prev.gen));
    // cached cgroups of this pod (kernel-resolved or told)
    const cg: Buffer[] = [];
    for (const [k, v] of this.entries('cgroups', 8, LAYOUT.ag_cgroup.size)) if (decodeCgroup(v).uid === uid) cg.push(k);
    this.deleteBatch('cgroups', cg);
    this.pods.delete(uid);
    this.vis?.remove(prev.podId);
    bumpPodsEpoch(this.fds.agconfig!); // the memos of the cgroups' masks and visibility bits
    this.writeSummary(); // narrowed; left wider (safe) if it fails
    return ok(undefined);
  }

  sweep(live: ReadonlySet<bigint>): Result<number> {
    if (this.closed) return err('E_CLOSED', 'kernel is closed');
    const dead: Buffer[] = [];
    for (const [k, v] of this.entries('cgroups', 8, LAYOUT.ag_cgroup.size)) {
      if ((decodeCgroup(v).flags & CG_FLAG.pod) && !live.has(k.readBigUInt64LE(0))) dead.push(k);
    }
    this.deleteBatch('cgroups', dead);
    if (dead.length > 0) bumpPodsEpoch(this.fds.agconfig!);
    return ok(dead.length);
  }

  podUids(): string[] {
    return [...this.pods.keys()];
  }

  counts(): Result<{ pods: number; rules: number; cgroups: number }> {
    if (this.closed) return err('E_CLOSED', 'kernel is closed');
    this.purge(false);
    return ok({
      pods: this.keys('pods', LAYOUT.ag_uid.size).length,
      rules: this.keys('rules', LAYOUT.ag_rule_key.size).length,
      cgroups: [...this.entries('cgroups', 8, LAYOUT.ag_cgroup.size)].filter(([, v]) => decodeCgroup(v).flags & CG_FLAG.pod).length,
    });
  }

  capacity(): { pods: number; rules: number; cgroups: number } {
    const max = (n: string): number => this.loaded.maps.get(n)?.maxEntries ?? 0;
    return { pods: max('pods'), rules: max('rules'), cgroups: max('cgroups') };
  }

  onEvent(cb: (e: KernelEvent) => void): void {
    this.listeners.push(cb);
  }

  notEnforced(uid: string): NotEnforced[] {
    return this.pods.get(uid.toLowerCase())?.unsupported ?? [];
  }

  exeOf(tgid: number): string | null {
    if (this.closed || !Number.isInteger(tgid) || tgid <= 0 || tgid > 0xffffffff) return null;
    const lr = libbpf();
    if (!lr.ok) return null;
    const val = Buffer.alloc(AG_PATH_MAX);
    if (lr.value.bpf_map_lookup_elem(this.fds.exes!, u32Key(tgid), val) < 0) return null;
    return decodePathVal(val) || null;
  }

  setKubepods(cgroupRoot: string): Result<bigint[]> {
    if (this.closed) return err('E_CLOSED', 'kernel is closed');
    return setKubepodsRoots(this.fds.agconfig!, cgroupRoot || '/sys/fs/cgroup');
  }

  setEventRate(perSec: number): Result<void> {
    if (this.closed) return err('E_CLOSED', 'kernel is closed');
    const lr = libbpf();
    if (!lr.ok) return lr;
    return setRate(this.fds.agconfig!, perSec);
  }

  setLogRate(perSec: number): Result<void> {
    if (this.closed) return err('E_CLOSED', 'kernel is closed');
    if (this.vis === null) return err('E_NO_VISIBILITY', 'the loaded object has no visibility maps');
    return this.vis.setRate(perSec);
  }

  /** the ring buffer's records decoded with what the records before repeat kept (layout.ts) */
  private readonly decode = eventDecoder();

  /** decoded event for a raw ring-buffer record (public for tests) */
  toEvent(buf: Buffer): KernelEvent | null {
    const raw = this.decode(buf);
    if (!raw) return null;
    const uid = raw.podUid || null;
    const hook = HOOKS[raw.hook] ?? String(raw.hook);
    const rule = raw.ruleId === RULE_POSTURE ? null : (uid ? this.pods.get(uid)?.rules.get(raw.gen)?.[raw.ruleId] ?? null : null);
    const ev: KernelEvent = {
      type: raw.type === EV.dropped ? 'dropped' : raw.type === EV.log ? 'log' : raw.type === EV.logDropped ? 'log-dropped' : 'decision',
      cgroupId: raw.cgroupId, podUid: uid, pid: raw.pid, ppid: raw.ppid, uid: raw.uid,
      exe: raw.exe, source: raw.source, target: formatTarget(hook, raw.target), hook,
      kind: KINDS[raw.kind & 3]!, action: ACTIONS[raw.action & 3]!, denied: raw.denied !== 0,
      errno: raw.err < 0 ? -raw.err : raw.err, rule, timeNs: raw.timeNs,
    };
    if (raw.type === EV.dropped || raw.type === EV.logDropped) ev.dropped = raw.dropped;
    else if (hook === 'socket') {
      const sock = decodeSockArgs(raw.dropped);
      if (sock !== null) ev.sock = sock;
    }
    return ev;
  }

  private pending: Buffer[] = [];

  /** called by the ring-buffer callback, inside consume() */
  push(buf: Buffer): void {
    this.pending.push(buf);
  }

  private pollAgain: NodeJS.Immediate | null = null;

  private poll(): void {
    if (this.closed) return;
    if (this.retired.length > 0) this.purge(false);
    const { more } = this.rb.consume(POLL_BATCH);
    this.found += this.pending.length;
    // more waiting: the next batch after the event loop's turn (timers, sockets, the pods' source),
    // not in this one, so that a flood of events never starves the rest of the daemon
    if (more) {
      if (this.pollAgain === null) this.pollAgain = setImmediate(() => { this.pollAgain = null; this.poll(); });
    } else if (this.timer === null && this.pollAgain === null) {
      this.schedule(this.found);
      this.found = 0;
    }
    const batch = this.pending;
    this.pending = [];
    for (const b of batch) {
      const e = this.toEvent(b);
      if (!e) continue;
      for (const l of this.listeners) {
        try { l(e); } catch { /* a listener's error never stops delivery */ }
      }
    }
  }

  private cgroupPins(): { name: string; pin: string }[] {
    if (this.pinned === null || this.mode !== 'cgroup') return [];
    const dir = this.pinned.dir;
    const epoch = this.pinned.epoch;
    return programsFor('cgroup').cgroup.map((name) => ({ name, pin: join(dir, 'links', `${epoch}-${name}`) }));
  }

  cgroupAttachedTo(): bigint | null {
    const pins = this.cgroupPins();
    if (pins.length === 0) return null;
    let id: bigint | null = null;
    for (const { pin } of pins) {
      const info = cgroupLinkInfo(pin);
      if (info === null || info.cgroupId === 0n || (id !== null && info.cgroupId !== id)) return null;
      id = info.cgroupId;
    }
    return id;
  }

  attachCgroup(path: string): Result<bigint> {
    if (this.closed) return err('E_CLOSED', 'kernel is closed');
    if (this.mode !== 'cgroup') return err('E_MODE', 'global mode attaches nothing to a cgroup');
    const pins = this.cgroupPins();
    if (pins.length === 0) return err('E_PIN', 'cgroup links need a pin folder');
    let id: bigint;
    try { id = statSync(path, { bigint: true }).ino; } catch (e) {
      return err('E_NO_KUBEPODS', `${path}: ${(e as Error).message}`, path);
    }
    const lr = libbpf();
    if (!lr.ok) return lr;
    const l = lr.value;
    const fr = openDir(path);
    if (!fr.ok) return fr;
    try {
      for (const { name, pin } of pins) {
        const info = cgroupLinkInfo(pin);
        if (info !== null && info.cgroupId === id) continue;
        // the loaded program (a fresh load); an adopted set loaded only its smallest program, so
        // the cgroup programs are loaded now from the same object over the pinned maps (taking
        // the pinned link's program by id would need CAP_SYS_ADMIN, which the DaemonSet lacks)
        let prog = this.loaded.programs.get(name) ?? this.cgObject?.programs.get(name);
        if (prog === undefined) {
          const pr = this.prepareCgroup();
          if (!pr.ok) return pr;
          prog = this.cgObject?.programs.get(name);
        }
        const progFd = prog === undefined ? -1 : l.bpf_program__fd(prog);
        if (progFd < 0) return err('E_BPF', `no program to attach for ${name}`);
        const r = attachCgroupPinned(progFd, fr.value, pin, (fd) => this.heldFds.push(fd));
        if (!r.ok) return r;
      }
    } finally {
      closeFd(fr.value);
    }
    this.dropCgroupHandles();
    return ok(id);
  }

  prepareCgroup(): Result<void> {
    if (this.closed || this.mode !== 'cgroup') return ok(undefined);
    const names = programsFor('cgroup').cgroup;
    if (names.every((n) => this.loaded.programs.has(n) || this.cgObject?.programs.has(n) === true)) return ok(undefined);
    if (this.objectPath === null || this.pinned === null) return err('E_BPF', 'the cgroup programs are not loaded, and there is no object to load them from');
    const lo = loadObject(this.objectPath, names, this.pinned.dir);
    if (!lo.ok) return lo;
    this.cgObject = lo.value;
    return ok(undefined);
  }

  /** The in-memory handles of the cgroup links attached at load: their pins were replaced, so
   *  closing them frees those links. */
  private dropCgroupHandles(): void {
    const lr = libbpf();
    if (!lr.ok) return;
    for (const h of this.cgroupHandles.splice(0)) {
      lr.value.bpf_link__destroy(h);
      const i = this.links.indexOf(h);
      if (i >= 0) this.links.splice(i, 1);
    }
  }

  finishStart(live: ReadonlySet<string>): { links: number; retiredMaps: number; waiting: string[] } {
    if (this.closed || this.pinned === null) return { links: 0, retiredMaps: 0, waiting: [] };
    const alive = new Set([...live].map((u) => u.toLowerCase()));
    const waiting = retiredPodUids(this.pinned.dir).filter((uid) => alive.has(uid) && !this.pods.has(uid));
    if (waiting.length > 0) return { links: 0, retiredMaps: 0, waiting };
    // links first: a retired map lives as long as a program of a pinned link uses it
    const links = dropOldLinks(this.pinned.dir, this.pinned.epoch);
    return { links, retiredMaps: dropRetiredMaps(this.pinned.dir), waiting: [] };
  }

  close(): void {
    if (this.closed) return;
    this.poll();
    this.purge(true);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.pollAgain !== null) clearImmediate(this.pollAgain);
    this.rb.free();
    const lr = libbpf();
    if (!lr.ok) return;
    // closes our fds; pinned links and maps stay, so protection stays
    // in reverse attach order: the open cache's invalidation (attached first) goes last
    for (const link of [...this.links].reverse()) lr.value.bpf_link__destroy(link);
    for (const fd of this.heldFds) lr.value.close(fd);
    if (this.cgObject !== null) lr.value.bpf_object__close(this.cgObject.obj);
    lr.value.bpf_object__close(this.loaded.obj);
  }
}

/** The keys (or values) of consecutive entries as one buffer: a view when they already lie
 *  side by side in one buffer (profileEntries writes them so), else a copy. */
function contiguous(items: readonly Encoded[], f: 'key' | 'value'): Buffer {
  const first = items[0]![f];
  let end = first.byteOffset + first.length;
  for (let i = 1; i < items.length; i++) {
    const b = items[i]![f];
    if (b.buffer !== first.buffer || b.byteOffset !== end) return Buffer.concat(items.map((e) => e[f]));
    end += b.length;
  }
  return Buffer.from(first.buffer, first.byteOffset, end - first.byteOffset);
}

/** Sets the event rate and the fork record layout in agconfig, leaving the node summary as it
 *  is (over pinned maps a live one: a superset of the pinned pods, which only the kernel that
 *  owns it narrows). */
function setRate(cfgFd: number, perSec: number): Result<void, BpfError> {
  const cr = readConfig(cfgFd);
  return cr.ok ? writeConfig(cfgFd, encodeConfig(perSec, forkLayout(), cr.value.summary, true, cr.value.kubepods, cr.value.podsEpoch)) : cr;
}

/** Tells the programs the kubepods roots beneath cgroupRoot (struct ag_config kp_id), with a
 *  new kp_gen when they changed (the programs' cgroup cache then resolves every cgroup again).
 *  Returns the ids in force. */
function setKubepodsRoots(cfgFd: number, cgroupRoot: string): Result<bigint[], BpfError> {
  const cr = readConfig(cfgFd);
  if (!cr.ok) return cr;
  const c = cr.value;
  const ids = kubepodsIds(cgroupRoot);
  if (ids.join(',') === c.kubepods.ids.join(',')) return ok(ids);
  const w = writeConfig(cfgFd, encodeConfig(c.ratePerSec, c.forkLayout, c.summary, true, { ids, gen: (c.kubepods.gen + 1) >>> 0 }, c.podsEpoch));
  return w.ok ? ok(ids) : w;
}

/** The agconfig element, decoded. */
function readConfig(cfgFd: number): Result<ReturnType<typeof decodeConfig>, BpfError> {
  const lr = libbpf();
  if (!lr.ok) return lr;
  const cur = Buffer.alloc(LAYOUT.ag_config.size);
  const gr = check('lookup agconfig', lr.value.bpf_map_lookup_elem(cfgFd, Buffer.alloc(4), cur));
  return gr.ok ? ok(decodeConfig(cur)) : gr;
}

/** Changes ag_config.pods_epoch after a write of the pods or cgroups map: every CPU's memo of a
 *  cgroup's pod (ag_who) is then looked up again. On a failure (returned; the callers go on) the
 *  memos still go within AG_WHO_MEMO_TICKS jiffies, 10 to 100 ms (bpf/armorgate.bpf.c), inside
 *  the second a replaced generation's rules stay. */
export function bumpPodsEpoch(cfgFd: number): Result<void, BpfError> {
  const cr = readConfig(cfgFd);
  if (!cr.ok) return cr;
  const c = cr.value;
  return writeConfig(cfgFd, encodeConfig(c.ratePerSec, c.forkLayout, c.summary, c.summary !== null, c.kubepods, (c.podsEpoch + 1) >>> 0));
}

function writeConfig(cfgFd: number, value: Buffer): Result<void, BpfError> {
  const lr = libbpf();
  if (!lr.ok) return lr;
  const r = check('update agconfig', lr.value.bpf_map_update_elem(cfgFd, Buffer.alloc(4), value, 0n));
  return r.ok ? ok(undefined) : r;
}

export async function openKernel(o: KernelOptions): Promise<Result<Kernel>> {
  await Promise.resolve();
  const mode = pickMode(o.attachMode);
  const pinDir = o.pinDir ?? DEFAULT_PIN_DIR;
  const objectPath = o.objectPath ?? defaultObject();
  const progs = programsFor(mode);
  let kubepodsFd = -1;
  const kp = mode === 'cgroup' ? kubepodsRef(o.cgroupRoot || '/sys/fs/cgroup') : null;
  if (mode === 'cgroup' && kp !== null) {
    const fr = openDir(kp.path);
    if (!fr.ok) return fr;
    kubepodsFd = fr.value;
  } else if (mode === 'cgroup' && o.waitForKubepods !== true) {
    return noKubepods(o.cgroupRoot);
  }
  // A restart of the same object in the same mode: the pinned links are attached and run these
  // very programs over the pinned maps. Adopt them: open the maps (through the smallest program,
  // so the verifier is not run on the big ones again) and start reading events. In cgroup mode
  // only when the cgroup links are attached to the kubepods cgroup there is now: links to one
  // that went away (kubelet's hierarchy made again while no enforcer ran) enforce nothing.
  const stamp = objectStamp(objectPath, mode);
  let adoptEpoch = stamp === null ? null : adoptableEpoch(pinDir, stamp, mode);
  if (adoptEpoch !== null && mode === 'cgroup') {
    const epoch = adoptEpoch;
    const live = kp !== null && programsFor('cgroup').cgroup.every((n) => cgroupLinkInfo(join(pinDir, 'links', `${epoch}-${n}`))?.cgroupId === kp.id);
    if (!live) adoptEpoch = null;
  }
  if (adoptEpoch !== null) {
    const adopted = adoptPinned(objectPath, pinDir, mode, o, adoptEpoch);
    // links of this very object over maps of another layout: a rollback while a newer version
    // was taking over (its maps here, these links' maps retired). Load as an upgrade would.
    if (adopted.ok || adopted.error.code !== 'E_PIN_LAYOUT') {
      closeFd(kubepodsFd);
      if (adopted.ok) {
        const kr = adopted.value.setKubepods(o.cgroupRoot);
        if (!kr.ok) { adopted.value.close(); return kr; }
      }
      return adopted;
    }
  }
  const lr = loadObject(objectPath, [...progs.cgroup, ...progs.lsm, ...progs.tracepoint], pinDir, { retireIncompatible: true });
  if (!lr.ok) { closeFd(kubepodsFd); return lr; }
  const loaded = lr.value;
  const lib = libbpf();
  if (!lib.ok) return lib;
  const cr = setRate(loaded.maps.get('agconfig')!.fd, o.eventRatePerSec ?? DEFAULT_EVENT_RATE);
  if (!cr.ok) { lib.value.bpf_object__close(loaded.obj); closeFd(kubepodsFd); return cr; }
  const kr = setKubepodsRoots(loaded.maps.get('agconfig')!.fd, o.cgroupRoot || '/sys/fs/cgroup');
  if (!kr.ok) { lib.value.bpf_object__close(loaded.obj); closeFd(kubepodsFd); return kr; }
  let kernel: BpfKernel | null = null;
  const rbr = ringBufferNew(loaded.maps.get('events')!.fd, (b) => kernel?.push(b));
  if (!rbr.ok) { lib.value.bpf_object__close(loaded.obj); closeFd(kubepodsFd); return rbr; }
  const epoch = `${stamp ?? 'unknown'}_${Date.now().toString(36)}-${process.pid}`;
  // cgroup mode before kubelet made kubepods: everything but the cgroup programs (attachCgroup)
  const deferred = mode === 'cgroup' && kubepodsFd < 0;
  const ar = attachAll(loaded, mode, kubepodsFd, pinDir, epoch, deferred ? ['lsm', 'tracepoint'] : undefined);
  closeFd(kubepodsFd);
  if (!ar.ok) { rbr.value.free(); lib.value.bpf_object__close(loaded.obj); return ar; }
  // the new links are live. Over the same maps, links pinned by an earlier enforcer can go now;
  // over retired maps of another layout (moved now, or by an earlier start that failed after
  // moving them) they keep the old rules in force until finishStart(), once the new maps hold
  // every pod
  if (loaded.retired === null && !hasRetiredMaps(pinDir)) dropOldLinks(pinDir, epoch);
  const cgroupHandles = deferred ? [] : ar.value.links.filter((_, i) => programsFor(mode).cgroup.includes(ar.value.names[i]!));
  kernel = new BpfKernel(mode, loaded, ar.value.links, rbr.value, pollPeriods(o), false, { dir: pinDir, epoch }, true, cgroupHandles);
  kernel.objectPath = objectPath;
  return ok(kernel);
}

/** The wait before the next ring-buffer poll, after polls that found `found` records in the
 *  `elapsedMs` since the one before: the busy period when records come at a rate that would bring
 *  BUSY_RECORDS (a quarter of the ring buffer) in a quiet period, else the quiet one. A rate, not
 *  a count: 639 records in 20 ms (32,000 a second) would fill the ring in a 100 ms wait. */
export function nextPollMs(found: number, elapsedMs: number, periods: { busy: number; idle: number }): number {
  return found * periods.idle >= BUSY_RECORDS * Math.max(1, elapsedMs) ? periods.busy : periods.idle;
}

/** The ring buffer's poll periods from the options (the quiet one never shorter than the busy). */
export function pollPeriods(o: { pollMs?: number; idlePollMs?: number }): { busy: number; idle: number } {
  const busy = o.pollMs ?? 20;
  return { busy, idle: Math.max(busy, o.idlePollMs ?? IDLE_POLL_MS) };
}

/** The maps (pinned ones adopted) through the smallest program, so the verifier does not run
 *  on the enforcement programs; events read from the ring buffer. Nothing is attached. */
function mapsKernel(objectPath: string, pinDir: string | null, mode: AttachMode, pollMs: { busy: number; idle: number }, adopted: boolean, epoch: string | null = null): Result<BpfKernel> {
  const lr = loadObject(objectPath, ['ag_tp_exec'], pinDir);
  if (!lr.ok) return lr;
  let kernel: BpfKernel | null = null;
  const rbr = ringBufferNew(lr.value.maps.get('events')!.fd, (b) => kernel?.push(b));
  if (!rbr.ok) {
    const lib = libbpf();
    if (lib.ok) lib.value.bpf_object__close(lr.value.obj);
    return rbr;
  }
  kernel = new BpfKernel(mode, lr.value, [], rbr.value, pollMs, adopted, pinDir !== null && epoch !== null ? { dir: pinDir, epoch } : null, adopted);
  kernel.objectPath = objectPath;
  return ok(kernel);
}

function adoptPinned(objectPath: string, pinDir: string, mode: AttachMode, o: KernelOptions, epoch: string): Result<Kernel> {
  const kr = mapsKernel(objectPath, pinDir, mode, pollPeriods(o), true, epoch);
  if (!kr.ok) return kr;
  const cr = kr.value.setEventRate(o.eventRatePerSec ?? DEFAULT_EVENT_RATE);
  if (!cr.ok) { kr.value.close(); return cr; }
  return kr;
}

/** Removes every pin (maps and links) under pinDir: protection ends. `armorgate enforcer --cleanup`. */
export function cleanupPins(pinDir: string = DEFAULT_PIN_DIR): Result<void> {
  try {
    let names: string[];
    try { names = readdirSync(pinDir); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return ok(undefined);
      throw e;
    }
    for (const n of names) rmSync(join(pinDir, n), { recursive: true, force: true });
    rmSync(pinDir, { recursive: true, force: true });
    return ok(undefined);
  } catch (e) {
    return err('E_PIN', `cannot remove pins under ${pinDir}: ${(e as Error).message}`, pinDir);
  }
}

/** Loads and attaches a tiny LSM program in each mode, then detaches it (`armorgate probe`). */
export async function probeLsm(o: { cgroupRoot: string; objectPath?: string }): Promise<Result<{ cgroupMode: boolean; globalMode: boolean; detail: string }>> {
  await Promise.resolve();
  const details: string[] = [];
  const lr = loadObject(o.objectPath ?? defaultObject(), ['ag_probe_cg', 'ag_probe_mac'], null);
  if (!lr.ok) {
    // a kernel refusing lsm_cgroup refuses the whole object: try the global probe alone
    const g = loadObject(o.objectPath ?? defaultObject(), ['ag_probe_mac'], null);
    if (!g.ok) return ok({ cgroupMode: false, globalMode: false, detail: `load refused: ${lr.error.message.split('\n')[0]}` });
    const glob = attachAll(g.value, 'global', -1, null, 'probe');
    const lib = libbpf();
    if (glob.ok && lib.ok) for (const l of glob.value.links) lib.value.bpf_link__destroy(l);
    if (lib.ok) lib.value.bpf_object__close(g.value.obj);
    return ok({ cgroupMode: false, globalMode: glob.ok, detail: `lsm_cgroup load refused (${lr.error.message.split('\n')[0]}); ${glob.ok ? 'BPF_LSM_MAC attach works' : `BPF_LSM_MAC attach refused: ${glob.error.message}`}` });
  }
  const lib = libbpf();
  if (!lib.ok) return lib;
  const l = lib.value;
  let cgroupMode = false;
  const fr = openDir(o.cgroupRoot || '/sys/fs/cgroup');
  if (fr.ok) {
    const link = l.bpf_program__attach_cgroup(lr.value.programs.get('ag_probe_cg')!, fr.value);
    if (link !== null) { cgroupMode = true; l.bpf_link__destroy(link); details.push('BPF_LSM_CGROUP attach works'); } else details.push('BPF_LSM_CGROUP attach refused');
    closeFd(fr.value);
  } else details.push(fr.error.message);
  const link = l.bpf_program__attach_lsm(lr.value.programs.get('ag_probe_mac')!);
  const globalMode = link !== null;
  if (link !== null) l.bpf_link__destroy(link);
  details.push(globalMode ? 'BPF_LSM_MAC attach works' : 'BPF_LSM_MAC attach refused');
  l.bpf_object__close(lr.value.obj);
  return ok({ cgroupMode, globalMode, detail: details.join('; ') });
}

/**
 * The maps and the Kernel API without any LSM program loaded or attached (tests and
 * tools on kernels that refuse LSM programs; also measures map memory). pinDir null:
 * nothing pinned.
 */
export function openMapsOnly(o: { objectPath?: string; pinDir: string | null }): Result<Kernel & { push(b: Buffer): void; toEvent(b: Buffer): KernelEvent | null; mapFd(name: string): number }> {
  return mapsKernel(o.objectPath ?? defaultObject(), o.pinDir, 'global', pollPeriods({}), false);
}
