// In a cluster: the pods of this node only, from the API server. A list then a watch, both with the
// field selector spec.nodeName=NODE (client-node's makeInformer cannot pass one to its list), restarted
// after any error with exponential backoff, and relisted when the server answers 410 Gone (the
// resource version is too old). Each list delivers the complete set, so pods deleted while the
// watch was down are removed too.
import { CoreV1Api, Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Pod } from '../../policy/types.ts';
import type { Log } from '../reconciler.ts';
import type { PodSink, PodSource } from './types.ts';

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export interface ApiSourceOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  log: Log;
  backoff?: Backoff;
  /** Page size of the list (default 500). */
  pageSize?: number;
  /** Server-side timeout of each watch request, seconds (default 300). */
  watchTimeoutSeconds?: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 30_000 };

/** Delay before retry number `attempt` (0-based): initial × 2^attempt, capped. */
export function backoffDelay(b: Backoff, attempt: number): number {
  return Math.min(b.maxMs, b.initialMs * 2 ** Math.min(attempt, 30));
}

class GoneError extends Error {}

function statusCodeOf(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const o = e as { code?: unknown; statusCode?: unknown; body?: unknown };
  if (typeof o.statusCode === 'number') return o.statusCode;
  if (typeof o.code === 'number') return o.code;
  return undefined;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class ApiPodSource implements PodSource {
  readonly #o: ApiSourceOptions;
  readonly #api: CoreV1Api;
  readonly #watch: Watch;
  readonly #selector: string;
  #stopped = false;
  #abort: AbortController | null = null;
  #wake: (() => void) | null = null;
  #loop: Promise<void> = Promise.resolve();
  /** Counters for tests and logs. */
  readonly stats = { lists: 0, watches: 0, relists410: 0, errors: 0 };

  constructor(o: ApiSourceOptions) {
    this.#o = o;
    this.#api = o.kubeConfig.makeApiClient(CoreV1Api);
    this.#watch = new Watch(o.kubeConfig);
    this.#selector = `spec.nodeName=${o.nodeName}`;
  }

  start(sink: PodSink): Promise<void> {
    return new Promise<void>((firstSync) => {
      this.#loop = this.#run(sink, firstSync);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort();
    this.#wake?.();
    await this.#loop;
  }

  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { this.#wake = null; resolve(); }, ms);
      this.#wake = () => { clearTimeout(t); this.#wake = null; resolve(); };
    });
  }

  async #run(sink: PodSink, firstSync: () => void): Promise<void> {
    const backoff = this.#o.backoff ?? DEFAULT_BACKOFF;
    let attempt = 0;
    let resourceVersion: string | null = null;
    while (!this.#stopped) {
      try {
        if (resourceVersion === null) {
          const listed = await this.#list();
          if (this.#stopped) break;
          sink.sync(listed.pods);
          resourceVersion = listed.resourceVersion;
          firstSync();
          attempt = 0;
        }
        const rv: string = resourceVersion;
        const progressed = await this.#watchOnce(rv, sink, (v) => { resourceVersion = v; });
        // a watch that ends normally (server timeout) is resumed from the last version; one that
        // brought nothing waits first, so a server that keeps closing at once is not hammered
        if (progressed) attempt = 0;
        else await this.#sleep(backoffDelay(backoff, attempt++));
      } catch (e) {
        if (this.#stopped) break;
        if (e instanceof GoneError) {
          this.stats.relists410++;
          this.#o.log.info({ resourceVersion }, 'watch expired (410 Gone): relisting');
          resourceVersion = null;
          continue;
        }
        this.stats.errors++;
        const delay = backoffDelay(backoff, attempt++);
        this.#o.log.warn({ error: message(e), status: statusCodeOf(e), retryInMs: delay }, 'pod list/watch failed; retrying');
        await this.#sleep(delay);
      }
    }
  }

  async #list(): Promise<{ pods: Pod[]; resourceVersion: string }> {
    this.stats.lists++;
    const pods: Pod[] = [];
    let cont: string | undefined;
    let rv = '';
    for (;;) {
      let page;
      try {
        page = await this.#api.listPodForAllNamespaces({
          fieldSelector: this.#selector, limit: this.#o.pageSize ?? 500, ...(cont === undefined ? {} : { _continue: cont }),
        });
      } catch (e) {
        if (statusCodeOf(e) === 410 && cont !== undefined) {
          // the continue token expired: start the list again from the beginning
          pods.length = 0;
          cont = undefined;
          continue;
        }
        throw e;
      }
      for (const item of page.items) pods.push(item as unknown as Pod);
      rv = page.metadata?.resourceVersion ?? rv;
      cont = page.metadata?._continue || undefined;
      if (cont === undefined || this.#stopped) break;
    }
    return { pods, resourceVersion: rv };
  }

  /** One watch request. Resolves when the server closes it; throws GoneError on 410, the error otherwise.
   *  Returns whether any event arrived. */
  async #watchOnce(rv: string, sink: PodSink, setRv: (rv: string) => void): Promise<boolean> {
    this.stats.watches++;
    let progressed = false;
    let gone = false;
    let failure: unknown = null;
    const ended = new Promise<unknown>((resolve) => {
      void this.#watch.watch('/api/v1/pods', {
        fieldSelector: this.#selector, resourceVersion: rv, allowWatchBookmarks: true,
        timeoutSeconds: this.#o.watchTimeoutSeconds ?? 300,
      }, (type: string, obj: unknown) => {
        try {
          const o = obj as Pod & { code?: number; message?: string };
          const version = o.metadata?.resourceVersion;
          switch (type) {
            case 'ADDED':
            case 'MODIFIED':
              sink.upsert(o);
              break;
            case 'DELETED':
              sink.remove(o);
              break;
            case 'BOOKMARK':
              break;
            case 'ERROR':
              if (o.code === 410) gone = true;
              else failure = new Error(`watch error ${String(o.code)}: ${String(o.message)}`);
              this.#abort?.abort();
              return;
            default:
              return;
          }
          progressed = true;
          if (typeof version === 'string' && version !== '') setRv(version);
        } catch (e) {
          // the sink never throws by contract; if it does, log and carry on with the next event
          this.#o.log.error({ error: message(e) }, 'handling a pod event failed');
        }
      }, (e: unknown) => resolve(e)).then((controller) => {
        this.#abort = controller;
        if (this.#stopped) controller.abort();
      }, (e: unknown) => resolve(e));
    });
    const doneErr = await ended;
    this.#abort = null;
    if (this.#stopped) return progressed;
    if (gone || statusCodeOf(doneErr) === 410) throw new GoneError('410 Gone');
    if (failure !== null) throw failure;
    // client-node aborts a watch that stayed silent for 30 s (a quiet node): resume it like a close
    if (doneErr instanceof Error && doneErr.name === 'TimeoutError') return progressed;
    if (doneErr !== null && doneErr !== undefined) throw doneErr;
    return progressed;
  }
}
