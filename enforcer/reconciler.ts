// The reconciler: pods in (from any source), kernel state out. For each pod on the node it verifies
// the signed profile, resolves container cgroups from the pod's status, and loads (or atomically
// replaces) the pod's rules in the kernel; a deleted pod's rules go; a periodic sweep drops entries
// of cgroups that no longer exist. Kernel events come back through `onKernelEvent` as alerts.
// It never throws on bad input: a pod it cannot enforce becomes a SystemEvent alert.
import { readlinkSync } from 'node:fs';
import {
  ROOT_CONTEXT, SpanStatusCode, isSpanContextValid, trace, type Context, type SpanContext, type Tracer,
} from '@opentelemetry/api';
import { ANN_POLICIES, ANN_POSTURE, ANN_PROFILE, ANN_PROFILE_DIGEST, ANN_PROFILE_SIGNATURE, ANN_TRACEPARENT } from '../policy/annotations.ts';
import type { VerifiedProfile } from '../policy/sign.ts';
import { err, type Pod, type Profile, type ProfileRule, type Result } from '../policy/types.ts';
import {
  decisionAlert, formatLabels, notEnforcedAlert, OPERATION, partialLoadAlert, ruleText, thresholdAlert, type AlertContext, type KubeArmorAlert,
} from './alerts.ts';
import { parseContainerId, qosClassOf, type CgroupResolver } from './cgroup.ts';
import { containerImages, podOwner, soleContainer, type PodOwner } from './pod-facts.ts';
import type { Kernel, KernelEvent, PodBinding } from './kernel/index.ts';
import type { EnforcerMetrics, PodTally } from './metrics.ts';
import { visibilityLog, visibilityLogLine, type KubeArmorLog } from './visibility.ts';
import type { AlertLike } from './alert-records.ts';

export type Verify = (annotations: Record<string, string> | undefined, namespace: string) => Result<VerifiedProfile>;

export interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface ReconcilerDeps {
  kernel: Pick<Kernel, 'setPod' | 'removePod' | 'sweep' | 'counts'> & Partial<Pick<Kernel, 'podUids' | 'notEnforced'>>;
  resolver: CgroupResolver;
  verify: Verify;
  emit: (alert: KubeArmorAlert) => void;
  /** Visibility logs (KubeArmor container logs); dropped when absent. `line` is the JSON line
   *  of stdout; `log()` the record as an object, made only when called (the gRPC feed with
   *  watchers, OpenTelemetry): under a visibility flood most logs need only their line. */
  emitLog?: (line: string, log: () => KubeArmorLog) => void;
  /** Each alert as an OpenTelemetry log record in the context of the pod's attach span (null
   *  when the pod has none); alert-records.ts. */
  record?: (alert: AlertLike, span: SpanContext | null) => void;
  log: Log;
  tracer: Tracer;
  metrics?: EnforcerMetrics;
  clusterName: string;
  nodeName: string;
  now?: () => Date;
  /** The kernel's alert rate per container cgroup, written in AlertThreshold alerts
   *  (MaxAlertsPerSec); 0 or absent: not written. */
  maxAlertsPerSec?: number;
  /** Name of a process's executable (the alert's ParentProcessName); default reads /proc/PID/exe. */
  processName?: (pid: number, at?: number) => string;
  /** Why the kernel does not enforce yet although it takes rules (cgroup mode before kubelet made
   *  the kubepods cgroup): pods are loaded but reported not enforced until `openGate()`. */
  gate?: Gate | null;
  /** The profile the kernel gets for a pod's verified one: the same rules on the other names of
   *  linked files (enforcer/hardlinks.ts); default: the profile as verified. */
  kernelProfile?: (profile: Profile, containers: readonly { name: string; cgroupPath?: string }[]) => Profile;
}

export interface Gate { code: string; message: string }

export type UpsertOutcome = 'enforced' | 'unchanged' | 'not-enforced' | 'removed' | 'ignored';

interface ContainerState {
  name: string;
  containerId: string;
  /** as alerts write it (pod-facts.ts); '' when the pod says none */
  image: string;
  cgroupId?: bigint;
  cgroupPath?: string;
  /** an init container (done before the others start: no cgroup once finished) */
  init?: boolean;
}

