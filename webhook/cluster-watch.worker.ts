// The webhook's list/watch caches, run in a worker thread: @kubernetes/client-node's
// ListWatch of namespaces and of the pod-binding policy kinds, each change forwarded to the
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
import { POLICY_CACHES, type CacheName, type WatchCommand, type WatchEvent, type WatchMessage, type WatchWorkerData } from './cluster-watch-protocol.ts';

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
function keepWatching(cache: CacheName, kc: KubeConfig, pathName: string, list: () => Promise<KubernetesListObject<KubernetesObject>>): ListWatch<KubernetesObject> {
  const backoff = new Backoff();
  const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> => {
    const l = await list();
    backoff.reset();
    listed.push(cache);
    scheduleFlush();
    return l;
  };
  // ListWatch's own delay before re-watching after a watch that ended with no event: jittered too
  const lw = new ListWatch<KubernetesObject>(pathName, new Watch(kc), listFn, false, undefined, undefined, {
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
  parentPort!.on('message', (m: WatchCommand) => {
    if (m.t !== 'stop' || stopped) return;
    stopped = true;
    void Promise.allSettled(watches.map((w) => w.stop())).then(() => { flush(); process.exit(0); });
  });
}

if (parentPort !== null) run(workerData as WatchWorkerData);
