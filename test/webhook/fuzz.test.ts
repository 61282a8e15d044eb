// Fuzz: 100,000 generated and mutated bodies through the admission path in process
// (`answerReview`, the exact function the HTTPS routes call), plus a share over real HTTPS.
// Zero crashes; every answer a well-formed AdmissionReview echoing the uid, or a 4xx with a JSON
// error; a pod CREATE never passes /validate-pod unsigned; every allowed mutation of a pod
// CREATE carries a patch whose annotations verify; healthy at the end. Seeded: deterministic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import pino from 'pino';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { answerReview, type Answer, type Endpoint } from '../../webhook/app.ts';
import { CompileCache, type GatewayView } from '../../webhook/decide.ts';
import { WebhookMetrics } from '../../webhook/metrics.ts';
import { DEFAULT_POSTURE } from '../../policy/posture.ts';
import { validatePolicy } from '../../policy/validate.ts';
import { verifyAnnotations } from '../../policy/sign.ts';
import type { Policy } from '../../policy/types.ts';
import { AUDIT_CURL, BLOCK_SHADOW, CLUSTER_NO_RAW, GATEWAY_USER, podReview, policy, policyReview, realisticPod, startTestWebhook } from './fixtures.ts';

const IN_PROCESS_RUNS = 100_000;
const HTTPS_RUNS = 3_000;
const ENDPOINTS: Endpoint[] = ['validate-policy', 'mutate-pod', 'validate-pod'];
const KEY = Buffer.alloc(32, 9);

const policies = [BLOCK_SHADOW, AUDIT_CURL, CLUSTER_NO_RAW].map((p) => validatePolicy(p).policy as Policy);
const view: GatewayView = {
  policies: () => policies, policiesVersion: () => 1, namespace: () => null,
  signingKey: KEY, defaultPosture: { ...DEFAULT_POSTURE }, gatewayUser: GATEWAY_USER,
};
const deps = {
  view, tracer: new TracerProvider().getTracer('fuzz'), logger: pino({ level: 'silent' }), metrics: new WebhookMetrics(),
  notReady: () => null, cache: new CompileCache(),
};

// ---- generators --------------------------------------------------------------------------
const label = fc.constantFrom('app', 'tier', 'kubearmor.io/container.name', 'armorgate.io/profile', 'kubearmor-policy', 'x');
const labels = fc.dictionary(label, fc.oneof(fc.constantFrom('web', 'frontend', 'disabled', '[web]'), fc.string({ maxLength: 12 })), { maxKeys: 4 });
const basePod = fc.record({ ns: fc.constantFrom('shop', 'open', 'strict', ''), labels, annotations: labels }).map(({ ns, labels: l, annotations }) => realisticPod(ns, l, annotations));
const baseReview = fc.oneof(
  basePod.map((p) => podReview('CREATE', p)),
  fc.tuple(basePod, basePod, fc.constantFrom('alice', GATEWAY_USER)).map(([a, b, u]) => podReview('UPDATE', a, { oldObject: b, username: u })),
  fc.constantFrom(BLOCK_SHADOW, AUDIT_CURL, CLUSTER_NO_RAW, policy('bad', 'shop', { selector: {}, file: { matchPaths: [{ path: 'x' }] }, action: 'Nope' })).map((p) => policyReview(p)),
);
const jsonLeaf = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom(null, true, 0, -1, 1e308, '', [], {}));

type Json = unknown;
function paths(v: Json, prefix: (string | number)[] = [], out: (string | number)[][] = [], depth = 0): (string | number)[][] {
  out.push(prefix);
  if (depth > 6 || v === null || typeof v !== 'object') return out;
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out, depth + 1));
  else for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out, depth + 1);
  return out;
}
function setAt(root: Json, p: (string | number)[], value: Json | undefined): Json {
  if (p.length === 0) return value;
  let cur = root as Record<string | number, Json>;
  for (const k of p.slice(0, -1)) cur = cur[k] as Record<string | number, Json>;
  const last = p[p.length - 1]!;
  if (value === undefined) delete cur[last]; else cur[last] = value;
  return root;
}
/** `root` with the value at `p` set (or deleted when `value` is undefined), copying only the
 *  objects on the path: what setting it in a deep clone gives, without cloning the rest. */
