// The admission guard (/validate-pod): on CREATE a pod's armorgate.io/* annotations must be exactly
// what the gateway writes for it (so a signed profile copied from another pod of the namespace is
// refused even when the mutating call was skipped, naming what differs); during a key rotation a
// signature by the other held key passes; on UPDATE, through the pod, pods/status or
// pods/ephemeralcontainers, only the gateway changes them. A pod mutated a moment before a
// policy or namespace change (or by a replica whose caches differed) passes when a state of the
// last seconds compiles it to exactly its annotations; a profile copied from another pod does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jsonpatch from 'fast-json-patch';
import { CompileCache, decideMutate, decideValidatePod, type Decision, type GatewayView } from '../../webhook/decide.ts';
import { RecentStates } from '../../webhook/recent-states.ts';
import type { AdmissionRequest } from '../../webhook/review.ts';
import { DEFAULT_POSTURE } from '../../policy/posture.ts';
import { validatePolicy } from '../../policy/validate.ts';
import { keyId, signProfile, verifyAnnotations } from '../../policy/sign.ts';
import type { Namespace, Pod, Policy } from '../../policy/types.ts';
import { AUDIT_CURL, BLOCK_SHADOW, GATEWAY_USER, namespace, podReview, policy, realisticPod, startTestWebhook } from './fixtures.ts';

const OLD = Buffer.alloc(32, 5);
const NEW = Buffer.alloc(32, 9);
const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const policies = [BLOCK_SHADOW, AUDIT_CURL].map((p) => validatePolicy(p).policy as Policy);
const namespaces: Record<string, Namespace> = { shop: namespace('shop') as Namespace };

function view(signingKey: Uint8Array, previousSigningKey: Uint8Array | null = null): GatewayView {
  return {
    policies: () => policies, policiesVersion: () => 1, namespace: (n) => namespaces[n] ?? null,
    signingKey, previousSigningKey, defaultPosture: { ...DEFAULT_POSTURE }, gatewayUser: GATEWAY_USER,
  };
}
const req = (op: 'CREATE' | 'UPDATE', pod: Pod, extra: Record<string, unknown> = {}): AdmissionRequest =>
  ({ ...(podReview(op, pod).request as object), ...extra }) as unknown as AdmissionRequest;

/** The pod as the mutating call leaves it. */
function mutated(v: GatewayView, pod: Pod): Pod {
  const d = decideMutate({ request: req('CREATE', pod), view: v, cache: new CompileCache(), traceparent: TP });
  assert.equal(d.response.allowed, true, d.response.status?.message);
  const ops = JSON.parse(Buffer.from(d.response.patch ?? '', 'base64').toString('utf8')) as jsonpatch.Operation[];
  return jsonpatch.applyPatch(structuredClone(pod), ops, true, false).newDocument;
}
const validate = (v: GatewayView, pod: Pod, cache = new CompileCache()): Decision => decideValidatePod(req('CREATE', pod), v, cache);
const ann = (p: Pod): Record<string, string> => p.metadata!.annotations!;

test('CREATE: the annotations the gateway wrote pass (the compile cache the mutation filled answers)', () => {
  const v = view(NEW);
  const cache = new CompileCache();
  const pod = realisticPod('shop', { app: 'web', tier: 'frontend' });
  const d = decideMutate({ request: req('CREATE', pod), view: v, cache, traceparent: TP });
  const ops = JSON.parse(Buffer.from(d.response.patch!, 'base64').toString('utf8')) as jsonpatch.Operation[];
  const out = jsonpatch.applyPatch(structuredClone(pod), ops, true, false).newDocument;
  const size = cache.results.size;
  const ok = validate(v, out, cache);
  assert.equal(ok.response.allowed, true, ok.response.status?.message);
  assert.equal(cache.results.size, size, 'validation compiled nothing new: a cache hit');
  assert.deepEqual(ok.facts.bound, ['shop/audit-curl@0', 'shop/block-shadow@0']);
});

