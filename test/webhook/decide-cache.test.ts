// decideMutate's cache (bounded LRU: compile result by policy-set version + namespace + what
// selection reads, with at most two prepared answers, for pods without armorgate.io/*
// annotations of their own; a pod with some is answered uncached): a cached answer
// is exactly the answer a fresh cache gives, per-request fields (uid, traceparent) are per
// request, and a changed policy set, namespace posture, labels or forged annotations is seen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import jsonpatch from 'fast-json-patch';
import { CompileCache, decideMutate, VersionedCache, type Decision, type GatewayView } from '../../webhook/decide.ts';
import type { AdmissionRequest } from '../../webhook/review.ts';
import { DEFAULT_POSTURE } from '../../policy/posture.ts';
import { validatePolicy } from '../../policy/validate.ts';
import { verifyAnnotations } from '../../policy/sign.ts';
import type { Namespace, Pod, Policy } from '../../policy/types.ts';
import { AUDIT_CURL, BLOCK_SHADOW, CLUSTER_NO_RAW, GATEWAY_USER, namespace, podReview, realisticPod } from './fixtures.ts';

const KEY = Buffer.alloc(32, 5);
const TP1 = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const TP2 = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const valid = (p: Record<string, unknown>): Policy => validatePolicy(p).policy as Policy;

/** A mutable view: tests swap policies and namespaces and bump the version as a store does. */
function mutableView(policies: Policy[], namespaces: Record<string, Namespace>): GatewayView & { set(p: Policy[]): void; compiles: number; nsMap: Record<string, Namespace> } {
  let version = 1;
  let list = policies;
  const v = {
    compiles: 0,
    nsMap: namespaces,
    policies: () => { v.compiles++; return list; }, // read only when a compile runs (a cache miss)
    policiesVersion: () => version,
    namespace: (n: string) => v.nsMap[n] ?? null,
    signingKey: KEY, defaultPosture: { ...DEFAULT_POSTURE }, gatewayUser: GATEWAY_USER,
    set: (p: Policy[]) => { list = p; version++; },
  };
  return v;
}

const reqOf = (pod: Pod): AdmissionRequest => podReview('CREATE', pod).request as AdmissionRequest;

function annotationsAfter(pod: Pod, d: Decision): Record<string, string> {
  assert.equal(d.response.allowed, true, d.response.status?.message);
  const ops = JSON.parse(Buffer.from(d.response.patch ?? '', 'base64').toString('utf8') || '[]') as jsonpatch.Operation[];
  const out = jsonpatch.applyPatch(structuredClone(pod), ops, true, false).newDocument;
  return out.metadata?.annotations ?? {};
}

/** The same request through a shared (warm) cache and through a fresh one: equal answers. */
function same(view: GatewayView, cache: CompileCache, pod: Pod, traceparent = TP1): Decision {
  const request = reqOf(pod);
  const warm = decideMutate({ request, view, cache, traceparent });
  const cold = decideMutate({ request, view, cache: new CompileCache(), traceparent });
  assert.deepEqual(warm, cold, 'a cached answer is the answer a fresh cache gives');
  return warm;
}

test('cache: hits give the uncached answer, with this request\'s uid and traceparent', () => {
  const view = mutableView([BLOCK_SHADOW, AUDIT_CURL, CLUSTER_NO_RAW].map(valid), { shop: namespace('shop', { 'kubearmor-file-posture': 'block' }) as Namespace });
  const cache = new CompileCache();
  const pod = realisticPod();
  const r1 = reqOf(pod), r2 = reqOf(pod);
  assert.notEqual(r1.uid, r2.uid);
  const a = decideMutate({ request: r1, view, cache, traceparent: TP1 });
  const compiles = view.compiles;
  const b = decideMutate({ request: r2, view, cache, traceparent: TP2 });
  assert.equal(view.compiles, compiles, 'the second request is a cache hit');
  assert.equal(a.response.uid, r1.uid);
  assert.equal(b.response.uid, r2.uid);
  const annA = annotationsAfter(pod, a), annB = annotationsAfter(pod, b);
  assert.equal(annA['armorgate.io/traceparent'], TP1);
  assert.equal(annB['armorgate.io/traceparent'], TP2);
  assert.deepEqual({ ...annA, 'armorgate.io/traceparent': '' }, { ...annB, 'armorgate.io/traceparent': '' }, 'all else equal');
  assert.ok(verifyAnnotations(annB, 'shop', KEY).ok);
  assert.equal(b.facts.decision, 'patched');
  assert.equal(b.facts.digest, annB['armorgate.io/profile-digest']);
  // and a hit gives exactly what a fresh cache gives
  same(view, cache, pod, TP2);
});

