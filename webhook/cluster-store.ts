// The in-cluster PolicyStore: namespaces and the pod-binding policy kinds, kept by
// @kubernetes/client-node ListWatch caches that run in a worker thread
// (cluster-watch.worker.ts); this side holds the copies the admission path reads, applies
// the worker's changes in order, and restarts the worker if it ever dies.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Backoff } from '../lib/backoff.ts';
import type { Namespace, Policy } from '../policy/types.ts';
import { validatePolicy } from '../policy/validate.ts';
import { policyId, sortPolicies, type PolicyStore } from './sources.ts';
import { CACHES, POLICY_CACHES, type CacheName, type WatchCommand, type WatchedObject, type WatchEvent, type WatchMessage, type WatchWorkerData } from './cluster-watch-protocol.ts';

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
}

type Objects = Map<string, WatchedObject>;

const WORKER_URL = new URL('./cluster-watch.worker.ts', import.meta.url);
const keyOf = (o: WatchedObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/** Starts the watch worker and resolves once it has loaded the cluster's configuration
 *  (rejects, naming the problem, when it cannot). Lists and watches then run in the
 *  background: `notSynced()` says what has not been listed yet. */
export async function clusterStore(opts: ClusterStoreOptions): Promise<PolicyStore> {
  const { logger } = opts;
  // an empty --kubeconfig is no kubeconfig (in-cluster configuration), as before the worker
  const data: WatchWorkerData = opts.kubeconfigText !== undefined ? { kubeconfigText: opts.kubeconfigText } : opts.kubeconfig ? { kubeconfigFile: opts.kubeconfig } : {};
  // What the admission path reads. A cache's map is replaced as a whole when a new worker
  // has listed it (`staging` until then), so objects deleted while no worker ran go too.
  const serving = new Map<CacheName, Objects>(CACHES.map((c) => [c, new Map()]));
  let staging = new Map<CacheName, Objects>();
  const synced = new Set<CacheName>();
  let version = 0;
  let derived: Policy[] | null = null;
  const rejected = new Set<string>();
  // Only a policy cache's change bumps the policy set's version (which empties the compile
  // cache): a namespace's change is seen by the compile cache's key (the namespace object is
  // part of it), so it costs what it changes, not a recompile of every pod shape and a
  // revalidation of every policy. Each policy object is validated once (objects are replaced,
  // never mutated, on change): a policy change revalidates that policy only.
  const changed = (cache: CacheName): void => { if (cache !== 'namespaces') { version++; derived = null; } };
  const validated = new WeakMap<WatchedObject, Policy | null>();
  /** The caller's callbacks run inside a message handler: a throw is logged, never the process's end. */
  const callback = (f: () => void): void => {
    try { f(); } catch (e) { logger.error({ err: e }, 'cluster store callback failed'); }
  };

  const apply = (events: WatchEvent[]): void => {
    for (const e of events) {
      if (e.t === 'log') { logger[e.level](e.fields, e.msg); continue; }
      const staged = staging.get(e.cache);
      if (e.t === 'listed') {
        if (staged !== undefined) { serving.set(e.cache, staged); staging.delete(e.cache); synced.add(e.cache); }
        changed(e.cache);
        callback(() => opts.onRelist?.(e.cache));
        continue;
      }
      const target = staged ?? serving.get(e.cache)!;
      if (e.t === 'put') target.set(keyOf(e.obj), e.obj);
      else target.delete(keyOf(e.obj));
      if (staged === undefined) changed(e.cache);
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
    staging = new Map(CACHES.map((c) => [c, new Map()]));
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
      else if (m.t === 'configured') { configured = true; started = true; resolve(); }
      else if (m.t === 'fatal') { failure = new Error(m.message); reject(failure); }
    });
    w.on('error', (e) => { failure ??= e; logger.error({ err: e }, 'cluster watch worker failed'); });
    w.on('exit', (code) => {
      if (worker === w) worker = null;
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
        const known = validated.get(obj);
        if (known !== undefined) { if (known !== null) out.push(known); continue; }
        const { policy, problems } = validatePolicy(obj);
        validated.set(obj, policy);
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
    namespaceCount: () => namespaces().size,
    notSynced: () => {
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