test('CREATE: a signed profile copied from another pod of the namespace verifies, but is refused, naming what differs', () => {
  const v = view(NEW);
  const web = mutated(v, realisticPod('shop', { app: 'web', tier: 'frontend' }));
  // a pod that no policy binds, created with the web pod's annotations (its mutating call skipped)
  const copy = realisticPod('shop', { app: 'batch' }, ann(web));
  assert.ok(verifyAnnotations(ann(copy), 'shop', NEW).ok, 'control: the copied annotations verify under the key (the old check let them through)');
  const d = validate(v, copy);
  assert.equal(d.response.allowed, false);
  const msg = d.response.status?.message ?? '';
  for (const k of ['armorgate.io/policies (differs)', 'armorgate.io/profile (differs)', 'armorgate.io/profile-digest (differs)', 'armorgate.io/profile-signature (differs)']) assert.ok(msg.includes(k), `${k} in: ${msg}`);
  assert.match(msg, /namespace shop \(the gateway writes these for this pod \(policies: none\)\)/);
  assert.ok(!msg.includes('armorgate.io/posture'), 'what is equal is not named');
});

test('CREATE: missing, extra and malformed annotations are each named', () => {
  const v = view(NEW);
  const web = mutated(v, realisticPod('shop', { app: 'web' }));
  const skipped = validate(v, realisticPod('shop', { app: 'web' }));
  assert.equal(skipped.response.allowed, false, 'a pod whose mutation was skipped');
  assert.match(skipped.response.status?.message ?? '', /armorgate\.io\/profile \(missing\)/);
  const extra = structuredClone(web);
  ann(extra)['armorgate.io/extra'] = 'x';
  ann(extra)['armorgate.io/traceparent'] = 'not-a-traceparent';
  const d = validate(v, extra);
  assert.equal(d.response.allowed, false);
  assert.match(d.response.status?.message ?? '', /armorgate\.io\/extra \(not written by the gateway\), armorgate\.io\/traceparent \(not a W3C traceparent\)/);
});

test('rotation: a signature by the previous key passes where the gateway holds it, and only when all else is equal', () => {
  const pod = realisticPod('shop', { app: 'web' });
  const byOld = mutated(view(OLD), pod);    // a replica still signing with the old key
  const byNew = mutated(view(NEW, OLD), pod);
  assert.ok(ann(byOld)['armorgate.io/profile-signature']!.startsWith(`hmac-sha256:${keyId(OLD)}:`));
  assert.ok(ann(byNew)['armorgate.io/profile-signature']!.startsWith(`hmac-sha256:${keyId(NEW)}:`));
  // phase 2 of the rotation (sign with NEW, accept OLD): both replicas' pods pass on either replica
  for (const [what, v] of [['new replica', view(NEW, OLD)], ['old replica', view(OLD, NEW)]] as const) {
    assert.equal(validate(v, byOld).response.allowed, true, `${what}: old-key pod`);
    assert.equal(validate(v, byNew).response.allowed, true, `${what}: new-key pod`);
  }
  // once the old key is dropped, its signatures are refused
  const dropped = validate(view(NEW), byOld);
  assert.equal(dropped.response.allowed, false);
  assert.match(dropped.response.status?.message ?? '', /armorgate\.io\/profile-signature \(differs\)/);
  // a signature by the previous key over another pod's profile is still refused
  const other = mutated(view(OLD), realisticPod('shop', { app: 'batch' }));
  const mixed = realisticPod('shop', { app: 'web' }, { ...ann(byOld), 'armorgate.io/profile-signature': signProfile(OLD, 'shop', ann(other)['armorgate.io/profile-digest']!) });
  assert.equal(validate(view(NEW, OLD), mixed).response.allowed, false);
});

