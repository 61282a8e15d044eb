// In a cluster: the pods of this node only, from the API server, through client-node's ListWatch
// (as the webhook's caches) with the field selector spec.nodeName=NODE on its list and its watch.
// ListWatch relists by itself on 410 Gone (a watch ERROR event or an HTTP 410) and reports the pods
// missing from the new list as deletions; a watch that ends quietly is resumed from the last
// resourceVersion. Any other failure (a list or watch refused, the API server away) stops it: it is
// started again here after the project's one jittered backoff (lib/backoff.ts), resuming from the
// last resourceVersion it saw, so no change is lost. Each completed list is also delivered whole
// (`sync`), so the reconciler drops whatever the list no longer holds.
import { CoreV1Api, ListWatch, Watch, type KubeConfig, type KubernetesListObject, type V1Pod } from '@kubernetes/client-node';
import { Backoff, DEFAULT_BACKOFF, jitterWithin, type BackoffPolicy } from '../../lib/backoff.ts';
import type { Pod } from '../../policy/types.ts';
import type { Log } from '../reconciler.ts';
import type { PodSink, PodSource } from './types.ts';

export interface ApiSourceOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  log: Log;
  backoff?: BackoffPolicy;
  /** Page size of the list (default 500). */
  pageSize?: number;
  /** Random numbers for the jitter (tests). */
  random?: () => number;
}

function statusCodeOf(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const o = e as { code?: unknown; statusCode?: unknown };
  if (typeof o.statusCode === 'number') return o.statusCode;
  if (typeof o.code === 'number') return o.code;
  return undefined;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Raised from the list function once the source is stopping: ListWatch then reports an error
 *  (ignored) instead of opening a watch nobody will stop. */
class Stopped extends Error {}

export class ApiPodSource implements PodSource {
  readonly #o: ApiSourceOptions;
  readonly #api: CoreV1Api;
  readonly #lw: ListWatch<V1Pod>;
  readonly #backoff: Backoff;
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopped = false;
  #sink: PodSink | null = null;
  #firstSync: (() => void) | null = null;
  /** Counters for tests and logs: completed lists, lists after the first (410 Gone, or a
   *  restart that could not resume), failures retried. */
  readonly stats = { lists: 0, relists: 0, errors: 0 };

  constructor(o: ApiSourceOptions) {
    this.#o = o;
    this.#api = o.kubeConfig.makeApiClient(CoreV1Api);
    this.#backoff = new Backoff(o.backoff ?? DEFAULT_BACKOFF, o.random);
    const floor = (o.backoff ?? DEFAULT_BACKOFF).initialMs;
    this.#lw = new ListWatch<V1Pod>('/api/v1/pods', new Watch(o.kubeConfig), () => this.#list(), false, undefined, `spec.nodeName=${o.nodeName}`, {
      // ListWatch's own delay before re-watching after a watch that ended with no event: jittered too
      delayFn: (ms: number) => this.#sleep(jitterWithin(ms, floor, o.random)),
    });
    this.#lw.on('add', (p) => this.#deliver(() => this.#sink?.upsert(p as Pod)));
    this.#lw.on('update', (p) => this.#deliver(() => this.#sink?.upsert(p as Pod)));
    this.#lw.on('delete', (p) => this.#deliver(() => this.#sink?.remove(p as Pod)));
    this.#lw.on('error', (e) => this.#failed(e));
  }

  start(sink: PodSink): Promise<void> {
    this.#sink = sink;
    return new Promise<void>((firstSync) => {
      this.#firstSync = firstSync;
      void this.#lw.start();
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await this.#lw.stop();
  }

  /** A timer that never fires once the source stops (its promise then never settles, and
   *  whatever waited on it is dropped with it). */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.#stopped) return;
      const t = setTimeout(() => { this.#timers.delete(t); if (!this.#stopped) resolve(); }, ms);
      this.#timers.add(t);
    });
  }

  #deliver(f: () => void): void {
    this.#backoff.reset();
    try { f(); } catch (e) {
      // the sink never throws by contract; if it does, log and carry on with the next event
      this.#o.log.error({ error: message(e) }, 'handling a pod event failed');
    }
  }

  /** ListWatch stopped on an error: start it again after the backoff (it resumes from the last
   *  resourceVersion it saw, or lists when it has none). */
  #failed(e: unknown): void {
    if (this.#stopped || e instanceof Stopped) return;
    this.stats.errors++;
    const delay = this.#backoff.next();
    this.#o.log.warn({ error: message(e), status: statusCodeOf(e), retryInMs: delay }, 'pod list/watch failed; retrying');
    void this.#sleep(delay).then(() => this.#lw.start());
  }

  /** The list ListWatch asks for, page by page; once ListWatch has taken it in (its add,
   *  update and delete events run in the microtasks after this resolves), it goes to the sink
   *  whole, and the first one resolves start(). */
  async #list(): Promise<KubernetesListObject<V1Pod>> {
    const items: V1Pod[] = [];
    let cont: string | undefined;
    let rv = '';
    for (;;) {
      if (this.#stopped) throw new Stopped('stopped');
      let page;
      try {
        page = await this.#api.listPodForAllNamespaces({
          fieldSelector: `spec.nodeName=${this.#o.nodeName}`, limit: this.#o.pageSize ?? 500, ...(cont === undefined ? {} : { _continue: cont }),
        });
      } catch (e) {
        if (statusCodeOf(e) === 410 && cont !== undefined) {
          // the continue token expired: start the list again from the beginning
          items.length = 0;
          cont = undefined;
          continue;
        }
        throw e;
      }
      items.push(...page.items);
      rv = page.metadata?.resourceVersion ?? rv;
      cont = page.metadata?._continue || undefined;
      if (cont === undefined) break;
    }
    if (this.#stopped) throw new Stopped('stopped');
    if (this.stats.lists++ > 0) this.stats.relists++;
    this.#backoff.reset();
    setImmediate(() => {
      if (this.#stopped) return;
      this.#deliver(() => this.#sink?.sync(this.#lw.list() as Pod[]));
      const first = this.#firstSync;
      this.#firstSync = null;
      first?.();
    });
    return { apiVersion: 'v1', kind: 'PodList', items, metadata: { resourceVersion: rv } };
  }
}
