// The HTTP face of the webhook: an express 5 app (ETag off, no body parser: bodies are read
// by hand with an 8 MiB cap, within the body budget and a read deadline) with the three admission endpoints, /healthz and /readyz, behind
// a request listener that hands the API server's exact admission paths straight to their
// handlers, and writes the answers decided in one event-loop pass together after it
// (coalesce.ts). `answerReview` is the whole admission path minus HTTP framing; the app and the
// in-process fuzz test both call it. Every answer is ASCII JSON (see asciiJson).
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Request, type Response } from 'express';
import { SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { contextFromTraceparent, formatTraceparent } from '../telemetry/index.ts';
import { CompileCache, decideMutate, decidePolicy, decideValidatePod, WrongKind, type Decision, type GatewayView } from './decide.ts';
import { deny, MAX_BODY_BYTES, parseReview, reviewOut, type AdmissionResponse } from './review.ts';
import type { WebhookMetrics } from './metrics.ts';
import { ANSWER_MAX_WAIT_MS, coalesceWrites } from './coalesce.ts';
import { BodyBudget, reservationOf, type BodyShare } from './body-budget.ts';

export type Endpoint = 'validate-policy' | 'mutate-pod' | 'validate-pod';
export const ENDPOINTS: readonly Endpoint[] = ['validate-policy', 'mutate-pod', 'validate-pod'];

export interface AppDeps {
  view: GatewayView;
  tracer: Tracer;
  logger: Logger;
  metrics: WebhookMetrics;
  /** Readiness: caches synced and a certificate loaded. Null when ready, else the reason. */
  notReady(): string | null;
  cache?: CompileCache;
  /** Bounds the admission bodies held at once (default: DEFAULT_BODY_BUDGET_BYTES). */
  bodyBudget?: BodyBudget;
  /** Longest time a review's body may take to arrive, from when its reading starts (default
   *  DEFAULT_BODY_READ_TIMEOUT_MS); past it the review is answered 408 and its connection closed. */
  bodyReadTimeoutMs?: number;
}

/** A review's body that has not arrived 5 s after its reading started is refused (408): the API
 *  server gives up on the pod webhooks after 5 s anyway (webhook-configurations.yaml). */
export const DEFAULT_BODY_READ_TIMEOUT_MS = 5_000;

/** An HTTP answer; `body` is ASCII JSON (its length is its byte length). */
export interface Answer { status: number; body: string }

const NON_ASCII = /[\u0080-\uffff]/g;
const escapeNonAscii = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** JSON text in ASCII only: each non-ASCII UTF-16 unit (they occur only inside strings) as a
 *  `\uXXXX` escape, so the text parses to the same value. An ASCII answer is written as latin1
 *  with its length as Content-Length: node then copies it to the socket in one pass instead of
 *  measuring and encoding it as UTF-8 twice (for a mutation's ~6 KB answer that was ~20 µs a
 *  request, a sixth of the webhook's CPU). */
export function asciiJson(value: unknown): string {
  const text = JSON.stringify(value);
  NON_ASCII.lastIndex = 0;
  return NON_ASCII.test(text) ? text.replace(NON_ASCII, escapeNonAscii) : text;
}

function jsonError(status: number, message: string): Answer {
  return { status, body: asciiJson({ error: message }) };
}

/** One admission request, from body bytes to HTTP status and JSON body. Never throws: a
 *  decision that fails is a denial, a request that cannot be read is a 4xx. */
export function answerReview(endpoint: Endpoint, body: Uint8Array, headers: { traceparent?: string | string[] | undefined; tracestate?: string | string[] | undefined }, deps: AppDeps & { cache: CompileCache }): Answer {
  const started = performance.now();
  const parent = contextFromTraceparent(headers.traceparent, headers.tracestate);
  const span = deps.tracer.startSpan(`admission ${endpoint}`, { kind: SpanKind.SERVER, attributes: { 'armorgate.endpoint': endpoint } }, parent);
  let outcome = 'error';
  try {
    const parsed = parseReview(body);
    if (!parsed.ok) {
      outcome = 'bad_request';
      span.setAttribute('armorgate.decision', 'bad_request');
      span.setStatus({ code: SpanStatusCode.ERROR, message: parsed.error.message });
      return jsonError(parsed.error.httpStatus, parsed.error.message);
    }
    const r = parsed.request;
    // attributes only for a span that records them (with no exporter, spans carry only their ids)
    const recording = span.isRecording();
    if (recording) span.setAttributes({
      'k8s.admission.uid': r.uid,
      'k8s.admission.kind': `${r.kind.group === '' ? '' : `${r.kind.group}/`}${r.kind.version}/${r.kind.kind}`,
      'k8s.admission.operation': r.operation,
      'k8s.namespace.name': r.namespace ?? '',
      'k8s.object.name': r.name ?? '',
      'k8s.admission.dry_run': r.dryRun === true,
    });
    let decision: Decision;
    try {
      if (endpoint === 'validate-policy') decision = decidePolicy(r);
      else if (endpoint === 'mutate-pod') decision = decideMutate({ request: r, view: deps.view, cache: deps.cache, traceparent: formatTraceparent(span.spanContext()) });
      else decision = decideValidatePod(r, deps.view, deps.cache);
    } catch (e) {
      if (e instanceof WrongKind) {
        outcome = 'bad_request';
        span.setAttribute('armorgate.decision', 'bad_request');
        span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
        return jsonError(400, e.message);
      }
      // never allowed by accident: an internal failure denies, with the uid echoed
      deps.logger.error({ err: e, endpoint, uid: r.uid }, 'admission decision failed');
      span.recordException(e instanceof Error ? e : String(e));
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'internal error' });
      decision = { response: deny(r.uid, `internal error while deciding: ${e instanceof Error ? e.message : String(e)}`, 500, 'InternalError'), facts: { decision: 'denied' } };
    }
    const f = decision.facts;
    outcome = f.decision;
    if (recording) {
      span.setAttribute('armorgate.decision', f.decision);
      if (f.bound !== undefined) span.setAttribute('armorgate.policies', f.bound);
      if (f.digest !== undefined) span.setAttribute('armorgate.profile_digest', f.digest);
      if (f.optedOut === true) span.setAttribute('armorgate.opted_out', true);
      if (f.recentState === true) span.setAttribute('armorgate.recent_state', true);
      if (!decision.response.allowed && decision.response.status?.message) span.setAttribute('armorgate.reason', decision.response.status.message.slice(0, 1024));
    }
    return { status: 200, body: reviewJson(parsed.apiVersion, parsed.kind, decision.response) };
  } catch (e) {
    // parse and decisions are guarded above; this is the last line, for a failure in framing
    deps.logger.error({ err: e, endpoint }, 'admission request failed');
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'internal error' });
    return jsonError(500, 'internal error');
  } finally {
    span.end();
    deps.metrics.requests.inc({ endpoint, decision: outcome });
    deps.metrics.duration.observe({ endpoint }, (performance.now() - started) / 1000);
  }
}