interface PodState {
  uid: string;
  namespace: string;
  name: string;
  labels: Record<string, string> | undefined;
  owner: PodOwner;
  /** The container an unnamed container cgroup of the pod must be (pod-facts.ts), or null. */
  sole: string | null;
  qos: ReturnType<typeof qosClassOf>;
  /** The verified profile in force (kept when a later update fails to verify). */
  inForce: VerifiedProfile | null;
  /** The exact signed inputs `inForce` was verified from: identical inputs need no new verification. */
  verifiedFrom: string | null;
  appliedKey: string | null;
  containers: ContainerState[];
  /** Code of the last problem reported for this pod, so each problem is alerted once. */
  problem: string | null;
  /** The rules last reported as not loaded (partial load), so each set is alerted once. */
  partial: string | null;
  span: SpanContext | null;
}

/** The context continuing the W3C trace of `armorgate.io/traceparent` (version 00); ROOT_CONTEXT when
 *  absent or malformed. (telemetry/'s helper would load the whole SDK into the enforcer.) */
export function contextFromTraceparent(value: string | undefined): Context {
  const m = typeof value === 'string' ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value.trim()) : null;
  if (m?.[1] === undefined || m[2] === undefined || m[3] === undefined) return ROOT_CONTEXT;
  const sc: SpanContext = { traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16) & 0xff, isRemote: true };
  return isSpanContextValid(sc) ? trace.setSpanContext(ROOT_CONTEXT, sc) : ROOT_CONTEXT;
}

/** /proc/PID/exe, or '' (another PID namespace without hostPID, or gone). */
export function procExe(pid: number): string {
  if (pid <= 0) return '';
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
}

/** Everything verification reads, as one string: equal strings verify equally. */
function signedInputs(namespace: string, a: Record<string, string> | undefined): string {
  return JSON.stringify([namespace, a?.[ANN_PROFILE], a?.[ANN_PROFILE_DIGEST], a?.[ANN_PROFILE_SIGNATURE], a?.[ANN_POSTURE], a?.[ANN_POLICIES]]);
}

function containerStates(pod: Pod): ContainerState[] {
  const ids = new Map<string, string>();
  const statuses = [
    ...(pod.status?.containerStatuses ?? []),
    ...((pod.status?.initContainerStatuses as { name: string; containerID?: string }[] | undefined) ?? []),
  ];
  for (const s of statuses) {
    const id = parseContainerId(s.containerID);
    if (id !== null) ids.set(s.name, id.id);
  }
  const init = new Set((pod.spec?.initContainers ?? []).map((c) => c.name));
  const names = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].map((c) => c.name);
  const images = containerImages(pod);
  return [...new Set(names)].sort().map((name) => ({ name, containerId: ids.get(name) ?? '', image: images.get(name) ?? '', ...(init.has(name) ? { init: true } : {}) }));
}

/** The time now as a Date, one object per millisecond: a ring poll's batch of events is handled
 *  within a millisecond or two, and nothing changes the Date an alert or log is given. */
function millisecondClock(): () => Date {
  let at = NaN;
  let d = new Date(0);
  return () => {
    const t = Date.now();
    if (t !== at) { at = t; d = new Date(t); }
    return d;
  };
}

