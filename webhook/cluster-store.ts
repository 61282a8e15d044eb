// The in-cluster PolicyStore: namespaces and the pod-binding policy kinds (with live binding,
// pods and host policies too), kept by @kubernetes/client-node ListWatch caches that run in a
// worker thread (cluster-watch.worker.ts); this side holds the copies the admission path
// reads, applies the worker's changes in order, and restarts the worker if it ever dies.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Backoff } from '../lib/backoff.ts';
import type { Namespace, Policy } from '../policy/types.ts';
import { validatePolicy, type ValidationResult } from '../policy/validate.ts';
import { policyId, sortPolicies, type PolicyStore } from './sources.ts';
import { RecentStates } from './recent-states.ts';
import { CACHES, HOST_POLICY_CACHE, POD_CACHE, POLICY_CACHES, type ApiCall, type ApiResult, type CacheName, type WatchCommand, type WatchedObject, type WatchEvent, type WatchMessage, type WatchWorkerData } from './cluster-watch-protocol.ts';
import type { LeanPod } from './lean-pod.ts';

export interface ClusterStoreOptions {
  /** A kubeconfig file; else the in-cluster configuration. */
  kubeconfig?: string;
  /** A kubeconfig's text (YAML or JSON), instead of a file. */
  kubeconfigText?: string;
  logger: Logger;
  /** Called after each completed list of a cache (first sync and every relist). */
  onRelist?: (cache: CacheName) => void;
  /** First delay before a worker that died is started again (the jittered backoff of
   *  lib/backoff.ts, to 30 s; back to the first once a worker has run for a minute). */
  restartMs?: number;
  /** Called when a worker that had started ends unasked (it is replaced). */
  onRestart?: () => void;
  /** Sees each worker started (tests stop one to check the restart). */
  onWorker?: (w: Worker) => void;
  /** Also keep the pods (lean copies) and the host policies (for their status), and make API
   *  calls: what the reconciler needs. */
  pods?: boolean;
  /** Called for each change applied to the served copies (after it is applied); `listed`
   *  after a cache's list was applied. */
  onChange?: (cache: CacheName, type: 'put' | 'del' | 'listed', obj?: WatchedObject) => void;
}

/** The cluster store with what the reconciler reads: pods, the policies' objects (status
 *  included), and API calls made by the worker. */
export interface ClusterStore extends PolicyStore {
  pods(): IterableIterator<LeanPod>;
  pod(namespace: string, name: string): LeanPod | undefined;
  podsSynced(): boolean;
  /** The policy objects as watched (invalid ones too), by cache; with the pods, the host
   *  policies too (they bind no pod; the reconciler writes their status). */
  policyObjects(): [CacheName, WatchedObject][];
  /** The core's validation of a policy object (its spec: specOnly), made once per object and
   *  kept across a change of its status alone: what admission and the status pass both read. */
  policyValidation(obj: WatchedObject): ValidationResult;
  call(c: ApiCall): Promise<ApiResult>;
}

/** A policy without its status: the status is observed state (the gateway writes it), never
 *  policy, so whatever a status holds cannot make a policy invalid and unbind its pods. */
export function specOnly(obj: WatchedObject): WatchedObject {
  if (!('status' in obj)) return obj;
  const { status, ...rest } = obj as WatchedObject & { status?: unknown };
  void status;
  return rest;
}

/** A policy whose spec, generation, labels and annotations are unchanged (a status write):
 *  what admission reads of it is the same, so the policy set keeps its version. */
function sameExceptStatus(a: WatchedObject | undefined, b: WatchedObject): boolean {
  if (a === undefined) return false;
  const x = a as WatchedObject & { spec?: unknown; metadata?: { generation?: number; labels?: unknown; annotations?: unknown } };
  const y = b as typeof x;
  return x.metadata?.generation === y.metadata?.generation && JSON.stringify([x.spec, x.metadata?.labels, x.metadata?.annotations]) === JSON.stringify([y.spec, y.metadata?.labels, y.metadata?.annotations]);
}

type Objects = Map<string, WatchedObject>;

