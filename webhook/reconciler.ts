// Live binding: keeps every running pod's armorgate.io/* annotations equal to what admission
// would write now, and each policy's status saying how many pods it binds (a host policy's:
// none, it binds nodes; its validation warnings).
//
// What a pod should carry comes from `compiledFor` (decide.ts), the function admission uses,
// on the pod's lean copy (lean-pod.ts: labels, container names, opt-out; what the compile
// reads). A pod is patched only when the digest of its armorgate.io/* annotations (traceparent
// left out) differs from the digest of the desired ones: no write once settled, no loop
// (the patch's own watch event then finds them equal). armorgate.io/traceparent is written
// with each patch: the context of the `reconcile pod` span that made it, as admission writes
// its own span's. A key change (rotation) changes every desired signature, so every pod is
// re-signed the same way.
//
// Work: a queue of pod keys (deduplicated, FIFO), drained at the token bucket's rate
// (--reconcile-rate, --reconcile-burst) by the leader only (leader.ts), checked again just
// before each write. A merge patch carries the pod's resourceVersion as a precondition: 409 →
// retried with backoff on the newer copy the watch brings; 404 → the pod is gone (not an
// error); no answer, 429 or 5xx → retried with backoff; any other refusal → counted, logged,
// left for the next resync. A pod whose compile fails (E_TOO_LARGE, E_KERNEL_LIMIT) or whose
// annotations would pass 256 KiB is not patched (it keeps what it has), counted, logged, and
// counted in the status of the policies that select it. A finished pod (phase Succeeded or
// Failed) is neither patched nor counted.
import type { Logger } from 'pino';
import { jitteredDelay, type BackoffPolicy } from '../lib/backoff.ts';
import type { Tracer } from '@opentelemetry/api';
import { ANN_TRACEPARENT, ANNOTATIONS_MAX_BYTES, KUBEARMOR_OPT_OUT } from '../policy/annotations.ts';
import { annotationsSize } from '../policy/compile.ts';
import { selectPolicies, policyId as selectPolicyId } from '../policy/select.ts';
import type { Pod } from '../policy/types.ts';
import type { ValidationResult } from '../policy/validate.ts';
import { formatTraceparent } from '../telemetry/index.ts';
import type { ClusterStore } from './cluster-store.ts';
import { HOST_POLICY_CACHE, type CacheName, type WatchedObject } from './cluster-watch-protocol.ts';
import { compiledFor, CompileCache, type GatewayView } from './decide.ts';
import { armorgateDigest, finished, type LeanPod } from './lean-pod.ts';
import type { WebhookMetrics } from './metrics.ts';
import { TokenBucket } from './token-bucket.ts';

export interface ReconcilerOptions {
  store: Pick<ClusterStore, 'pods' | 'pod' | 'podsSynced' | 'policyObjects' | 'policyValidation' | 'call'>;
  view: GatewayView;
  isLeader(): boolean;
  logger: Logger;
  metrics: WebhookMetrics;
  tracer: Tracer;
  /** Pod patches (and status writes) a second; `burst` saved at most. */
  rate: number;
  burst: number;
  /** Every pod re-evaluated this often (ms); 0: never. */
  resyncMs: number;
  /** Patches under way at once. */
  concurrency?: number;
  /** Delays of a pod's retries (lib/backoff.ts: exponential, capped, jittered); default
   *  RETRY_BACKOFF. */
  retry?: BackoffPolicy;
  /** Namespaces whose pods admission never sees (the webhook configurations' namespaceSelector):
   *  their pods are left as they are. Namespaces labelled armorgate.io/admission=disabled too. */
  excludeNamespaces?: readonly string[];
}

/** A pod's retries after 409, 429, 5xx or no answer: 200 ms, then doubling to 30 s, jittered. */
export const RETRY_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 30_000 };

/** The namespace label that takes a namespace out of admission (webhook-configurations.yaml). */
export const ADMISSION_LABEL = 'armorgate.io/admission';