function withAt(root: Json, p: readonly (string | number)[], value: Json | undefined, at = 0): Json {
  if (at === p.length) return value;
  const src = root as Record<string | number, Json>;
  const copy = (Array.isArray(root) ? [...root] : { ...src }) as Record<string | number, Json>;
  const k = p[at]!;
  if (at === p.length - 1) { if (value === undefined) delete copy[k]; else copy[k] = value; }
  else copy[k] = withAt(src[k], p, value, at + 1);
  return copy;
}

const HUGE_UNIT = Buffer.from('\u00e9\u{1F600}x');

/** One body: a mutation of a valid review, or something that was never one. */
const body = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(baseReview, fc.nat(), jsonLeaf, fc.boolean()).map(([r, i, leaf, del]) => {
    const ps = paths(r);
    const p = ps[i % ps.length]!;
    return Buffer.from(JSON.stringify(setAt(structuredClone(r), p, del && p.length > 0 ? undefined : leaf)) ?? 'null');
  }) },
  { weight: 3, arbitrary: fc.tuple(baseReview, fc.nat()).map(([r, i]) => { const s = JSON.stringify(r); return Buffer.from(s.slice(0, i % s.length)); }) },
  { weight: 2, arbitrary: baseReview.map((r) => Buffer.from(JSON.stringify(r))) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1, max: 5_000 }), fc.boolean()).map(([n, obj]) => Buffer.from(obj ? `${'{"a":'.repeat(n)}1${'}'.repeat(n)}` : `${'['.repeat(n)}${']'.repeat(n)}`)) },
  { weight: 1, arbitrary: fc.tuple(baseReview, fc.integer({ min: 1, max: 1_000 })).map(([r, n]) => {
    // deep nesting inside the object the decisions read (spliced in as text: no recursion here)
    const c = r as { request: { object: Record<string, unknown> | null } };
    const out = c.request.object ? withAt(c, ['request', 'object', 'spec'], '@DEEP@') : c;
    return Buffer.from(JSON.stringify(out).replace('"@DEEP@"', `${'{"k":'.repeat(n)}"v"${'}'.repeat(n)}`));
  }) },
  { weight: 1, arbitrary: fc.tuple(baseReview, fc.integer({ min: 1, max: 30_000 })).map(([r, n]) => {
    const c = r as { request: { object: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } } | null } };
    const meta = c.request.object?.metadata;
    if (!meta) return Buffer.from(JSON.stringify(c));
    // the huge value is spliced in as UTF-8 bytes (JSON.stringify leaves these characters as they are)
    const text = JSON.stringify(withAt(c, ['request', 'object', 'metadata', 'annotations'], { ...meta.annotations, 'example.com/huge': '@' }));
    const at = text.indexOf('"example.com/huge":"@"') + '"example.com/huge":"'.length;
    return Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.alloc(n * HUGE_UNIT.length, HUGE_UNIT), Buffer.from(text.slice(at + 1))]);
  }) },
);

// ---- the oracle --------------------------------------------------------------------------
function parseBody(b: Buffer): unknown {
  try { return JSON.parse(b.toString('utf8')); } catch { return undefined; }
}
function uidOf(b: Buffer | unknown): string | null {
  const v = (Buffer.isBuffer(b) ? parseBody(b) : b) as { request?: { uid?: unknown } } | null | undefined;
  return typeof v?.request?.uid === 'string' ? v.request.uid : null;
}