test('cache: a changed policy set is seen at once (version bump empties the caches)', () => {
  const view = mutableView([BLOCK_SHADOW].map(valid), { shop: namespace('shop') as Namespace });
  const cache = new CompileCache();
  const pod = realisticPod();
  const before = annotationsAfter(pod, same(view, cache, pod));
  assert.equal(before['armorgate.io/policies'], 'shop/block-shadow@0');
  view.set([BLOCK_SHADOW, AUDIT_CURL].map(valid));
  const after = annotationsAfter(pod, same(view, cache, pod));
  assert.equal(after['armorgate.io/policies'], 'shop/audit-curl@0,shop/block-shadow@0');
  assert.notEqual(after['armorgate.io/profile-digest'], before['armorgate.io/profile-digest']);
  // a changed spec under the same name (the store bumps the version, generation may not move)
  view.set([valid({ ...BLOCK_SHADOW, spec: { ...(BLOCK_SHADOW.spec as object), action: 'Audit' } }), valid(AUDIT_CURL)]);
  const changed = annotationsAfter(pod, same(view, cache, pod));
  assert.notEqual(changed['armorgate.io/profile-digest'], after['armorgate.io/profile-digest']);
  view.set([]);
  assert.equal(annotationsAfter(pod, same(view, cache, pod))['armorgate.io/policies'], '');
});

test('cache: a namespace whose posture or opt-out changes is a different key, even at the same version', () => {
  const view = mutableView([BLOCK_SHADOW].map(valid), { shop: namespace('shop', { 'kubearmor-file-posture': 'block' }) as Namespace });
  const cache = new CompileCache();
  const pod = realisticPod();
  assert.match(annotationsAfter(pod, same(view, cache, pod))['armorgate.io/posture']!, /^file=block,/);
  // a store replaces the object on change; the version is deliberately left alone here
  view.nsMap = { shop: namespace('shop', { 'kubearmor-file-posture': 'audit' }) as Namespace };
  assert.match(annotationsAfter(pod, same(view, cache, pod))['armorgate.io/posture']!, /^file=audit,/);
  view.nsMap = {};
  assert.match(annotationsAfter(pod, same(view, cache, pod))['armorgate.io/posture']!, /^file=audit,/, 'unknown namespace: the default posture');
  // opt-out: allowed by the namespace → no annotations; then not allowed → annotated again
  const optOut = realisticPod('shop', { app: 'web' }, { 'kubearmor-policy': 'disabled' });
  view.nsMap = { shop: namespace('shop', { 'armorgate.io/allow-opt-out': 'true' }) as Namespace };
  const honoured = same(view, cache, optOut);
  assert.equal(honoured.facts.optedOut, true);
  assert.deepEqual(Object.keys(annotationsAfter(optOut, honoured)).filter((k) => k.startsWith('armorgate.io/')), []);
  view.nsMap = { shop: namespace('shop') as Namespace };
  const refused = same(view, cache, optOut);
  assert.equal(refused.facts.optedOut, false);
  assert.ok(verifyAnnotations(annotationsAfter(optOut, refused), 'shop', KEY).ok);
  assert.ok(refused.response.warnings?.some((w) => /opt/i.test(w)));
});