export interface Reconciler {
  /** The store saw a change (wire to clusterStore's onChange). */
  changed(cache: CacheName, type: 'put' | 'del' | 'listed', obj?: WatchedObject): void;
  /** Leadership changed (wire to the elector's onChange). */
  leading(yes: boolean): void;
  /** Evaluates every pod again (e.g. after the signing key changed). */
  resync(): void;
  pending(): number;
  /** True when nothing is queued, under way or waiting for a retry (tests, benchmark). */
  idle(): boolean;
  stop(): void;
}

/** A pod the reconciler could not annotate, and why. */
interface Failure { code: string; message: string; bound: string[] }

const podKey = (ns: string, name: string): string => `${ns}/${name}`;
const refId = (ref: string): string => ref.slice(0, ref.lastIndexOf('@'));
const TRACEPARENT_BYTES = Buffer.byteLength(ANN_TRACEPARENT) + 55;
const MAX_STATUS_WARNINGS = 20;

/** A validation's problems as the status states them, once per validation result. */
const problemTexts = new WeakMap<ValidationResult, { warnings: string[]; errors: string[] }>();
function problemsOf(v: ValidationResult): { warnings: string[]; errors: string[] } {
  let t = problemTexts.get(v);
  if (t === undefined) {
    const text = (p: ValidationResult['problems'][number]): string => (p.path ? `${p.path}: ${p.message}` : p.message);
    t = { warnings: v.problems.filter((p) => p.level === 'warning').map(text), errors: v.problems.filter((p) => p.level === 'error').map(text) };
    problemTexts.set(v, t);
  }
  return t;
}

/** canonical() of each policy object's status as watched, once per object. */
const watchedStatuses = new WeakMap<object, string>();
function watchedStatus(obj: object): string {
  let c = watchedStatuses.get(obj);
  if (c === undefined) { c = canonical((obj as { status?: unknown }).status); watchedStatuses.set(obj, c); }
  return c;
}