const WORKER_URL = new URL('./cluster-watch.worker.ts', import.meta.url);
const keyOf = (o: WatchedObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/** Starts the watch worker and resolves once it has loaded the cluster's configuration
 *  (rejects, naming the problem, when it cannot). Lists and watches then run in the
 *  background: `notSynced()` says what has not been listed yet. */
export async function clusterStore(opts: ClusterStoreOptions): Promise<ClusterStore> {
  const { logger } = opts;
  // an empty --kubeconfig is no kubeconfig (in-cluster configuration), as before the worker
  const data: WatchWorkerData = opts.kubeconfigText !== undefined ? { kubeconfigText: opts.kubeconfigText } : opts.kubeconfig ? { kubeconfigFile: opts.kubeconfig } : {};
  if (opts.pods === true) data.pods = true;
  const caches: CacheName[] = opts.pods === true ? [...CACHES, POD_CACHE, HOST_POLICY_CACHE] : [...CACHES];
  const statusCaches: CacheName[] = opts.pods === true ? [...POLICY_CACHES, HOST_POLICY_CACHE] : [...POLICY_CACHES];
  const pending = new Map<number, (r: ApiResult) => void>();
  let nextCall = 0;
  // What the admission path reads. A cache's map is replaced as a whole when a new worker
  // has listed it (`staging` until then), so objects deleted while no worker ran go too.
  const serving = new Map<CacheName, Objects>(caches.map((c) => [c, new Map()]));
  let staging = new Map<CacheName, Objects>();
  const synced = new Set<CacheName>();
  let version = 0;
  let derived: Policy[] | null = null;
  const rejected = new Set<string>();
  // Only a policy cache's change bumps the policy set's version (which empties the compile
  // cache): a namespace's change is seen by the compile cache's key (the namespace object is
  // part of it), so it costs what it changes, not a recompile of every pod shape and a
  // revalidation of every policy. Each policy object is validated once (objects are replaced,
  // never mutated, on change; a new object whose spec, generation, labels and annotations are
  // the old one's, a status write, takes the old one's result): a policy change revalidates
  // that policy only, and the reconciler's status pass validates nothing.
  /** A pod-binding policy cache changed: the policy set's version moves (a namespace, pod or
   *  host policy event changes no policy admission compiles, and costs no revalidation). */
  const isPolicyCache = (c: CacheName): boolean => (POLICY_CACHES as readonly CacheName[]).includes(c);
  const changed = (cache: CacheName): void => { if (isPolicyCache(cache)) { version++; derived = null; } };
  const validated = new WeakMap<WatchedObject, ValidationResult>();
  const validation = (obj: WatchedObject): ValidationResult => {
    let v = validated.get(obj);
    if (v === undefined) { v = validatePolicy(specOnly(obj)); validated.set(obj, v); }
    return v;
  };
  /** The caller's callbacks run inside a message handler: a throw is logged, never the process's end. */
  const callback = (f: () => void): void => {
    try { f(); } catch (e) { logger.error({ err: e }, 'cluster store callback failed'); }
  };

  // What admission compiled from until a change, kept a few seconds (recent-states.ts): the
  // policy set as it was before each batch of events that changes it (admission runs between
  // batches), and each namespace object before it changes.
  const recent = new RecentStates();
  const nameOf = (o: WatchedObject): string => String(o.metadata?.name ?? '');

  const apply = (events: WatchEvent[]): void => {
    let remembered = false;
    const rememberPolicies = (): void => { if (!remembered) { remembered = true; recent.replacedPolicies(version, policies()); } };
    for (const e of events) {
      if (e.t === 'log') { logger[e.level](e.fields, e.msg); continue; }
      const staged = staging.get(e.cache);
      if (e.t === 'listed') {
        if (staged !== undefined) {
          // a new worker's list replaces what was served: remember what it replaces
          if (synced.has(e.cache) && isPolicyCache(e.cache)) rememberPolicies();
          if (synced.has(e.cache) && e.cache === 'namespaces') {
            const old = serving.get(e.cache)!;
            for (const [k, o] of old) if (staged.get(k)?.metadata?.resourceVersion !== o.metadata?.resourceVersion) recent.replacedNamespace(nameOf(o), o as Namespace);
            for (const [k, o] of staged) if (!old.has(k)) recent.replacedNamespace(nameOf(o), null);
          }
          serving.set(e.cache, staged); staging.delete(e.cache); synced.add(e.cache);
        }
        changed(e.cache);
        callback(() => opts.onRelist?.(e.cache));
        if (opts.onChange) callback(() => opts.onChange!(e.cache, 'listed'));
        continue;
      }
      const target = staged ?? serving.get(e.cache)!;
      const k = keyOf(e.obj);
      const before = target.get(k);
      const statusOnly = e.t === 'put' && e.cache !== 'namespaces' && e.cache !== POD_CACHE && sameExceptStatus(before, e.obj);
      if (statusOnly) { const known = validated.get(before!); if (known !== undefined) validated.set(e.obj, known); }
      if (staged === undefined && !statusOnly) {
        if (isPolicyCache(e.cache)) rememberPolicies();
        else if (e.cache === 'namespaces') recent.replacedNamespace(nameOf(e.obj), (before as Namespace | undefined) ?? null);
      }
      if (e.t === 'put') target.set(k, e.obj);
      else target.delete(k);
      if (staged === undefined && !statusOnly) changed(e.cache);
      if (staged === undefined && opts.onChange) callback(() => opts.onChange!(e.cache, e.t as 'put' | 'del', e.obj));
    }
  };

  let worker: Worker | null = null;
  let stopping = false;
  let started = false; // a worker has loaded the configuration once: from then on, one that ends is replaced
  const restarts = new Backoff({ initialMs: opts.restartMs ?? 500, maxMs: 30_000 });
  let restartTimer: NodeJS.Timeout | undefined;

  /** Another worker after the delay, which grows (to 30 s, jittered) while workers keep ending. */
  const restartLater = (why: Record<string, unknown>): void => {
    if (stopping || restartTimer !== undefined) return;
    const restartDelay = restarts.next();
    logger.error({ ...why, restartInMs: restartDelay }, 'cluster watch worker ended; starting another (the caches serve what they hold meanwhile)');
    callback(() => opts.onRestart?.());
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      // a failure here (the kubeconfig gone, no thread to be had) schedules the next try itself
      start().catch((e: unknown) => { logger.error({ err: e instanceof Error ? e.message : String(e) }, 'cluster watch worker could not start again'); });
    }, restartDelay);
  };

  /** One worker; resolves on `configured`, rejects on `fatal` or an end before either. */
  const start = (): Promise<void> => new Promise((resolve, reject) => {
    if (stopping) { resolve(); return; }
    let configured = false;
    let failure: Error | null = null;
    staging = new Map(caches.map((c) => [c, new Map()]));
    let w: Worker;
    try {
      w = new Worker(WORKER_URL, { workerData: data });
    } catch (e) {
      reject(e instanceof Error ? e : new Error(String(e)));
      if (started) restartLater({ err: e instanceof Error ? e.message : String(e) });
      return;
    }
    const bornAt = performance.now();
    worker = w;
    opts.onWorker?.(w);
    w.on('message', (m: WatchMessage) => {
      if (m.t === 'events') apply(m.events);
      else if (m.t === 'result') { const done = pending.get(m.id); pending.delete(m.id); done?.(m.result); }
      else if (m.t === 'configured') { configured = true; started = true; resolve(); }
      else if (m.t === 'fatal') { failure = new Error(m.message); reject(failure); }
    });
    w.on('error', (e) => { failure ??= e; logger.error({ err: e }, 'cluster watch worker failed'); });
    w.on('exit', (code) => {
      if (worker === w) worker = null;
      // calls the worker took with it: no answer (as a dropped connection)
      for (const [id, done] of pending) { pending.delete(id); done({ ok: false, code: 0, message: 'the watch worker ended before answering' }); }
      if (!configured) reject(failure ?? new Error(`the cluster watch worker exited (code ${code}) before loading its configuration`));
      if (stopping || !started) return; // the first start's failure is the caller's
      // a worker that ran a while is no crash loop: the delay starts over
      if (performance.now() - bornAt > 60_000) restarts.reset();
      restartLater({ code, err: failure?.message });
    });
  });

  await start();

  const policies = (): Policy[] => {
    if (derived !== null) return derived;
    const out: Policy[] = [];
    for (const cache of POLICY_CACHES) {
      for (const obj of serving.get(cache)!.values()) {
        const { policy, problems } = validation(obj);
        if (policy !== null) { out.push(policy); continue; }
        const id = `${obj.kind}/${policyId(obj)}@${obj.metadata?.resourceVersion}`;
        if (!rejected.has(id)) {
          rejected.add(id);
          logger.warn({ policy: id, problems: problems.filter((p) => p.level === 'error') }, 'invalid policy in the cluster is ignored');
        }
      }
    }
    derived = sortPolicies(out);
    return derived;
  };
  const namespaces = (): Objects => serving.get('namespaces')!;
  return {
    policies,
    policiesVersion: () => version,
    namespace: (name) => (namespaces().get(`/${name}`) as Namespace | undefined) ?? null,
    recent,
    namespaceCount: () => namespaces().size,
    pods: () => (serving.get(POD_CACHE)?.values() ?? new Map().values()) as IterableIterator<LeanPod>,
    podsSynced: () => synced.has(POD_CACHE),
    pod: (namespace, name) => serving.get(POD_CACHE)?.get(`${namespace}/${name}`) as LeanPod | undefined,
    policyObjects: () => statusCaches.flatMap((c) => [...serving.get(c)!.values()].map((o): [CacheName, WatchedObject] => [c, o])),
    policyValidation: validation,
    call: (c) => new Promise<ApiResult>((resolve) => {
      const w = worker;
      if (w === null) { resolve({ ok: false, code: 0, message: 'no watch worker is running' }); return; }
      const id = ++nextCall;
      pending.set(id, resolve);
      w.postMessage({ t: 'call', id, call: c } satisfies WatchCommand);
    }),
    notSynced: () => {
      // admission does not read pods: readiness waits for the caches it reads
      const missing = CACHES.filter((c) => !synced.has(c));
      return missing.length === 0 ? null : `caches not synced: ${missing.join(', ')}`;
    },
    close: async () => {
      stopping = true;
      clearTimeout(restartTimer);
      const w = worker;
      if (w === null) return;
      const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      w.postMessage({ t: 'stop' } satisfies WatchCommand);
      const timer = setTimeout(() => { void w.terminate(); }, 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