/** The response review as ASCII JSON. A patch (base64: ASCII, nothing to escape) is spliced
 *  in as text rather than scanned by JSON.stringify: it is most of the bytes of a mutation's
 *  answer. */
export function reviewJson(apiVersion: string, kind: string, response: AdmissionResponse): string {
  if (response.patch === undefined) return asciiJson(reviewOut(apiVersion, kind, response));
  const { patch, ...rest } = response;
  const head = asciiJson(reviewOut(apiVersion, kind, rest));
  return `${head.slice(0, -2)},"patch":"${patch}"}}`;
}

export type BodyResult = { ok: true; body: Buffer } | { ok: false; status: number; message: string };

export interface ReadBodyOptions {
  /** Refuse (408) a body not complete this long after reading started (ms). */
  deadlineMs?: number;
  /** Its share of the body budget: counts the bytes as they arrive, and pauses the reading
   *  when it says so (its `resume` must resume `req`). */
  share?: BodyShare;
}

/** Reads a request body up to `limit` bytes and calls `done` once. Larger bodies are refused
 *  without buffering them; a body not complete by the deadline is refused with 408. (A
 *  callback, not a promise: this is on every request's path.) */
export function readBody(req: IncomingMessage, limit: number, done: (r: BodyResult) => void, o: ReadBodyOptions = {}): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    done({ ok: false, status: 413, message: `body of ${declared} bytes is larger than the limit of ${limit} bytes` });
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  const finish = (r: BodyResult): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    req.off('data', onData);
    done(r);
  };
  const share = o.share;
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > limit) {
      chunks.length = 0;
      finish({ ok: false, status: 413, message: `body is larger than the limit of ${limit} bytes` });
      return;
    }
    chunks.push(chunk);
    if (share !== undefined && !share.add(chunk.length)) req.pause();
  };
  if (o.deadlineMs !== undefined && o.deadlineMs > 0) {
    const ms = o.deadlineMs;
    timer = setTimeout(() => finish({ ok: false, status: 408, message: `body not received within ${ms} ms (${size} of ${declared ?? 'an unknown number of'} bytes arrived); the connection is closed` }), ms);
    timer.unref();
  }
  req.on('data', onData);
  req.once('end', () => finish({ ok: true, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) }));
  req.once('error', (e) => finish({ ok: false, status: 400, message: `body could not be read: ${e.message}` }));
  req.once('close', () => finish({ ok: false, status: 400, message: 'request aborted before its body was complete' }));
}