test('UPDATE: pods/status and pods/ephemeralcontainers changing armorgate.io/* are refused to anyone but the gateway', () => {
  const v = view(NEW);
  const running = { ...mutated(v, realisticPod('shop', { app: 'web' })), metadata: { ...mutated(v, realisticPod('shop', { app: 'web' })).metadata, name: 'web-1', uid: 'c0ffee00-0000-4000-8000-000000000001' } } as Pod;
  const swapped = structuredClone(running);
  ann(swapped)['armorgate.io/profile'] = 'another';
  for (const subResource of ['status', 'ephemeralcontainers', '']) {
    const extra = { subResource, requestSubResource: subResource, oldObject: running, userInfo: { username: 'system:node:node-1' } };
    const d = decideValidatePod(req('UPDATE', swapped, extra), v);
    assert.equal(d.response.allowed, false, `${subResource || 'pod'} by a node`);
    assert.match(d.response.status?.message ?? '', /system:node:node-1 changed: armorgate\.io\/profile \(changed\)/);
    const g = decideValidatePod(req('UPDATE', swapped, { ...extra, userInfo: { username: GATEWAY_USER } }), v);
    assert.equal(g.response.allowed, true, `${subResource || 'pod'} by the gateway`);
    const other = structuredClone(running);
    other.status = { phase: 'Running' };
    assert.equal(decideValidatePod(req('UPDATE', other, extra), v).response.allowed, true, `${subResource || 'pod'}: other changes pass`);
  }
});