/** JSON with object keys sorted: what the API server hands back for a custom resource's
 *  status (Go maps) compares equal to what was written. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export function startReconciler(o: ReconcilerOptions): Reconciler {
  const { store, view, logger, metrics } = o;
  const excluded = new Set(o.excludeNamespaces ?? []);
  // its own compile cache: evaluating 20,000 pods must not evict admission's entries; a new
  // one when the signing key changes (the cache is keyed by the policy set's version only)
  let cache = new CompileCache();
  let cacheKey = view.signingKey;
  let evaluatedVersion = -1;
  const bucket = new TokenBucket(o.rate, o.burst);
  const concurrency = o.concurrency ?? Math.max(1, Math.min(32, o.burst));
  const queue = new Set<string>();
  const inflight = new Set<string>();
  const retries = new Map<string, { attempt: number; timer: NodeJS.Timeout }>();
  const bound = new Map<string, readonly string[]>();   // pod → refs of the policies bound now
  const failures = new Map<string, Failure>();          // pod → why it could not be annotated
  const digests = new WeakMap<object, string>();
  let leader = false;
  let stopped = false;
  let pumpTimer: NodeJS.Timeout | undefined;
  let fullTimer: NodeJS.Timeout | undefined;
  let statusTimer: NodeJS.Timeout | undefined;
  let evaluating = false, evaluateAgain = false;
  const batch = { patched: 0, gone: 0, conflict: 0, error: 0, failed: 0, tooLarge: 0 };
  let lastBatchLog = performance.now();

  const count = (result: string): void => metrics.reconcilePods.inc({ result });
  const digestOf = (ann: Record<string, string>): string => {
    let d = digests.get(ann);
    if (d === undefined) { d = armorgateDigest(ann); digests.set(ann, d); }
    return d;
  };

  /** What the pod should carry, or why it cannot; records its bound policies. */
  function evaluate(pod: LeanPod): { desired: Record<string, string> } | null {
    const key = podKey(pod.metadata.namespace, pod.metadata.name);
    if (view.signingKey !== cacheKey) { cache = new CompileCache(); cacheKey = view.signingKey; }
    const ns = view.namespace(pod.metadata.namespace);
    if (finished(pod) || excluded.has(pod.metadata.namespace) || ns?.metadata?.labels?.[ADMISSION_LABEL] === 'disabled') {
      // a finished pod (Succeeded, Failed) runs nothing to bind, and admission never sees the
      // pods of these namespaces: what they carry is left as it is, and they count for no policy
      bound.delete(key);
      failures.delete(key);
      return null;
    }
    const optOut = pod.metadata.annotations?.[KUBEARMOR_OPT_OUT];
    const c = compiledFor(pod as unknown as Pod, pod.metadata.namespace, ns, optOut, view, cache).result;
    let failure: Failure | null = null;
    if (!c.ok) {
      failure = { code: c.error.code, message: c.error.message, bound: selectPolicies(pod as unknown as Pod, ns, view.policies()).map((s) => `${selectPolicyId(s.policy)}@`) };
    } else if (!c.value.optedOut && pod.ag.otherBytes + annotationsSize(c.value.annotations) + TRACEPARENT_BYTES > ANNOTATIONS_MAX_BYTES) {
      failure = { code: 'E_TOO_LARGE', message: `the pod's annotations would pass Kubernetes' limit of ${ANNOTATIONS_MAX_BYTES} bytes`, bound: c.value.bound };
    }
    if (failure !== null) {
      if (!failures.has(key)) {
        logger.warn({ pod: key, code: failure.code, err: failure.message.slice(0, 500) }, 'pod cannot be annotated; it keeps its current annotations');
        count(failure.code === 'E_TOO_LARGE' ? 'too_large' : 'failed');
        if (failure.code === 'E_TOO_LARGE') batch.tooLarge++; else batch.failed++;
      }
      failures.set(key, failure);
      bound.delete(key);
      return null;
    }
    failures.delete(key);
    const v = c.ok ? c.value : null;
    bound.set(key, v!.bound);
    return { desired: v!.optedOut ? {} : v!.annotations };
  }

  const differs = (pod: LeanPod, desired: Record<string, string>): boolean =>
    Object.keys(desired).length === 0 ? pod.ag.keys.length > 0 : digestOf(desired) !== pod.ag.digest;

  function consider(pod: LeanPod): void {
    const e = evaluate(pod);
    const key = podKey(pod.metadata.namespace, pod.metadata.name);
    if (e !== null && differs(pod, e.desired) && !retries.has(key)) queue.add(key);
  }

  function pump(): void {
    clearTimeout(pumpTimer);
    pumpTimer = undefined;
    if (stopped || !leader) return;
    while (queue.size > 0 && inflight.size < concurrency) {
      const wait = bucket.wait();
      if (wait > 0) { pumpTimer = setTimeout(pump, wait); return; }
      const key = queue.values().next().value as string;
      queue.delete(key);
      const slash = key.indexOf('/');
      const pod = store.pod(key.slice(0, slash), key.slice(slash + 1));
      if (pod === undefined || inflight.has(key)) continue;        // gone, or its patch is under way
      const e = evaluate(pod);                                      // the latest copy decides
      if (e === null || !differs(pod, e.desired)) continue;
      if (!o.isLeader()) { leading(false); return; }               // the renew deadline passed: stop at once
      bucket.take();
      inflight.add(key);
      void patch(key, pod, e.desired).finally(() => { inflight.delete(key); pump(); });
    }
  }

  async function patch(key: string, pod: LeanPod, desired: Record<string, string>): Promise<void> {
    const span = o.tracer.startSpan('reconcile pod', { attributes: { 'k8s.namespace.name': pod.metadata.namespace, 'k8s.pod.name': pod.metadata.name, 'k8s.pod.uid': pod.metadata.uid } });
    const ann: Record<string, string | null> = {};
    for (const k of pod.ag.keys) if (!(k in desired)) ann[k] = null;
    if (Object.keys(desired).length > 0) Object.assign(ann, desired, { [ANN_TRACEPARENT]: formatTraceparent(span.spanContext()) });
    const r = await store.call({ op: 'patchPod', namespace: pod.metadata.namespace, name: pod.metadata.name, body: { metadata: { resourceVersion: pod.metadata.resourceVersion, annotations: ann } } });
    span.setAttribute('http.response.status_code', r.code);
    span.end();
    if (r.ok) { retries.delete(key); count('patched'); batch.patched++; return; }
    if (r.code === 404) { retries.delete(key); count('gone'); batch.gone++; return; }
    const transient = r.code === 0 || r.code === 409 || r.code === 429 || r.code >= 500;
    if (r.code === 409) { count('conflict'); batch.conflict++; } else { count('error'); batch.error++; }
    if (!transient) {
      retries.delete(key);
      logger.error({ pod: key, code: r.code, err: r.message }, 'pod patch refused; left for the next resync');
      return;
    }
    const attempt = (retries.get(key)?.attempt ?? 0) + 1;
    const timer = setTimeout(() => {
      retries.delete(key);
      const p = store.pod(pod.metadata.namespace, pod.metadata.name);
      if (p !== undefined) { consider(p); pump(); }
    }, jitteredDelay(o.retry ?? RETRY_BACKOFF, attempt - 1));
    timer.unref();
    retries.set(key, { attempt, timer });
  }

  /** Evaluates every pod, in slices that leave the event loop to admission between them. */
  function evaluateAll(): void {
    if (stopped || !leader || !store.podsSynced()) return;
    if (evaluating) { evaluateAgain = true; return; }
    evaluating = true;
    evaluatedVersion = view.policiesVersion();
    const started = performance.now();
    const seen = new Set<string>();
    const it = store.pods();
    const slice = (): void => {
      if (stopped || !leader) { evaluating = false; return; }
      for (let i = 0; i < 500; i++) {
        const n = it.next();
        if (n.done === true) {
          for (const k of bound.keys()) if (!seen.has(k)) bound.delete(k);
          for (const k of failures.keys()) if (!seen.has(k)) failures.delete(k);
          evaluating = false;
          logger.debug({ pods: seen.size, pending: queue.size, ms: Math.round(performance.now() - started) }, 'all pods evaluated');
          pump();
          scheduleStatus();
          if (evaluateAgain) { evaluateAgain = false; scheduleFull(0); }
          return;
        }
        seen.add(podKey(n.value.metadata.namespace, n.value.metadata.name));
        consider(n.value);
      }
      pump();
      setImmediate(slice);
    };
    slice();
  }
  function scheduleFull(ms = 50): void {
    if (fullTimer !== undefined) return;
    fullTimer = setTimeout(() => { fullTimer = undefined; evaluateAll(); }, ms);
  }

  // ---- policy status: boundPods counts the pods `bound` says the policy binds now (what the
  // gateway writes for them, patched yet or not), not the policies their annotations name
  function scheduleStatus(ms = 1000): void {
    if (statusTimer !== undefined || stopped) return;
    statusTimer = setTimeout(() => { statusTimer = undefined; void writeStatuses(); }, ms);
  }
  async function writeStatuses(): Promise<void> {
    if (!leader || stopped || evaluating) { if (evaluating) scheduleStatus(); return; }
    const counts = new Map<string, number>();
    for (const refs of bound.values()) for (const r of refs) { const id = refId(r); counts.set(id, (counts.get(id) ?? 0) + 1); }
    const failed = new Map<string, number>();
    for (const f of failures.values()) for (const r of f.bound) { const id = refId(r); failed.set(id, (failed.get(id) ?? 0) + 1); }
    for (const [plural, obj] of store.policyObjects()) {
      const meta = (obj as { metadata?: { name?: string; namespace?: string; generation?: number } }).metadata ?? {};
      const id = meta.namespace ? `${meta.namespace}/${meta.name}` : String(meta.name);
      // the store's validation of this object, made once (a pass costs what changed)
      const v = store.policyValidation(obj);
      const policy = v.policy;
      const { warnings, errors } = problemsOf(v);
      // a host policy binds nodes, never a pod (its name may be a cluster policy's: not counted)
      const host = plural === HOST_POLICY_CACHE;
      const n = host ? 0 : counts.get(id) ?? 0, nf = host ? 0 : failed.get(id) ?? 0;
      const status: Record<string, unknown> = policy === null
        ? { status: 'Invalid', boundPods: 0, message: `invalid: bound to no pod: ${errors.join('; ').slice(0, 1000)}` }
        : host ? { status: 'Unbound', boundPods: 0, message: 'a host policy binds nodes, not pods: the gateway binds it to no pod' }
        : { status: n > 0 ? 'Bound' : 'Unbound', boundPods: n, message: n === 0 ? 'binds no running pod' : `binds ${n} running pod${n === 1 ? '' : 's'}` };
      if (nf > 0) { status.failedPods = nf; status.message = `${String(status.message)}; ${nf} pod${nf === 1 ? '' : 's'} selected by it could not be annotated (see the webhook's log)`; }
      if (warnings.length > 0) status.warnings = warnings.slice(0, MAX_STATUS_WARNINGS).map((w) => w.slice(0, 500));
      if (typeof meta.generation === 'number') status.observedGeneration = meta.generation;
      if (canonical(status) === watchedStatus(obj)) continue;
      if (!o.isLeader()) return;
      const wait = bucket.wait();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      bucket.take();
      const r = await store.call({ op: 'patchPolicyStatus', plural, namespace: meta.namespace ?? '', name: String(meta.name), body: { status } });
      metrics.policyStatusWrites.inc({ result: r.ok ? 'ok' : r.code === 404 ? 'gone' : 'error' });
      logger.info({ policy: id, status, was: (obj as { status?: unknown }).status, code: r.code }, 'policy status written');
      if (!r.ok && r.code !== 404) { logger.warn({ policy: id, code: r.code, err: r.message }, 'policy status write failed; retried'); scheduleStatus(5000); }
    }
  }

  // ---- progress: a log line per batch (each second with work done)
  const progress = setInterval(() => {
    const any = batch.patched + batch.gone + batch.conflict + batch.error + batch.failed + batch.tooLarge;
    if (any === 0) return;
    const now = performance.now();
    logger.info({ ...batch, pending: queue.size + inflight.size + retries.size, seconds: Math.round((now - lastBatchLog) / 100) / 10 }, 'reconcile batch');
    lastBatchLog = now;
    for (const k of Object.keys(batch) as (keyof typeof batch)[]) batch[k] = 0;
  }, 1000);
  progress.unref();
  const resync = o.resyncMs > 0 ? setInterval(() => scheduleFull(0), o.resyncMs) : undefined;
  resync?.unref();

  function leading(yes: boolean): void {
    if (yes === leader) return;
    leader = yes;
    logger.info({ leading: yes }, yes ? 'leading: reconciling pods' : 'not leading: no pod is patched here');
    if (yes) { scheduleFull(0); return; }
    queue.clear();
    clearTimeout(pumpTimer);
    for (const r of retries.values()) clearTimeout(r.timer);
    retries.clear();
  }

  return {
    changed(cache, type, obj) {
      if (stopped || !leader) return;
      if (cache === 'pods') {
        if (type === 'listed') { scheduleFull(0); return; }
        const p = obj as unknown as LeanPod;
        const key = podKey(p.metadata.namespace, p.metadata.name);
        if (type === 'del') { bound.delete(key); failures.delete(key); queue.delete(key); scheduleStatus(); return; }
        if (!store.podsSynced()) return; // the first full pass, on `listed`, sees it
        const before = bound.get(key);
        consider(p);
        if (before !== bound.get(key)) scheduleStatus();
        pump();
        return;
      }
      // a namespace changed: its pods are evaluated again (a namespace event leaves the policy
      // set's version alone: it costs what it changes)
      if (cache === 'namespaces' && type !== 'listed') {
        const name = (obj as { metadata?: { name?: string } } | undefined)?.metadata?.name;
        if (name !== undefined && store.podsSynced()) {
          for (const p of store.pods()) if (p.metadata.namespace === name) consider(p);
          pump();
          scheduleStatus();
          return;
        }
      }
      // a policy changed (or a cache was listed again): every pod is evaluated again (the compile
      // cache makes pods that share labels cost one compile); a status-only change touches no
      // binding but the status may need writing
      if (cache === 'namespaces' || view.policiesVersion() !== evaluatedVersion) scheduleFull();
      scheduleStatus();
    },
    resync: () => scheduleFull(0),
    leading,
    pending: () => queue.size + inflight.size + retries.size,
    idle: () => !evaluating && fullTimer === undefined && queue.size === 0 && inflight.size === 0 && retries.size === 0,
    stop() {
      stopped = true;
      clearTimeout(pumpTimer); clearTimeout(fullTimer); clearTimeout(statusTimer);
      clearInterval(progress); if (resync !== undefined) clearInterval(resync);
      for (const r of retries.values()) clearTimeout(r.timer);
    },
  };
}
