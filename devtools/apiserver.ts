// A test API server speaking enough of the Kubernetes API server's JSON and watch stream
// for @kubernetes/client-node (ListWatch, typed clients) and plain fetch: lists, watches,
// single-object reads and writes, the status subresource, preconditions. Generic over
// resources. Used by the tests and by the rebind benchmark (bench/rebind.bench.ts); it is a
// development tool, never part of a deployment.
//
// API
//   const api = await TestApiServer.start({ https?: boolean })   // HTTP by default; HTTPS with a
//                                                                // self-signed cert (kubeConfig() trusts it)
//   api.url                                  // 'http://127.0.0.1:PORT'
//   api.kubeConfig(token?)                   // a KubeConfig whose current cluster is this server
//   api.resource(listPath, { kind, apiVersion, namespaced })
//        listPath is the cluster-wide collection path: '/api/v1/pods', '/api/v1/namespaces',
//        '/apis/security.kubearmor.com/v1/kubearmorpolicies'. Namespaced resources are also served
//        at '/api/v1/namespaces/NS/pods' (or '/apis/G/V/namespaces/NS/PLURAL'), filtered.
//   api.create(listPath, obj) / api.update(listPath, obj) / api.remove(listPath, namespace, name)
//        store the object (metadata.resourceVersion from one global counter; uid, generation and
//        creationTimestamp filled in; generation bumped when spec changes) and stream ADDED /
//        MODIFIED / DELETED to open watches. Each returns the stored object.
//   api.bookmark(listPath?)                  // BOOKMARK to watches that asked (allowWatchBookmarks)
//   api.expire(listPath?, mode?)             // compaction: every resourceVersion up to now becomes
//        too old. mode 'event' (default): open watches get an ERROR event carrying a Status of
//        code 410 and are closed; a later watch or list with an old resourceVersion gets the same
//        (watch: ERROR event; list: HTTP 410). mode 'http': watches are closed and a watch with an
//        old resourceVersion is answered HTTP 410 Gone with a Status body.
//   api.closeWatches(listPath?)              // end open watch streams (clients re-watch)
//   api.failNext(listPath, status, times=1)  // answer the next list/watch requests with this status
//   api.requests                             // log: { method, path, query, watch, verb, token, at } of
//                                            // every request (at: performance.now() when it came)
//   api.verbs(listPath?)                     // requests counted by Kubernetes verb (list, watch, get,
//                                            // create, update, patch; a status write counts as its verb)
//   api.failWrites(verb, listPath, status, times=1) // answer the next writes of that verb with status
//   api.setDown(true|false)                  // while down, every connection is reset (API server away)
//   api.deleteNow(listPath, ns, name)        // same as remove
//
// Single objects: GET/PUT/PATCH/DELETE at LIST/NAME (namespaced: .../namespaces/NS/PLURAL/NAME),
// POST to the collection (409 AlreadyExists). PUT and PATCH honour metadata.resourceVersion
// and metadata.uid as preconditions (409 Conflict when they differ). PATCH takes
// application/merge-patch+json (RFC 7386; strategic merge is treated the same) and
// application/json-patch+json (RFC 6902, via fast-json-patch; a failed `test` → 409). With
// `statusSubresource: true` in the resource info, writes to the object keep its status and
// writes to NAME/status change only its status.
//   api.openWatches(listPath?)               // number of open watch streams
//   await api.stop()
//
// Query parameters honoured: watch (1/true), resourceVersion, limit and continue (pages),
// fieldSelector (a=b, a==b, a!=b,
// comma-separated, on any dotted field, e.g. spec.nodeName=node-1 or metadata.name=x),
// labelSelector (k=v, k!=v, k, !k), allowWatchBookmarks, timeoutSeconds.
import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import jsonpatch from 'fast-json-patch';
import { makeSelfSigned } from '../webhook/selfsigned.ts';