function send(res: ServerResponse, a: Answer, close = false): void {
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': a.body.length };
  if (close) headers.connection = 'close';
  res.writeHead(a.status, headers);
  res.end(a.body, 'latin1');
}

/** What node:https calls for each request: the API server's exact admission paths (POST,
 *  any query string, as `?timeout=10s`) go straight to their handlers (which only start
 *  reading the body: the review is answered from its 'end'); everything else, other
 *  spellings of those paths included, to the express app. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export function createApp(deps: AppDeps): RequestListener {
  const full = { ...deps, cache: deps.cache ?? new CompileCache() };
  const app = express();
  app.set('etag', false);
  app.set('x-powered-by', false);
  app.set('query parser', false);

  // Admission answers are written at the end of the event loop's pass that decided them,
  // together (see coalesce.ts); a client gone by then gets nothing (it was counted). An answer
  // that cannot be written ends its connection: the API server sees the failure at once
  // instead of waiting out its timeout.
  const answer = coalesceWrites((res: ServerResponse, a: Answer) => { if (!res.destroyed) send(res, a); }, {
    maxWaitMs: ANSWER_MAX_WAIT_MS,
    onError: (e, res) => {
      full.logger.error({ err: e }, 'an admission answer could not be written; its connection is closed');
      res.destroy();
    },
  });
  const budget = deps.bodyBudget ?? new BodyBudget();
  const deadlineMs = deps.bodyReadTimeoutMs ?? DEFAULT_BODY_READ_TIMEOUT_MS;
  const admit = (endpoint: Endpoint) => (req: IncomingMessage, res: ServerResponse): void => {
    // a body is read within the budget of bodies held at once (body-budget.ts): a large one once
    // its size fits, a small one at once, counted as it arrives; each within the read deadline
    let started = false;
    const share = budget.open(reservationOf(req, MAX_BODY_BYTES), (mine) => {
      started = true;
      readBody(req, MAX_BODY_BYTES, (got) => {
        try {
          if (!got.ok) {
            full.metrics.requests.inc({ endpoint, decision: got.status === 408 ? 'timeout' : 'bad_request' });
            if (got.status === 408) full.logger.debug({ endpoint, err: got.message }, 'admission body too slow');
            if (res.destroyed) return; // the client went away
            // the rest of the body is not read: close the connection after answering
            send(res, jsonError(got.status, got.message), true);
            if (got.status === 413 || got.status === 408) res.once('finish', () => req.socket.destroySoon());
            return;
          }
          answer(res, answerReview(endpoint, got.body, { traceparent: req.headers.traceparent, tracestate: req.headers.tracestate }, full));
        } finally {
          mine.release();
        }
      }, { deadlineMs, share: mine });
    }, () => req.resume());
    if (!started) res.once('close', () => share.release()); // gone while waiting: nothing is held
  };
  // The API server posts to the exact paths (with `?timeout=…`): the listener below finds
  // them with one map lookup before express sets up its request and walks its route layers
  // (~3-4 µs a request); these routes still take what express would also match (case, a
  // trailing slash).
  const exact = new Map(ENDPOINTS.map((e) => [`/${e}`, admit(e)]));
  for (const endpoint of ENDPOINTS) {
    app.post(`/${endpoint}`, exact.get(`/${endpoint}`)!);
    app.all(`/${endpoint}`, (_req: Request, res: Response) => {
      res.setHeader('allow', 'POST');
      send(res, jsonError(405, `/${endpoint} accepts only POST with an AdmissionReview body`));
    });
  }
  app.get('/healthz', (_req: Request, res: Response) => { send(res, { status: 200, body: '{"status":"ok"}' }); });
  app.get('/readyz', (_req: Request, res: Response) => {
    const why = full.notReady();
    send(res, why === null ? { status: 200, body: '{"status":"ready"}' } : { status: 503, body: asciiJson({ status: 'not ready', reason: why }) });
  });
  app.use((req: Request, res: Response) => { send(res, jsonError(404, `no route for ${req.method} ${req.path}`)); });
  // express 5's last error handler: answer JSON, never the default HTML page
  app.use((e: unknown, _req: Request, res: Response, _next: unknown) => {
    void _next;
    full.logger.error({ err: e }, 'unhandled error in request');
    if (!res.headersSent) send(res, jsonError(500, 'internal error'));
    else res.destroy();
  });
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method === 'POST' && req.url !== undefined) {
      const q = req.url.indexOf('?');
      const handler = exact.get(q < 0 ? req.url : req.url.slice(0, q));
      if (handler !== undefined) { handler(req, res); return; }
    }
    app(req, res);
  };
  return listener;
}