export class Reconciler {
  readonly #d: ReconcilerDeps;
  readonly #pods = new Map<string, PodState>();
  /** cgroup id → pod UID and container name, for alerts. */
  readonly #byCgroup = new Map<bigint, { uid: string; container: string }>();
  readonly #now: () => Date;
  readonly #processName: (pid: number, at?: number) => string;
  #gate: Gate | null;

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
    this.#gate = deps.gate ?? null;
    this.#now = deps.now ?? millisecondClock();
    this.#processName = deps.processName ?? procExe;
  }

  /** UIDs of the pods currently known (enforced or not). */
  known(): string[] {
    return [...this.#pods.keys()];
  }

  /** True when the pod's verified profile is loaded in the kernel and the kernel enforces. */
  isEnforced(uid: string): boolean {
    const s = this.#pods.get(uid);
    return s !== undefined && s.appliedKey !== null && this.#gate === null;
  }

  /** The known pods by state and reason (the pods gauge). */
  tally(): PodTally[] {
    const by = new Map<string, PodTally>();
    for (const s of this.#pods.values()) {
      const t: Pick<PodTally, 'state' | 'reason'> = s.appliedKey === null ? { state: 'not_enforced', reason: s.problem ?? 'E_PENDING' }
        : this.#gate !== null ? { state: 'pending', reason: this.#gate.code } : { state: 'enforced', reason: '' };
      const k = `${t.state}\u0000${t.reason}`;
      const had = by.get(k);
      if (had === undefined) by.set(k, { ...t, count: 1 });
      else had.count++;
    }
    return [...by.values()];
  }

  /** Why nothing is enforced although rules are loaded, or null when enforcing. */
  get gate(): Gate | null {
    return this.#gate;
  }

  /** The kernel stopped enforcing (its kubepods cgroup went away): rules stay loaded, every pod
   *  is reported not enforced with the reason (an alert each, once). */
  closeGate(gate: Gate): void {
    this.#gate = gate;
    for (const state of this.#pods.values()) if (state.appliedKey !== null) this.#reportProblem(state, gate.code, gate.message);
  }

  /** The kernel enforces now: every pod whose rules are loaded is enforced (logged). Returns how many. */
  openGate(): number {
    if (this.#gate === null) return 0;
    const code = this.#gate.code;
    this.#gate = null;
    let n = 0;
    for (const state of this.#pods.values()) {
      if (state.appliedKey === null || state.inForce === null) continue;
      if (state.problem === code) state.problem = null;
      n++;
      this.#d.log.info({ pod: `${state.namespace}/${state.name}`, uid: state.uid, digest: state.inForce.digest, policies: state.inForce.policies }, 'pod enforced');
    }
    return n;
  }

  /** The whole set of pods on the node: upserts each, removes every known pod not in it. */
  sync(pods: readonly Pod[]): Record<UpsertOutcome, number> {
    const counts: Record<UpsertOutcome, number> = { enforced: 0, unchanged: 0, 'not-enforced': 0, removed: 0, ignored: 0 };
    const seen = new Set<string>();
    for (const p of pods) {
      const uid = p.metadata?.uid;
      if (typeof uid === 'string') seen.add(uid);
      counts[this.upsert(p)]++;
    }
    for (const uid of [...this.#pods.keys()]) {
      if (!seen.has(uid)) {
        this.remove(uid);
        counts.removed++;
      }
    }
    return counts;
  }

  /** A pod was added or changed. */
  upsert(pod: Pod): UpsertOutcome {
    const meta = pod.metadata;
    const uid = meta?.uid;
    const namespace = meta?.namespace ?? 'default';
    const name = meta?.name ?? '';
    if (typeof uid !== 'string' || uid === '' || name === '') {
      this.#d.log.warn({ name, namespace }, 'pod without metadata.uid or metadata.name ignored');
      return 'ignored';
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      this.remove(uid);
      return 'removed';
    }
    let state = this.#pods.get(uid);
    if (state === undefined) {
      state = {
        uid, namespace, name, labels: meta?.labels, owner: podOwner(pod), sole: null, qos: qosClassOf(pod.status?.qosClass),
        inForce: null, verifiedFrom: null, appliedKey: null, containers: [], problem: null, partial: null, span: null,
      };
      this.#pods.set(uid, state);
    }
    state.labels = meta?.labels;
    state.owner = podOwner(pod);
    state.sole = soleContainer(pod);
    state.qos = qosClassOf(pod.status?.qosClass) ?? state.qos;
    state.containers = this.#resolveContainers(state, containerStates(pod));

    const annotations = meta?.annotations;
    const inputs = signedInputs(namespace, annotations);
    let verified: Result<VerifiedProfile>;
    if (annotations?.[ANN_PROFILE] === undefined) {
      verified = err('E_NO_PROFILE', `pod has no ${ANN_PROFILE} annotation`);
    } else if (state.inForce !== null && state.verifiedFrom === inputs) {
      verified = { ok: true, value: state.inForce }; // byte-identical signed inputs: already verified
    } else {
      try {
        verified = this.#d.verify(annotations, namespace);
      } catch (e) {
        verified = err('E_VERIFY', `verification failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (!verified.ok) {
      this.#reportProblem(state, verified.error.code, verified.error.message);
      if (state.inForce === null) return 'not-enforced';
      // an update that does not verify never lifts the protection already in force
      return this.#apply(state, state.inForce, annotations?.[ANN_TRACEPARENT]) ? 'enforced' : 'unchanged';
    }
    state.problem = null;
    const applied = this.#apply(state, verified.value, annotations?.[ANN_TRACEPARENT]);
    if (applied === null) return 'not-enforced';
    state.verifiedFrom = inputs;
    return applied ? 'enforced' : 'unchanged';
  }

  /** A pod was deleted: its rules go. */
  remove(uid: string): void {
    const state = this.#pods.get(uid);
    if (state === undefined) return;
    this.#pods.delete(uid);
    for (const c of state.containers) if (c.cgroupId !== undefined) this.#byCgroup.delete(c.cgroupId);
    if (state.appliedKey === null) return;
    const r = this.#d.kernel.removePod(uid);
    if (r.ok) this.#d.log.info({ pod: `${state.namespace}/${state.name}`, uid }, 'pod removed');
    else this.#d.log.error({ pod: `${state.namespace}/${state.name}`, uid, error: r.error }, 'removing pod from the kernel failed');
  }

  /** After the first complete set of pods: pods the kernel still holds (adopted from the pins of a
   *  previous enforcer) that are no longer on the node are removed. Returns how many. */
  removeStale(): number {
    const held = this.#d.kernel.podUids?.() ?? [];
    let n = 0;
    for (const uid of held) {
      if (this.#pods.has(uid)) continue;
      const r = this.#d.kernel.removePod(uid);
      if (r.ok) n++;
      else this.#d.log.error({ uid, error: r.error }, 'removing a stale pod from the kernel failed');
    }
    if (n > 0) this.#d.log.info({ removed: n }, 'removed pods deleted while no enforcer ran');
    return n;
  }

  /** Periodic: container cgroups that appeared since, and kernel entries of cgroups that no longer exist. */
  sweep(): Result<number> {
    for (const state of this.#pods.values()) {
      if (state.inForce === null) continue;
      const before = state.containers.map((c) => c.cgroupId).join(',');
      state.containers = this.#resolveContainers(state, state.containers.map(({ name, containerId, image, init }) => ({ name, containerId, image, ...(init === true ? { init } : {}) })));
      if (state.containers.map((c) => c.cgroupId).join(',') !== before) this.#apply(state, state.inForce, undefined);
    }
    let r: Result<number>;
    try {
      r = this.#d.kernel.sweep(this.#d.resolver.liveIds());
    } catch (e) {
      r = err('E_KERNEL', e instanceof Error ? e.message : String(e));
    }
    if (!r.ok) this.#d.log.error({ error: r.error }, 'sweep failed');
    else if (r.value > 0) this.#d.log.info({ removed: r.value }, 'sweep removed entries of vanished cgroups');
    return r;
  }

  /** One kernel event → one alert (and a log record on the pod's trace, and metrics). */
  onKernelEvent(e: KernelEvent): void {
    const now = this.#now();
    const where = this.#byCgroup.get(e.cgroupId);
    const uid = e.podUid ?? where?.uid ?? null;
    const state = uid === null ? undefined : this.#pods.get(uid);
    const container = where !== undefined && where.uid === uid
      ? state?.containers.find((c) => c.name === where.container) : undefined;
    const ctx: AlertContext = {
      clusterName: this.#d.clusterName,
      hostName: this.#d.nodeName,
      namespace: state?.namespace ?? '',
      podName: state?.name ?? '',
      labels: state?.labels,
      containerId: container?.containerId ?? '',
      containerName: container?.name ?? '',
      containerImage: container?.image ?? '',
      owner: state?.owner ?? null,
      parentProcessName: e.type === 'decision' || e.type === 'log' ? this.#processName(e.ppid, now.getTime()) : '',
    };
    if (container === undefined && state !== undefined && (e.type === 'decision' || e.type === 'log')) {
      // a container the pod's status does not name yet (just started): its ID is in its cgroup's
      // name, its name known when the pod can have only one container running (pod-facts.ts)
      const id = this.#containerIdOf(state, e.cgroupId);
      if (id !== null) {
        // the sole container only while the status names no other ID for it (a sandbox or stale scope is not it)
        const named = state.containers.find((c) => c.containerId === id) ?? state.containers.find((c) => c.name === state.sole && (c.containerId === '' || c.containerId === id));
        ctx.containerId = id;
        ctx.containerName = named?.name ?? '';
        ctx.containerImage = named?.image ?? '';
      }
    }
    if (e.type === 'log') {
      const labels = formatLabels(ctx.labels);
      let made: KubeArmorLog | null = null;
      const l = (): KubeArmorLog => (made ??= visibilityLog(e, ctx, labels, now));
      this.#d.emitLog?.(visibilityLogLine(e, ctx, labels, now), l);
      this.#d.metrics?.logs.inc({ operation: OPERATION[e.kind] });
      // a visibility log is an OpenTelemetry log record on the pod's trace too, as alerts are
      try {
        if (this.#d.record !== undefined) this.#d.record(l(), state?.span ?? null);
      } catch (err) {
        this.#d.log.error({ err }, 'a visibility log could not be recorded as an OpenTelemetry log record');
      }
      return;
    }
    if (e.type === 'log-dropped') {
      this.logsDropped += e.dropped ?? 0;
      this.#d.metrics?.logsDropped.inc({}, e.dropped ?? 0);
      this.#d.log.warn({ namespace: ctx.namespace, pod: ctx.podName, dropped: e.dropped ?? 0, total: this.logsDropped }, 'visibility logs dropped by the kernel: rate limit exceeded');
      return;
    }
    let alert: KubeArmorAlert;
    if (e.type === 'dropped') {
      const n = e.dropped ?? 0;
      alert = thresholdAlert(n, ctx, now, this.#d.maxAlertsPerSec ?? 0);
      this.#d.metrics?.dropped.inc({}, n);
    } else {
      alert = decisionAlert(e, ctx, now);
      this.#d.metrics?.events.inc({ action: e.action, result: e.denied ? 'denied' : 'passed' });
    }
    this.#emitWithSpan(alert, state?.span ?? null);
  }

  readonly #idByCgroup = new Map<bigint, string | null>();
  /** visibility logs the kernel dropped (rate limit) since start */
  logsDropped = 0;

  #containerIdOf(state: PodState, cgroupId: bigint): string | null {
    if (this.#idByCgroup.has(cgroupId)) return this.#idByCgroup.get(cgroupId)!;
    const pod = this.#d.resolver.podCgroup(state.uid, state.qos);
    const id = pod === null ? null : this.#d.resolver.containerIdOfCgroup(pod.path, cgroupId);
    if (this.#idByCgroup.size >= 4096) this.#idByCgroup.clear();
    // a name not found now may be found later (the scope not made yet): only found ones are kept
    if (id !== null) this.#idByCgroup.set(cgroupId, id);
    return id;
  }

  /** The alert out (stdout, other sinks), counted, and as a log record on the pod's trace. */
  #emitWithSpan(alert: KubeArmorAlert, span: SpanContext | null): void {
    this.#d.emit(alert);
    this.#d.metrics?.alerts.inc({ type: alert.Type, operation: alert.Operation });
    try {
      this.#d.record?.(alert, span);
    } catch (e) {
      this.#d.log.error({ err: e }, 'an alert could not be recorded as an OpenTelemetry log record');
    }
  }

  /** The rules of the profile in force that the kernel could not load (limits the gateway
   *  should have refused, a full map): one log line and one alert naming them, per new set.
   *  Targets a kind cannot use are documented limits, not reported; patterns past the kernel's
   *  automaton (E_PATTERN: the gateway refuses them, V16) are. */
  #reportPartial(state: PodState, pod: string): void {
    let missing: { rule: ProfileRule; reason: string; code?: string }[] = [];
    try {
      missing = (this.#d.kernel.notEnforced?.(state.uid) ?? []).filter((m) => m.code !== undefined && m.code !== 'E_TARGET');
    } catch { /* a kernel without the extension */ }
    const key = missing.length === 0 ? null : JSON.stringify(missing.map((m) => [ruleText(m.rule), m.code]));
    if (key === state.partial) return;
    state.partial = key;
    if (key === null) return;
    this.#d.log.warn({ pod, uid: state.uid, codes: [...new Set(missing.map((m) => m.code))], rules: missing.map((m) => `${ruleText(m.rule)}: ${m.reason}`) },
      `pod partly enforced: ${missing.length} rule${missing.length === 1 ? '' : 's'} not loaded, the rest in force`);
    this.#emitWithSpan(partialLoadAlert(missing, this.#context(state), this.#now()), state.span);
  }

  #reportProblem(state: PodState, code: string, message: string): void {
    if (state.problem === code) return;
    state.problem = code;
    const pod = `${state.namespace}/${state.name}`;
    this.#d.log.warn({ pod, uid: state.uid, code, kept: state.inForce !== null }, `pod not enforced: ${message}`);
    this.#emitWithSpan(notEnforcedAlert(message, code, this.#context(state), this.#now()), state.span);
  }

  #context(state: PodState): AlertContext {
    return {
      clusterName: this.#d.clusterName, hostName: this.#d.nodeName, namespace: state.namespace, podName: state.name,
      labels: state.labels, owner: state.owner, containerId: '', containerName: '', containerImage: '', parentProcessName: '',
    };
  }

  #kernelProfile(state: PodState, profile: Profile): Profile {
    if (!this.#d.kernelProfile) return profile;
    try {
      return this.#d.kernelProfile(profile, state.containers);
    } catch (e) {
      this.#d.log.warn({ pod: `${state.namespace}/${state.name}`, error: e instanceof Error ? e.message : String(e) }, 'finding the other names of linked files failed; the profile is loaded as verified');
      return profile;
    }
  }

  #resolveContainers(state: PodState, wanted: ContainerState[]): ContainerState[] {
    const needsPod = wanted.some((c) => c.containerId !== '');
    const pod = needsPod ? this.#d.resolver.podCgroup(state.uid, state.qos) : null;
    const out = wanted.map((c): ContainerState => {
      const base = { name: c.name, containerId: c.containerId, image: c.image, ...(c.init === true ? { init: true } : {}) };
      if (c.containerId === '' || pod === null) return base;
      const cg = this.#d.resolver.containerCgroup(pod.path, c.containerId);
      return cg === null ? base : { ...base, cgroupId: cg.id, cgroupPath: cg.path };
    });
    for (const c of state.containers) if (c.cgroupId !== undefined) this.#byCgroup.delete(c.cgroupId);
    for (const c of out) if (c.cgroupId !== undefined) this.#byCgroup.set(c.cgroupId, { uid: state.uid, container: c.name });
    return out;
  }

  /** Loads the profile when it or the container cgroups changed. true: applied now; false: already
   *  in force; null: the kernel refused it. */
  #apply(state: PodState, v: VerifiedProfile, traceparent: string | undefined): boolean | null {
    const key = `${v.digest}|${state.containers.map((c) => `${c.name}=${c.cgroupId ?? ''}`).join(',')}`;
    if (key === state.appliedKey) return false;
    const pod = `${state.namespace}/${state.name}`;
    const parent = contextFromTraceparent(traceparent);
    const span = this.#d.tracer.startSpan('armorgate.enforcer.attach', {
      attributes: {
        'k8s.namespace.name': state.namespace, 'k8s.pod.name': state.name, 'k8s.pod.uid': state.uid,
        'k8s.node.name': this.#d.nodeName, 'armorgate.profile.digest': v.digest,
        'armorgate.policies': v.policies.join(','),
      },
    }, parent);
    const binding: PodBinding = {
      uid: state.uid, namespace: state.namespace, name: state.name, profile: this.#kernelProfile(state, v.profile),
      containers: state.containers.map((c) => ({
        name: c.name, ...(c.cgroupId === undefined ? {} : { cgroupId: c.cgroupId }), ...(c.init === true ? { init: true } : {}),
      })),
    };
    const op = state.appliedKey === null ? 'attach' : 'swap';
    const t0 = performance.now();
    let r: Result<void>;
    try {
      r = this.#d.kernel.setPod(binding);
    } catch (e) {
      r = err('E_KERNEL', e instanceof Error ? e.message : String(e));
    }
    const ms = performance.now() - t0;
    if (!r.ok) {
      span.recordException(new Error(r.error.message));
      span.setStatus({ code: SpanStatusCode.ERROR, message: r.error.message });
      span.end();
      this.#d.log.error({ pod, uid: state.uid, error: r.error }, 'loading the pod profile into the kernel failed');
      this.#reportProblem(state, r.error.code, `the kernel refused the profile: ${r.error.message}`);
      return null;
    }
    span.end();
    state.inForce = v;
    state.appliedKey = key;
    state.span = span.spanContext();
    this.#d.metrics?.attachSeconds.observe({ op }, ms / 1000);
    this.#reportPartial(state, pod);
    if (this.#gate !== null) {
      this.#d.log.info({ pod, uid: state.uid, digest: v.digest, ms: Math.round(ms * 1000) / 1000 }, 'pod rules loaded, not enforced yet');
      this.#reportProblem(state, this.#gate.code, this.#gate.message);
      return true;
    }
    this.#d.log.info({
      pod, uid: state.uid, digest: v.digest, policies: v.policies,
      containers: binding.containers.map((c) => `${c.name}${c.cgroupId === undefined ? '' : `@${c.cgroupId}`}`),
      ms: Math.round(ms * 1000) / 1000,
    }, 'pod enforced');
    return true;
  }
}