function check(endpoint: Endpoint, b: Buffer, a: Answer): void {
  // written as latin1 with its length as Content-Length: it must be ASCII
  assert.doesNotMatch(a.body, /[\u0080-\uffff]/, `${endpoint}: answer is not ASCII: ${a.body.slice(0, 200)}`);
  let parsed: unknown;
  try { parsed = JSON.parse(a.body); } catch { assert.fail(`${endpoint}: answer is not JSON: ${a.body.slice(0, 200)}`); }
  if (a.status >= 400 && a.status < 500) {
    assert.equal(typeof (parsed as { error?: unknown }).error, 'string', `${endpoint}: a 4xx names the problem`);
    return;
  }
  assert.equal(a.status, 200, `${endpoint}: 200 or 4xx, got ${a.status}: ${a.body.slice(0, 300)}`);
  const sent = parseBody(b);
  const r = parsed as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; status?: { message?: string }; patch?: string; patchType?: string; warnings?: string[] } };
  assert.equal(r.apiVersion, 'admission.k8s.io/v1');
  assert.equal(r.kind, 'AdmissionReview');
  assert.equal(r.response.uid, uidOf(sent), 'uid echoed');
  assert.equal(typeof r.response.allowed, 'boolean');
  if (!r.response.allowed) assert.equal(typeof r.response.status?.message, 'string');
  if (r.response.warnings) {
    assert.ok(Buffer.byteLength(r.response.warnings.join('')) <= 4096);
    for (const w of r.response.warnings) assert.ok(w.length < 120);
  }
  const req = (sent as { request: { operation: string; object?: { metadata?: { annotations?: Record<string, string> } } | null; namespace?: string } }).request;
  if (endpoint === 'validate-pod' && req.operation === 'CREATE') {
    assert.equal(r.response.allowed, false, 'no unsigned pod CREATE passes /validate-pod');
  }
  if (r.response.patch !== undefined) {
    assert.equal(endpoint, 'mutate-pod');
    assert.equal(r.response.patchType, 'JSONPatch');
    const ops = JSON.parse(Buffer.from(r.response.patch, 'base64').toString('utf8')) as jsonpatch.Operation[];
    assert.ok(Array.isArray(ops) && ops.length > 0);
    for (const op of ops) assert.ok(op.path.startsWith('/metadata'), op.path);
    if (b.length < 16 * 1024) {
      // the patch touches only /metadata: apply it to that part (spec may be nested thousands deep)
      const target = req.object?.metadata === undefined ? {} : { metadata: structuredClone(req.object.metadata) };
      const out = jsonpatch.applyPatch(target, ops, true, false).newDocument as { metadata: { annotations: Record<string, string>; namespace?: string } };
      const ns = req.namespace || (typeof out.metadata.namespace === 'string' ? out.metadata.namespace : '');
      const v = verifyAnnotations(out.metadata.annotations, ns, KEY);
      assert.ok(v.ok, `the patched pod verifies in ${ns}: ${v.ok ? '' : JSON.stringify(v.error)}`);
    }
  } else if (endpoint === 'mutate-pod' && r.response.allowed && req.operation === 'CREATE') {
    assert.fail('an allowed pod CREATE without a patch (no namespace here allows opting out)');
  }
}

test(`fuzz: ${IN_PROCESS_RUNS} bodies in process, ${HTTPS_RUNS} over HTTPS`, { timeout: 240_000 }, async () => {
  const started = Date.now();
  const details = fc.check(fc.property(fc.constantFrom(...ENDPOINTS), body, (endpoint, b) => {
    check(endpoint, b, answerReview(endpoint, b, {}, deps));
  }), { numRuns: IN_PROCESS_RUNS, seed: 20261128, endOnFailure: true });
  if (details.failed) {
    // counterexamples can be megabytes: report the endpoint, the body's start and the error
    const [endpoint, b] = details.counterexample ?? ['?', Buffer.alloc(0)];
    assert.fail(`run ${details.numRuns}: ${endpoint} ${b.length} bytes ${JSON.stringify(b.subarray(0, 300).toString('utf8'))}: ${details.errorInstance instanceof Error ? details.errorInstance.stack?.slice(0, 1500) : String(details.errorInstance)}`);
  }
  assert.equal(details.numRuns, IN_PROCESS_RUNS);
  const inProcessMs = Date.now() - started;

  const w = await startTestWebhook();
  try {
    const samples = fc.sample(fc.tuple(fc.constantFrom(...ENDPOINTS), body), { numRuns: HTTPS_RUNS, seed: 1128 });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < samples.length) {
        const [endpoint, b] = samples[next++]!;
        const r = await w.post(`/${endpoint}`, b);
        const answer: Answer = { status: r.status, body: JSON.stringify(r.json) };
        // the HTTPS webhook has its own key; check the shape, not the signature
        if (r.status === 200) {
          const review = r.json as { response: { uid: string; allowed: boolean } };
          assert.equal(review.response.uid, uidOf(b));
          assert.equal(typeof review.response.allowed, 'boolean');
        } else {
          assert.ok(r.status >= 400 && r.status < 500, `HTTPS ${endpoint}: ${r.status} ${answer.body.slice(0, 200)}`);
          assert.equal(typeof (r.json as { error?: unknown }).error, 'string');
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    assert.equal((await w.get('/healthz')).status, 200, 'healthy at the end');
    assert.equal((await w.get('/readyz')).status, 200, 'ready at the end');
  } finally { await w.close(); }
  process.stderr.write(`fuzz: ${IN_PROCESS_RUNS} in process in ${inProcessMs} ms, ${HTTPS_RUNS} over HTTPS in ${Date.now() - started - inProcessMs} ms\n`);
});