export interface K8sObject { apiVersion?: string; kind?: string; metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; generation?: number; labels?: Record<string, string>; [k: string]: unknown }; [k: string]: unknown }
export interface ResourceInfo { kind: string; apiVersion: string; namespaced: boolean; statusSubresource?: boolean }
type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
interface Watcher { res: http.ServerResponse; listPath: string; namespace: string | null; filter: (o: K8sObject) => boolean; bookmarks: boolean; timer?: NodeJS.Timeout }
interface Resource { info: ResourceInfo; objects: Map<string, K8sObject>; log: { rv: number; type: EventType; object: K8sObject }[]; compactedRv: number }
export type Verb = 'list' | 'watch' | 'get' | 'create' | 'update' | 'patch' | 'delete' | 'other';
export interface RequestRecord { method: string; path: string; query: Record<string, string>; watch: boolean; verb: Verb; listPath: string | null; /** the bearer token, if any */ token: string; /** performance.now() when it came */ at: number }

const clone = <T>(v: T): T => structuredClone(v);
const keyOf = (o: K8sObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function dotted(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function fieldFilter(sel: string | undefined): (o: K8sObject) => boolean {
  if (!sel) return () => true;
  const terms = sel.split(',').filter(Boolean).map((t) => {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(t);
    if (!m) throw new Error(`bad fieldSelector term ${t}`);
    return { path: m[1]!, neg: m[2] === '!=', value: m[3]! };
  });
  return (o) => terms.every((t) => (String(dotted(o, t.path) ?? '') === t.value) !== t.neg);
}

function labelFilter(sel: string | undefined): (o: K8sObject) => boolean {
  if (!sel) return () => true;
  const terms = sel.split(',').filter(Boolean).map((t) => {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(t);
    if (m) return { key: m[1]!, op: m[2] === '!=' ? 'ne' : 'eq', value: m[3]! };
    return t.startsWith('!') ? { key: t.slice(1), op: 'absent', value: '' } : { key: t, op: 'present', value: '' };
  });
  return (o) => terms.every((t) => {
    const v = o.metadata.labels?.[t.key];
    if (t.op === 'eq') return v === t.value;
    if (t.op === 'ne') return v !== t.value;
    if (t.op === 'present') return v !== undefined;
    return v === undefined;
  });
}

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export class TestApiServer {
  readonly requests: RequestRecord[] = [];
  url = '';
  private rv = 1;
  private readonly resources = new Map<string, Resource>();
  private readonly watchers = new Set<Watcher>();
  private readonly failures = new Map<string, { status: number; times: number }>();
  private expireMode: 'event' | 'http' = 'event';
  private server!: http.Server | https.Server;
  private caPem = '';

  static async start(opts: { https?: boolean } = {}): Promise<TestApiServer> {
    const api = new TestApiServer();
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => api.handle(req, res);
    if (opts.https) {
      const pair = makeSelfSigned(['127.0.0.1', 'localhost']);
      api.caPem = pair.cert;
      api.server = https.createServer({ cert: pair.cert, key: pair.key }, handler);
    } else {
      api.server = http.createServer(handler);
    }
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
    api.url = `${opts.https ? 'https' : 'http'}://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    return api;
  }

  /** A KubeConfig whose current cluster is this server; `token` tells clients apart in `requests`. */
  kubeConfig(token = 'test-token'): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'test', server: this.url, skipTLSVerify: this.caPem === '', // client-node refuses http:// unless skipTLSVerify
         ...(this.caPem ? { caData: Buffer.from(this.caPem).toString('base64') } : {}) }],
      users: [{ name: 'test', token }],
      contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
      currentContext: 'test',
    });
    return kc;
  }

  resource(listPath: string, info: ResourceInfo): this {
    this.resources.set(listPath, { info, objects: new Map(), log: [], compactedRv: 0 });
    return this;
  }

  private res(listPath: string): Resource {
    const r = this.resources.get(listPath);
    if (!r) throw new Error(`resource ${listPath} is not registered`);
    return r;
  }

  create(listPath: string, obj: K8sObject): K8sObject {
    const r = this.res(listPath);
    const o = clone(obj);
    o.apiVersion ??= r.info.apiVersion;
    o.kind ??= r.info.kind;
    o.metadata.uid ??= crypto.randomUUID();
    o.metadata.generation ??= 1;
    o.metadata.creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    if (!r.info.namespaced) delete o.metadata.namespace;
    if (r.objects.has(keyOf(o))) throw new Error(`${listPath} ${keyOf(o)} already exists`);
    return this.store(r, listPath, o, 'ADDED');
  }

  update(listPath: string, obj: K8sObject): K8sObject {
    const r = this.res(listPath);
    const old = r.objects.get(keyOf(obj));
    if (!old) throw new Error(`${listPath} ${keyOf(obj)} does not exist`);
    const o = clone(obj);
    o.apiVersion ??= r.info.apiVersion;
    o.kind ??= r.info.kind;
    o.metadata.uid = old.metadata.uid;
    o.metadata.creationTimestamp = old.metadata.creationTimestamp;
    const specChanged = JSON.stringify(o.spec) !== JSON.stringify(old.spec);
    o.metadata.generation = (old.metadata.generation ?? 1) + (specChanged ? 1 : 0);
    return this.store(r, listPath, o, 'MODIFIED');
  }

  remove(listPath: string, namespace: string | undefined, name: string): K8sObject {
    const r = this.res(listPath);
    const k = `${r.info.namespaced ? namespace ?? '' : ''}/${name}`;
    const old = r.objects.get(k);
    if (!old) throw new Error(`${listPath} ${k} does not exist`);
    r.objects.delete(k);
    const o = clone(old);
    o.metadata.resourceVersion = String(++this.rv);
    r.log.push({ rv: this.rv, type: 'DELETED', object: o });
    this.broadcast(listPath, 'DELETED', o);
    return clone(o);
  }

  private store(r: Resource, listPath: string, o: K8sObject, type: EventType): K8sObject {
    o.metadata.resourceVersion = String(++this.rv);
    r.objects.set(keyOf(o), o);
    r.log.push({ rv: this.rv, type, object: clone(o) });
    this.broadcast(listPath, type, o);
    return clone(o);
  }

  private broadcast(listPath: string, type: string, o: K8sObject): void {
    for (const w of this.watchers) {
      if (w.listPath !== listPath) continue;
      if (w.namespace !== null && o.metadata.namespace !== w.namespace) continue;
      if (!w.filter(o)) continue;
      w.res.write(`${JSON.stringify({ type, object: o })}\n`);
    }
  }

  bookmark(listPath?: string): void {
    for (const w of this.watchers) {
      if (!w.bookmarks || (listPath !== undefined && w.listPath !== listPath)) continue;
      const info = this.res(w.listPath).info;
      w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: info.kind, apiVersion: info.apiVersion, metadata: { resourceVersion: String(this.rv) } } })}\n`);
    }
  }

  expire(listPath?: string, mode: 'event' | 'http' = 'event'): void {
    this.expireMode = mode;
    const horizon = ++this.rv; // every version handed out so far is now older than the horizon
    for (const [p, r] of this.resources) if (listPath === undefined || p === listPath) { r.compactedRv = horizon; r.log = []; }
    for (const w of [...this.watchers]) {
      if (listPath !== undefined && w.listPath !== listPath) continue;
      if (mode === 'event') w.res.write(`${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', 'too old resource version') })}\n`);
      this.endWatch(w);
    }
  }

  closeWatches(listPath?: string): void {
    for (const w of [...this.watchers]) if (listPath === undefined || w.listPath === listPath) this.endWatch(w);
  }

  failNext(listPath: string, statusCode: number, times = 1): void { this.failures.set(listPath, { status: statusCode, times }); }

  openWatches(listPath?: string): number {
    return [...this.watchers].filter((w) => listPath === undefined || w.listPath === listPath).length;
  }

  objects(listPath: string): K8sObject[] { return [...this.res(listPath).objects.values()].map(clone); }

  async stop(): Promise<void> {
    this.closeWatches();
    await new Promise<void>((resolve) => { this.server.close(() => resolve()); this.server.closeAllConnections(); });
  }

  private endWatch(w: Watcher): void {
    clearTimeout(w.timer);
    this.watchers.delete(w);
    w.res.end();
  }

  /** Maps a request path to a registered collection, an optional namespace, and for a
   *  single object its name and whether the status subresource is addressed. */
  private route(path: string): { listPath: string; namespace: string | null; name: string | null; status: boolean } | null {
    if (this.resources.has(path)) return { listPath: path, namespace: null, name: null, status: false };
    let m = /^(\/api\/v1|\/apis\/[^/]+\/[^/]+)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+)(\/status)?)?$/.exec(path);
    if (m) {
      const listPath = `${m[1]}/${m[3]}`;
      const r = this.resources.get(listPath);
      if (r?.info.namespaced) return { listPath, namespace: m[2]!, name: m[4] ?? null, status: m[5] !== undefined };
    }
    m = /^(\/api\/v1|\/apis\/[^/]+\/[^/]+)\/([^/]+)\/([^/]+)(\/status)?$/.exec(path);
    if (m) {
      const listPath = `${m[1]}/${m[2]}`;
      const r = this.resources.get(listPath);
      if (r !== undefined && !r.info.namespaced) return { listPath, namespace: null, name: m[3]!, status: m[4] !== undefined };
    }
    return null;
  }

  private readonly writeFailures = new Map<string, { status: number; times: number }>();
  private down = false;

  /** Requests counted by verb, for one collection or all. */
  verbs(listPath?: string): Record<Verb, number> {
    const out: Record<Verb, number> = { list: 0, watch: 0, get: 0, create: 0, update: 0, patch: 0, delete: 0, other: 0 };
    for (const r of this.requests) if (listPath === undefined || r.listPath === listPath) out[r.verb]++;
    return out;
  }

  /** The next `times` writes of `verb` to `listPath` are answered with `status`. */
  failWrites(verb: 'create' | 'update' | 'patch', listPath: string, statusCode: number, times = 1): void {
    this.writeFailures.set(`${verb} ${listPath}`, { status: statusCode, times });
  }

  /** While down, every request's connection is reset and open watches end. */
  setDown(down: boolean): void {
    this.down = down;
    if (down) { this.closeWatches(); this.server.closeAllConnections(); }
  }

  deleteNow(listPath: string, namespace: string | undefined, name: string): K8sObject { return this.remove(listPath, namespace, name); }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.down) { req.socket.destroy(); return; }
    const u = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(u.searchParams);
    const watch = query.watch === '1' || query.watch === 'true';
    const route = this.route(u.pathname);
    const method = req.method ?? '';
    const verb: Verb = method === 'GET' ? (route?.name ? 'get' : watch ? 'watch' : 'list')
      : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : method === 'DELETE' ? 'delete' : 'other';
    const auth = String(req.headers.authorization ?? '');
    this.requests.push({ method, path: u.pathname, query, watch, verb, listPath: route?.listPath ?? null, token: auth.startsWith('Bearer ') ? auth.slice(7) : '', at: performance.now() });
    const json = (code: number, body: unknown): void => {
      const s = JSON.stringify(body);
      res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
      res.end(s);
    };
    if (route === null || (method !== 'GET' && method !== 'POST' && method !== 'PUT' && method !== 'PATCH')) {
      json(404, status(404, 'NotFound', `the server could not find the requested resource (${method} ${u.pathname})`));
      return;
    }
    if (method !== 'GET' || route.name !== null) {
      const wf = this.writeFailures.get(`${verb} ${route.listPath}`);
      if (wf !== undefined && wf.times > 0) {
        wf.times--;
        // drain the body first, so the client sees the answer rather than a reset
        req.resume();
        req.once('end', () => json(wf.status, status(wf.status, wf.status === 409 ? 'Conflict' : 'InternalError', 'injected failure')));
        return;
      }
      this.single(req, route, verb, json);
      return;
    }
    const fail = this.failures.get(route.listPath);
    if (fail !== undefined && fail.times > 0) {
      fail.times--;
      json(fail.status, status(fail.status, 'InternalError', 'injected failure'));
      return;
    }
    const r = this.res(route.listPath);
    let filter: (o: K8sObject) => boolean;
    try {
      const f = fieldFilter(query.fieldSelector), l = labelFilter(query.labelSelector);
      filter = (o) => f(o) && l(o) && (route.namespace === null || o.metadata.namespace === route.namespace);
    } catch (e) { json(400, status(400, 'BadRequest', e instanceof Error ? e.message : String(e))); return; }
    const rvParam = query.resourceVersion;
    const rvNum = rvParam === undefined || rvParam === '' ? null : Number(rvParam);
    const tooOld = rvNum !== null && rvNum !== 0 && rvNum < r.compactedRv;

    if (!watch) {
      if (tooOld) { json(410, status(410, 'Expired', `too old resource version: ${rvParam} (${r.compactedRv})`)); return; }
      const all = [...r.objects.values()].filter(filter);
      const limit = Number(query.limit);
      if (!(Number.isInteger(limit) && limit > 0) && query.continue === undefined) {
        json(200, { kind: `${r.info.kind}List`, apiVersion: r.info.apiVersion, metadata: { resourceVersion: String(this.rv) }, items: all });
        return;
      }
      // pages, in key order: `continue` carries the last key served and the first page's
      // resourceVersion (objects changed meanwhile are served as they are now; the watch from
      // that version replays their changes)
      let after = '', listRv = String(this.rv);
      if (query.continue) {
        const t = Buffer.from(query.continue, 'base64url').toString();
        const cut = t.indexOf('\n');
        if (cut < 0) { json(400, status(400, 'BadRequest', 'invalid continue token')); return; }
        listRv = t.slice(0, cut); after = t.slice(cut + 1);
      }
      const sorted = all.sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0)).filter((o) => after === '' || keyOf(o) > after);
      const size = Number.isInteger(limit) && limit > 0 ? limit : sorted.length;
      const items = sorted.slice(0, size);
      const more = sorted.length > size;
      json(200, { kind: `${r.info.kind}List`, apiVersion: r.info.apiVersion, metadata: { resourceVersion: listRv, ...(more ? { continue: Buffer.from(`${listRv}\n${keyOf(items[items.length - 1]!)}`).toString('base64url') } : {}) }, items });
      return;
    }
    if (tooOld && this.expireMode === 'http') { json(410, status(410, 'Expired', `too old resource version: ${rvParam} (${r.compactedRv})`)); return; }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (tooOld) {
      res.end(`${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${rvParam} (${r.compactedRv})`) })}\n`);
      return;
    }
    const w: Watcher = { res, listPath: route.listPath, namespace: route.namespace, filter, bookmarks: query.allowWatchBookmarks === 'true' };
    this.watchers.add(w);
    req.on('close', () => { clearTimeout(w.timer); this.watchers.delete(w); });
    if (rvNum === null || rvNum === 0) {
      for (const o of r.objects.values()) if (filter(o)) res.write(`${JSON.stringify({ type: 'ADDED', object: o })}\n`);
    } else {
      for (const e of r.log) if (e.rv > rvNum && filter(e.object)) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
    }
    const timeout = Number(query.timeoutSeconds);
    if (Number.isFinite(timeout) && timeout > 0) w.timer = setTimeout(() => this.endWatch(w), timeout * 1000);
  }

  /** GET one object; POST to a collection; PUT or PATCH one object or its status. */
  private single(req: http.IncomingMessage, route: { listPath: string; namespace: string | null; name: string | null; status: boolean }, verb: Verb, json: (code: number, body: unknown) => void): void {
    const r = this.res(route.listPath);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => {
      const key = `${r.info.namespaced ? route.namespace ?? '' : ''}/${route.name ?? ''}`;
      const what = `${r.info.kind} ${route.namespace ? `${route.namespace}/` : ''}${route.name ?? ''}`;
      const current = route.name === null ? undefined : r.objects.get(key);
      if (verb === 'get') {
        if (current === undefined) json(404, status(404, 'NotFound', `${what} not found`));
        else json(200, current);
        return;
      }
      let body: unknown;
      try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch (e) {
        json(400, status(400, 'BadRequest', `body is not JSON: ${e instanceof Error ? e.message : String(e)}`));
        return;
      }
      if (verb === 'create') {
        const o = body as K8sObject;
        if (o === null || typeof o !== 'object' || typeof o.metadata?.name !== 'string') { json(400, status(400, 'BadRequest', 'metadata.name is required')); return; }
        if (r.info.namespaced) o.metadata.namespace = route.namespace ?? o.metadata.namespace;
        if (r.objects.has(keyOf(o))) { json(409, status(409, 'AlreadyExists', `${r.info.kind} ${keyOf(o)} already exists`)); return; }
        delete o.metadata.resourceVersion;
        json(201, this.create(route.listPath, o));
        return;
      }
      if (current === undefined) { json(404, status(404, 'NotFound', `${what} not found`)); return; }
      let next: K8sObject;
      if (verb === 'update') {
        next = body as K8sObject;
        if (next === null || typeof next !== 'object' || next.metadata === undefined) { json(400, status(400, 'BadRequest', 'the object has no metadata')); return; }
      } else {
        const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim();
        if (type === 'application/json-patch+json') {
          if (!Array.isArray(body)) { json(400, status(400, 'BadRequest', 'a JSON patch is an array of operations')); return; }
          try {
            next = jsonpatch.applyPatch(clone(current), body as jsonpatch.Operation[], true, false).newDocument;
          } catch (e) {
            const failedTest = e instanceof jsonpatch.JsonPatchError && e.name === 'TEST_OPERATION_FAILED';
            json(failedTest ? 409 : 422, status(failedTest ? 409 : 422, failedTest ? 'Conflict' : 'Invalid', `the patch does not apply: ${e instanceof Error ? e.message : String(e)}`));
            return;
          }
        } else if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') {
          next = mergePatch(clone(current), body) as K8sObject;
        } else {
          json(415, status(415, 'UnsupportedMediaType', `the patch content type ${type || '(none)'} is not supported`));
          return;
        }
      }
      const rv = next.metadata?.resourceVersion;
      if (rv !== undefined && rv !== '' && rv !== current.metadata.resourceVersion) {
        json(409, status(409, 'Conflict', `Operation cannot be fulfilled on ${what}: the object has been modified; please apply your changes to the latest version and try again`));
        return;
      }
      const uid = next.metadata?.uid;
      if (uid !== undefined && uid !== current.metadata.uid) {
        json(409, status(409, 'Conflict', `Precondition failed: UID in precondition: ${String(uid)}, UID in object meta: ${String(current.metadata.uid)}`));
        return;
      }
      // what a write may change: with the status subresource, the object's writes keep its
      // status and the status's writes change only the status
      let stored: K8sObject;
      if (route.status) {
        if (!r.info.statusSubresource) { json(404, status(404, 'NotFound', `${r.info.kind} has no status subresource`)); return; }
        stored = { ...clone(current), status: next.status };
      } else {
        stored = { ...next, metadata: { ...next.metadata, name: current.metadata.name, namespace: current.metadata.namespace } };
        if (r.info.statusSubresource) stored.status = clone(current.status);
        if (stored.status === undefined) delete stored.status;
      }
      if (JSON.stringify(stored) === JSON.stringify({ ...current })) { json(200, current); return; } // no change, no event
      json(200, this.update(route.listPath, stored));
    });
  }
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