test('cache: labels, containers, namespace and forged annotations each give their own answer', () => {
  const view = mutableView([BLOCK_SHADOW, AUDIT_CURL, CLUSTER_NO_RAW].map(valid), { shop: namespace('shop') as Namespace, open: namespace('open') as Namespace });
  const cache = new CompileCache();
  const bound = (pod: Pod): string => annotationsAfter(pod, same(view, cache, pod))['armorgate.io/policies']!;
  assert.equal(bound(realisticPod('shop', { app: 'web', tier: 'frontend' })), 'no-raw-sockets@0,shop/audit-curl@0,shop/block-shadow@0');
  assert.equal(bound(realisticPod('shop', { app: 'web' })), 'no-raw-sockets@0,shop/block-shadow@0');
  assert.equal(bound(realisticPod('shop', { app: 'db' })), 'no-raw-sockets@0');
  assert.equal(bound(realisticPod('open', { app: 'web' })), 'no-raw-sockets@0');
  const renamed = realisticPod('shop', { app: 'web' });
  (renamed.spec!.containers as { name: string }[])[0]!.name = 'other';
  same(view, cache, renamed);
  // forged armorgate.io/* annotations: each shape gets the ops that fix it
  const shapes: Record<string, string>[] = [
    {}, { 'armorgate.io/profile': 'forged' }, { 'armorgate.io/profile': 'other' },
    { 'armorgate.io/extra': 'x', 'armorgate.io/policies': '' }, { 'armorgate.io/traceparent': 'x' },
  ];
  for (const forged of shapes) {
    const pod = realisticPod('shop', { app: 'web' }, forged);
    const ann = annotationsAfter(pod, same(view, cache, pod));
    assert.equal(ann['armorgate.io/extra'], undefined);
    assert.equal(ann['armorgate.io/traceparent'], TP1);
    assert.ok(verifyAnnotations(ann, 'shop', KEY).ok, JSON.stringify(forged));
  }
  // no metadata.annotations at all, and no metadata at all (namespace from the request)
  const bare = realisticPod('shop', { app: 'web' });
  delete bare.metadata!.annotations;
  assert.ok(verifyAnnotations(annotationsAfter(bare, same(view, cache, bare)), 'shop', KEY).ok);
  const noMeta = { ...realisticPod('shop'), metadata: undefined } as Pod;
  const request = { ...reqOf(realisticPod('shop')), object: noMeta } as AdmissionRequest;
  const d = decideMutate({ request, view, cache, traceparent: TP2 });
  assert.deepEqual(d, decideMutate({ request, view, cache: new CompileCache(), traceparent: TP2 }));
  assert.equal(annotationsAfter(noMeta, d)['armorgate.io/traceparent'], TP2);
});

test('cache: a bounded cache evicts and still answers right', () => {
  const view = mutableView([BLOCK_SHADOW, AUDIT_CURL].map(valid), { shop: namespace('shop') as Namespace });
  const cache = new CompileCache(2);
  for (let round = 0; round < 3; round++) {
    const labelSets: Record<string, string>[] = [{ app: 'web' }, { tier: 'frontend' }, { app: 'web', tier: 'frontend' }, { app: 'x' }];
    for (const labels of labelSets) same(view, cache, realisticPod('shop', labels));
  }
});

test('cache: bounded, least recently used out first, emptied on a new version', () => {
  const c = new VersionedCache<number>(3);
  let made = 0;
  const get = (key: string, version = 1): number => c.get(version, key, () => ++made);
  get('a'); get('b'); get('c');
  assert.equal(made, 3);
  get('a'); // a is now the most recent: b is the oldest
  get('d'); // evicts b
  assert.equal(c.size, 3);
  const before = made;
  get('a'); get('c'); get('d');
  assert.equal(made, before, 'a, c, d kept');
  get('b');
  assert.equal(made, before + 1, 'b was evicted');
  get('a', 2);
  assert.equal(c.size, 1, 'a new version empties the cache');
  assert.equal(made, before + 2);
});