test('the webhook daemon: --previous-signing-key-file absent is no key; present, /validate-pod accepts a pod signed by it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ag-guard-'));
  try {
    fs.writeFileSync(path.join(dir, 'new.key'), `${NEW.toString('hex')}\n`);
    fs.writeFileSync(path.join(dir, 'old.key'), `${OLD.toString('hex')}\n`);
    const OLD_FILE_KEY = Buffer.from(OLD.toString('hex')); // the daemons read the file's bytes
    const pod = realisticPod('shop', { app: 'web' });
    for (const [previous, accepted] of [[path.join(dir, 'absent.key'), false], [path.join(dir, 'old.key'), true]] as const) {
      const w = await startTestWebhook({ signingKeyFile: path.join(dir, 'new.key'), previousSigningKeyFile: previous });
      try {
        const got = await w.post('/mutate-pod', podReview('CREATE', pod));
        const patched = jsonpatch.applyPatch(structuredClone(pod), JSON.parse(Buffer.from((got.json as { response: { patch: string } }).response.patch, 'base64').toString('utf8')) as jsonpatch.Operation[], true, false).newDocument;
        const byOld = structuredClone(patched);
        ann(byOld)['armorgate.io/profile-signature'] = signProfile(OLD_FILE_KEY, 'shop', ann(patched)['armorgate.io/profile-digest']!);
        const r = await w.post('/validate-pod', podReview('CREATE', byOld));
        assert.equal((r.json as { response: { allowed: boolean } }).response.allowed, accepted, `previous key file ${path.basename(previous)}`);
      } finally { await w.close(); }
    }
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

// ---- a policy or namespace change between the mutating and the validating call

const NO_RAW = validatePolicy(policy('no-raw', 'shop', { selector: { matchLabels: { app: 'web' } }, network: { matchProtocols: [{ protocol: 'raw' }] }, action: 'Block' })).policy as Policy;

/** A replica's view: its policy set (and version), its namespaces, and what it replaced lately. */
function replica(set: readonly Policy[], version: number, ns: Record<string, Namespace>, recent?: RecentStates): GatewayView {
  return { policies: () => set, policiesVersion: () => version, namespace: (n) => ns[n] ?? null, recent, signingKey: NEW, previousSigningKey: null, defaultPosture: { ...DEFAULT_POSTURE }, gatewayUser: GATEWAY_USER };
}

test('race: a pod mutated just before a policy change passes validation after it (the previous set compiles it), within the grace period only', () => {
  let now = 0;
  const recent = new RecentStates(30_000, 4, () => now);
  const before = replica(policies, 1, namespaces);
  const pod = mutated(before, realisticPod('shop', { app: 'web', tier: 'frontend' }));
  // the policy set changes between the two calls: the pod would now get another profile
  const after = [...policies, NO_RAW];
  assert.equal(validate(replica(after, 2, namespaces), pod).response.allowed, false, 'control: the exact check alone refuses it');
  recent.replacedPolicies(1, policies);
  const d = validate(replica(after, 2, namespaces, recent), pod);
  assert.equal(d.response.allowed, true, d.response.status?.message);
  assert.equal(d.facts.recentState, true);
  assert.deepEqual(d.facts.bound, ['shop/audit-curl@0', 'shop/block-shadow@0'], 'what the previous set bound');
  // a profile copied from another pod is still refused: no recent state compiles this pod to it
  const copy = realisticPod('shop', { app: 'batch' }, ann(pod));
  const refused = validate(replica(after, 2, namespaces, recent), copy);
  assert.equal(refused.response.allowed, false);
  assert.match(refused.response.status?.message ?? '', /armorgate\.io\/profile \(differs\)/);
  // past the grace period the previous set is forgotten
  now += 30_001;
  assert.equal(validate(replica(after, 2, namespaces, recent), pod).response.allowed, false);
});

test('race: replicas whose caches differ: the one ahead accepts the pod the one behind mutated; the one behind refuses (the controller retries)', () => {
  const recent = new RecentStates();
  recent.replacedPolicies(1, policies);
  const behind = replica(policies, 1, namespaces);
  const ahead = replica([...policies, NO_RAW], 2, namespaces, recent);
  const pod = realisticPod('shop', { app: 'web' });
  assert.equal(validate(ahead, mutated(behind, pod)).response.allowed, true, 'mutated behind, validated ahead');
  // mutated ahead, validated behind: a policy the validating replica has not seen yet is in the
  // profile; it cannot tell that profile from a forged one, and refuses
  const d = validate(replica(policies, 1, namespaces, new RecentStates()), mutated(ahead, pod));
  assert.equal(d.response.allowed, false);
  assert.match(d.response.status?.message ?? '', /armorgate\.io\/policies \(differs\)/);
});

test('race: a namespace change (posture, opt-out) between the two calls; unsigned or forged annotations cost no compile', () => {
  const recent = new RecentStates();
  const audit = namespace('shop') as Namespace;
  const block = namespace('shop', { 'kubearmor-file-posture': 'block' }) as Namespace;
  const pod = mutated(replica(policies, 1, { shop: audit }), realisticPod('shop', { app: 'web' }));
  assert.equal(validate(replica(policies, 1, { shop: block }, recent), pod).response.allowed, false, 'control: nothing remembered');
  recent.replacedNamespace('shop', audit);
  assert.equal(validate(replica(policies, 1, { shop: block }, recent), pod).response.allowed, true, 'the namespace object of a moment ago compiles it');
  // an opt-out honoured a moment ago (the namespace allowed it then): the pod carries nothing
  const open = namespace('shop', { 'armorgate.io/allow-opt-out': 'true' }) as Namespace;
  const quiet = realisticPod('shop', { app: 'web' }, { 'kubearmor-policy': 'disabled' });
  assert.equal(decideMutate({ request: req('CREATE', quiet), view: replica(policies, 1, { shop: open }), cache: new CompileCache(), traceparent: TP }).response.patch, undefined, 'honoured: nothing written');
  assert.equal(validate(replica(policies, 1, { shop: audit }, recent), quiet).response.allowed, false, 'not while the namespace allowed it is not remembered');
  recent.replacedNamespace('shop', open);
  assert.equal(validate(replica(policies, 1, { shop: audit }, recent), quiet).response.allowed, true);
  // a pod whose mutation was skipped, or whose signature is not the gateway's: refused without a compile
  const fresh = new RecentStates();
  fresh.replacedPolicies(0, []);
  fresh.replacedNamespace('shop', block);
  const forged = structuredClone(pod);
  ann(forged)['armorgate.io/profile-signature'] = `hmac-sha256:${keyId(NEW)}:${'0'.repeat(64)}`;
  for (const p of [realisticPod('shop', { app: 'web' }), forged]) assert.equal(validate(replica(policies, 1, { shop: audit }, fresh), p).response.allowed, false);
  assert.equal(fresh.cache.results.size + fresh.policySets()[0]!.cache.results.size, 0, 'no recent state compiled');
});
