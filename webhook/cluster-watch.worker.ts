// The webhook's list/watch caches, run in a worker thread: @kubernetes/client-node's
// ListWatch of namespaces and of the pod-binding policy kinds (with live binding, of pods and
// host policies too), each change forwarded to the
// main thread (cluster-store.ts), which keeps the copies the admission path reads.
//
// Why a thread of its own: a process that has loaded @kubernetes/client-node (its generated
// API is ~60 MB of modules) answers every request more slowly, whatever serves it: the lean
// express floor of bench:webhook took ~5 µs more CPU per request with the package imported,
// ~2 µs with it imported by an idle worker (webhook/README). Lists and watch streams are read
// here too; the main thread gets only the objects that changed, as structured clones.
import { parentPort, workerData } from 'node:worker_threads';
import { CoreV1Api, CustomObjectsApi, KubeConfig, ListWatch, Watch, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { Backoff, DEFAULT_BACKOFF, jitterWithin } from '../lib/backoff.ts';
import { HOST_POLICY_CACHE, POD_CACHE, POLICY_CACHES, type CacheName, type WatchCommand, type WatchEvent, type WatchMessage, type WatchWorkerData } from './cluster-watch-protocol.ts';
import { apiCaller } from './cluster-calls.ts';
import { leanPod } from './lean-pod.ts';

/** A Watch whose objects are made lean (lean-pod.ts) before ListWatch caches them: with
 *  20,000 pods, the worker's cache holds what binding reads, not whole pod specs. */
class LeanPodWatch extends Watch {
  override watch(path: string, queryParams: Record<string, string | number | boolean | undefined>, callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void, done: (err: unknown) => void): Promise<AbortController> {
    return super.watch(path, queryParams, (phase, obj, raw) => callback(phase, phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' ? leanPod(obj) : obj, raw), done);
  }
}

const GROUP = 'security.kubearmor.com';
const VERSION = 'v1';

function post(m: WatchMessage): void { parentPort!.postMessage(m); }

// Events leave in batches, one message per turn of the event loop: a relist of thousands of
// namespaces is one message, not thousands.
let queue: WatchEvent[] = [];
let listed: CacheName[] = [];
let flushScheduled = false;
function flush(): void {
  flushScheduled = false;
  // a `listed` goes after everything queued so far: scheduled from listFn (below), the flush
  // runs as a macrotask, after the microtask in which ListWatch stored the list listFn had
  // just handed it (the stop path flushes directly, as the worker ends)
  const events = queue.concat(listed.map((cache): WatchEvent => ({ t: 'listed', cache })));
  queue = [];
  listed = [];
  if (events.length > 0) post({ t: 'events', events });
}
function scheduleFlush(): void {
  if (!flushScheduled) { flushScheduled = true; setImmediate(flush); }
}
function emit(e: WatchEvent): void {
  queue.push(e);
  scheduleFlush();
}
function log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>): void { emit({ t: 'log', level, msg, fields }); }

/** Starts a ListWatch and keeps it running: ListWatch relists by itself on 410 Gone but
 *  stops on other errors; those restart here after the project's one jittered backoff
 *  (lib/backoff.ts), which starts over once an event arrives. */
function keepWatching(cache: CacheName, kc: KubeConfig, pathName: string, list: () => Promise<KubernetesListObject<KubernetesObject>>, watch: Watch = new Watch(kc)): ListWatch<KubernetesObject> {
  const backoff = new Backoff();
  const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> => {
    const l = await list();
    backoff.reset();
    listed.push(cache);
    scheduleFlush();
    return l;
  };
  // ListWatch's own delay before re-watching after a watch that ended with no event: jittered too
  const lw = new ListWatch<KubernetesObject>(pathName, watch, listFn, false, undefined, undefined, {
    delayFn: (ms: number) => sleep(jitterWithin(ms, DEFAULT_BACKOFF.initialMs), undefined, { ref: false }),
  });
  lw.on('add', (obj: KubernetesObject) => { backoff.reset(); emit({ t: 'put', cache, obj }); });
  lw.on('update', (obj: KubernetesObject) => { backoff.reset(); emit({ t: 'put', cache, obj }); });
  lw.on('delete', (obj: KubernetesObject) => { backoff.reset(); emit({ t: 'del', cache, obj }); });
  lw.on('error', (e: unknown) => {
    if (stopped) return;
    const delay = backoff.next();
    log('warn', 'list/watch failed; restarting', { cache, err: e instanceof Error ? e.message : String(e), retryInMs: delay });
    const t = setTimeout(() => { if (!stopped) void lw.start(); }, delay);
    t.unref();
  });
  void lw.start();
  return lw;
}

let stopped = false;

function run(data: WatchWorkerData): void {
  const kc = new KubeConfig();
  try {
    if (data.kubeconfigText !== undefined) kc.loadFromString(data.kubeconfigText);
    else if (data.kubeconfigFile !== undefined) kc.loadFromFile(data.kubeconfigFile);
    else kc.loadFromCluster();
    if (kc.getCurrentCluster() === null) throw new Error('the kubeconfig names no current cluster');
  } catch (e) {
    const where = data.kubeconfigFile ?? (data.kubeconfigText !== undefined ? 'the kubeconfig given' : 'the in-cluster configuration');
    post({ t: 'fatal', message: `cannot load ${where}: ${e instanceof Error ? e.message : String(e)}` });
    process.exit(1);
  }
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  post({ t: 'configured' });
  const watches = [
    keepWatching('namespaces', kc, '/api/v1/namespaces', () => core.listNamespace() as unknown as Promise<KubernetesListObject<KubernetesObject>>),
    ...POLICY_CACHES.map((plural) => keepWatching(plural, kc, `/apis/${GROUP}/${VERSION}/${plural}`,
      () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural }) as Promise<KubernetesListObject<KubernetesObject>>)),
  ];
  if (data.pods === true) {
    // the reconciler's pods, lean (lean-pod.ts), and its API calls
    // listed in pages of 500, each made lean before the next is read: a list of 20,000 pods
    // never holds more than one page of whole pod objects
    watches.push(keepWatching(POD_CACHE, kc, '/api/v1/pods', async () => {
      const items: KubernetesObject[] = [];
      let token: string | undefined;
      let first: KubernetesListObject<KubernetesObject> | undefined;
      do {
        const page = await core.listPodForAllNamespaces({ limit: 500, _continue: token }) as unknown as KubernetesListObject<KubernetesObject>;
        first ??= page;
        for (const o of page.items) items.push(leanPod(o) as unknown as KubernetesObject);
        token = page.metadata?._continue || undefined;
      } while (token !== undefined);
      // the first page's resourceVersion is the list's (the API server serves the following
      // pages from the same snapshot)
      return { apiVersion: first.apiVersion, kind: first.kind, metadata: { resourceVersion: first.metadata?.resourceVersion }, items };
    }, new LeanPodWatch(kc)));
    // host policies, for their status only (they bind nodes, not pods)
    watches.push(keepWatching(HOST_POLICY_CACHE, kc, `/apis/${GROUP}/${VERSION}/${HOST_POLICY_CACHE}`,
      () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: HOST_POLICY_CACHE }) as Promise<KubernetesListObject<KubernetesObject>>));
  }
  const call = data.pods === true ? apiCaller(kc) : null;
  parentPort!.on('message', (m: WatchCommand) => {
    if (m.t === 'call') {
      if (call === null) post({ t: 'result', id: m.id, result: { ok: false, code: 0, message: 'this worker makes no API calls' } });
      else void call(m.call).then((result) => post({ t: 'result', id: m.id, result }));
      return;
    }
    if (m.t !== 'stop' || stopped) return;
    stopped = true;
    void Promise.allSettled(watches.map((w) => w.stop())).then(() => { flush(); process.exit(0); });
  });
}

if (parentPort !== null) run(workerData as WatchWorkerData);
