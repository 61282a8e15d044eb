// The reconciler (webhook/reconciler.ts) over an in-memory store: what it patches, what it
// leaves alone and says so (opt-out, a profile too large for the pod), how it counts a pod
// gone while patched, and that a replica that stops leading stops patching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { trace } from '@opentelemetry/api';
import { startReconciler, type ReconcilerOptions } from '../../webhook/reconciler.ts';
import { leanPod, type LeanPod } from '../../webhook/lean-pod.ts';
import { WebhookMetrics } from '../../webhook/metrics.ts';
import type { GatewayView } from '../../webhook/decide.ts';
import type { ApiCall, ApiResult, CacheName, WatchedObject } from '../../webhook/cluster-watch-protocol.ts';
import { validatePolicy, type ValidationResult } from '../../policy/validate.ts';
import { DEFAULT_POSTURE } from '../../policy/posture.ts';
import type { Namespace, Policy } from '../../policy/types.ts';
import { waitFor } from '../support/wait.ts';
import { policy } from './fixtures.ts';

const KEY = new Uint8Array(32).fill(7);
const PLURALS: Record<string, CacheName> = { KubeArmorPolicy: 'kubearmorpolicies', KubeArmorClusterPolicy: 'kubearmorclusterpolicies', KubeArmorHostPolicy: 'kubearmorhostpolicies' };

function world(policies: Record<string, unknown>[], namespaces: Namespace[], extra: Partial<ReconcilerOptions> = {}) {
  const pods = new Map<string, LeanPod>();
  let podLists = 0;
  const calls: ApiCall[] = [];
  let answer: (c: ApiCall) => ApiResult = () => ({ ok: true, code: 200 });
  const objs = policies.map((p) => ({ ...p, metadata: { ...(p.metadata as object), generation: 1 } }) as WatchedObject);
  // what admission compiles: the pod-binding kinds (host policies bind nodes, not pods)
  const valid = objs.filter((o) => o.kind !== 'KubeArmorHostPolicy').map((o) => validatePolicy(o).policy).filter((p): p is Policy => p !== null);
  const validations = new WeakMap<object, ValidationResult>();
  const view: GatewayView = {
    policies: () => valid, policiesVersion: () => 1,
    namespace: (n) => namespaces.find((x) => x.metadata?.name === n) ?? null,
    signingKey: KEY, defaultPosture: DEFAULT_POSTURE, gatewayUser: 'gw',
  };
  const store = {
    pods: () => { podLists++; return pods.values(); },
    pod: (ns: string, name: string) => pods.get(`${ns}/${name}`),
    podsSynced: () => true,
    policyObjects: (): [CacheName, WatchedObject][] => objs.map((o) => [PLURALS[String(o.kind)]!, o]),
    // as the cluster store does: once per object
    policyValidation: (o: WatchedObject): ValidationResult => { let v = validations.get(o); if (v === undefined) { v = validatePolicy(o); validations.set(o, v); } return v; },
    call: async (c: ApiCall): Promise<ApiResult> => { calls.push(c); return answer(c); },
  };
  const metrics = new WebhookMetrics();
  let leader = true;
  const r = startReconciler({ store, view, isLeader: () => leader, logger: pino({ level: 'silent' }), metrics, tracer: trace.getTracer('t'), rate: 1000, burst: 100, resyncMs: 0, excludeNamespaces: ['kube-system'], ...extra });
  const add = (ns: string, name: string, labels: Record<string, string>, annotations: Record<string, string> = {}, phase = 'Running'): void => {
    const p = leanPod({ metadata: { name, namespace: ns, uid: name, resourceVersion: '1', labels, annotations }, spec: { containers: [{ name: 'app' }] }, status: { phase } });
    pods.set(`${ns}/${name}`, p);
  };
  return { pods, calls, view, r, metrics, add, objs, podLists: () => podLists, setAnswer: (f: typeof answer) => { answer = f; }, setLeader: (v: boolean) => { leader = v; } };
}

const ns = (name: string, annotations: Record<string, string> = {}): Namespace => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, annotations } }) as Namespace;
const podPatches = (calls: ApiCall[]): Extract<ApiCall, { op: 'patchPod' }>[] => calls.filter((c): c is Extract<ApiCall, { op: 'patchPod' }> => c.op === 'patchPod');

test('reconciler: patches what differs, removes annotations from an opted-out pod, leaves excluded namespaces and a too-large pod alone (the status says so)', async () => {
  const w = world([policy('p', 'app', { selector: { matchLabels: { app: 'web' } }, file: { matchPaths: [{ path: '/etc/shadow' }] }, action: 'Block' })],
    [ns('app'), ns('open', { 'armorgate.io/allow-opt-out': 'true' }), ns('kube-system'), { ...ns('off'), metadata: { name: 'off', labels: { 'armorgate.io/admission': 'disabled' } } } as Namespace]);
  w.add('app', 'web', { app: 'web' });
  // admission never sees these namespaces' pods: left as they are
  w.add('kube-system', 'dns', { app: 'web' });
  w.add('off', 'legacy', { app: 'web' }, { 'armorgate.io/profile': 'whatever' });
  w.add('open', 'quiet', { app: 'web' }, { 'kubearmor-policy': 'disabled', 'armorgate.io/profile': 'stale', 'armorgate.io/traceparent': 'x' });
  w.add('app', 'huge', { app: 'web' }, { big: 'x'.repeat(256 * 1024) });
  w.r.leading(true);
  await waitFor(() => podPatches(w.calls).length === 2 && w.calls.some((c) => c.op === 'patchPolicyStatus'), 'two patches and a status');
  const byName = new Map(podPatches(w.calls).map((c) => [c.name, c.body as { metadata: { resourceVersion: string; annotations: Record<string, string | null> } }]));
  assert.equal(byName.get('web')!.metadata.resourceVersion, '1', 'the precondition');
  assert.match(String(byName.get('web')!.metadata.annotations['armorgate.io/policies']), /^app\/p@1$/);
  assert.deepEqual(byName.get('quiet')!.metadata.annotations, { 'armorgate.io/profile': null, 'armorgate.io/traceparent': null }, 'opt-out: every armorgate.io/* key removed');
  assert.equal(byName.has('dns') || byName.has('legacy'), false, 'excluded namespaces are left alone');
  assert.equal(byName.has('huge'), false, 'a pod whose annotations would pass 256 KiB is not patched');
  assert.equal(w.metrics.reconcilePods.get({ result: 'too_large' }), 1);
  const status = (w.calls.find((c) => c.op === 'patchPolicyStatus') as { body: { status: Record<string, unknown> } }).body.status;
  assert.equal(status.boundPods, 1);
  assert.equal(status.failedPods, 1);
  assert.match(String(status.message), /binds 1 running pod; 1 pod selected by it could not be annotated/);
  w.r.stop();
});

test('reconciler: a pod gone while patched is counted as gone, not an error; a replica that stops leading patches nothing more', async () => {
  const w = world([], [ns('app')]);
  for (let i = 0; i < 5; i++) w.add('app', `p${i}`, { app: 'web' });
  w.setAnswer(() => ({ ok: false, code: 404 }));
  w.r.leading(true);
  await waitFor(() => podPatches(w.calls).length === 5, 'five patches');
  assert.equal(w.metrics.reconcilePods.get({ result: 'gone' }), 5);
  assert.equal(w.metrics.reconcilePods.get({ result: 'error' }), 0);
  assert.ok(w.r.idle(), 'no retry of a pod that is gone');
  // the lease is lost: the next pod change is not patched
  w.setLeader(false);
  w.r.leading(false);
  w.add('app', 'late', { app: 'web' });
  w.r.changed('pods', 'put', w.pods.get('app/late') as unknown as WatchedObject);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(podPatches(w.calls).length, 5);
  w.r.stop();
});

test('reconciler: a conflict is retried after the delays of lib/backoff.ts (the retry policy given), on the newer copy', async () => {
  // a retry policy of a minute: after a 409, no second patch comes within a second
  const slow = world([], [ns('app')], { retry: { initialMs: 60_000, maxMs: 60_000 } });
  slow.add('app', 'p', { app: 'web' });
  slow.setAnswer(() => ({ ok: false, code: 409 }));
  slow.r.leading(true);
  await waitFor(() => podPatches(slow.calls).length === 1, 'the first patch');
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(podPatches(slow.calls).length, 1, 'not retried before the policy\'s first delay');
  assert.equal(slow.r.pending(), 1, 'waiting to retry');
  slow.r.stop();
  // a retry policy of milliseconds: two conflicts, then the patch goes through
  const fast = world([], [ns('app')], { retry: { initialMs: 1, maxMs: 5 } });
  fast.add('app', 'p', { app: 'web' });
  let n = 0;
  fast.setAnswer(() => (++n <= 2 ? { ok: false, code: 409 } : { ok: true, code: 200 }));
  fast.r.leading(true);
  await waitFor(() => fast.metrics.reconcilePods.get({ result: 'patched' }) === 1, 'patched after two conflicts');
  assert.equal(podPatches(fast.calls).length, 3);
  assert.equal(fast.metrics.reconcilePods.get({ result: 'conflict' }), 2);
  fast.r.stop();
});

const statuses = (calls: ApiCall[]): Record<string, unknown>[] =>
  calls.filter((c) => c.op === 'patchPolicyStatus').map((c) => (c.body as { status: Record<string, unknown> }).status);

test('reconciler: finished pods (Succeeded, Failed) are neither patched nor counted; a pod that finishes leaves the count', async () => {
  const w = world([policy('p', 'app', { selector: { matchLabels: { app: 'web' } }, file: { matchPaths: [{ path: '/etc/shadow' }] }, action: 'Block' })], [ns('app')]);
  w.add('app', 'running', { app: 'web' });
  w.add('app', 'done', { app: 'web' }, {}, 'Succeeded');
  w.add('app', 'crashed', { app: 'web' }, { 'armorgate.io/profile': 'stale' }, 'Failed');
  w.r.leading(true);
  await waitFor(() => podPatches(w.calls).length === 1 && statuses(w.calls).length === 1, 'one patch and a status');
  assert.equal(podPatches(w.calls)[0]!.name, 'running', 'only the running pod is patched');
  assert.equal(statuses(w.calls)[0]!.boundPods, 1, 'finished pods are not counted');
  // the running pod finishes (a status update of the pod): it leaves the count
  w.add('app', 'running', { app: 'web' }, {}, 'Succeeded');
  w.r.changed('pods', 'put', w.pods.get('app/running') as unknown as WatchedObject);
  await waitFor(() => statuses(w.calls).length === 2, 'the status written again', 5000);
  assert.equal(statuses(w.calls)[1]!.boundPods, 0);
  assert.equal(statuses(w.calls)[1]!.status, 'Unbound');
  assert.equal(podPatches(w.calls).length, 1, 'the finished pod is not patched');
  w.r.stop();
});

test('reconciler: a status pass validates no policy again (a namespace change, a pod deleted); it reads the store\'s one validation per object', async () => {
  const ps = Array.from({ length: 5 }, (_, i) => policy(`p${i}`, 'app', { selector: { matchLabels: { app: 'web' } }, file: { matchPaths: [{ path: `/etc/f${i}` }] }, action: 'Block' }));
  const w = world(ps, [ns('app')]);
  w.add('app', 'web-1', { app: 'web' });
  w.add('app', 'web-2', { app: 'web' });
  // every read of a policy's spec is counted: validating it reads it, nothing else here does
  let reads = 0;
  for (const o of w.objs) {
    const spec = (o as { spec?: unknown }).spec;
    Object.defineProperty(o, 'spec', { get: () => { reads++; return spec; }, enumerable: true, configurable: true });
  }
  w.r.leading(true);
  await waitFor(() => statuses(w.calls).length === 5, 'the first status pass');
  const first = reads;
  assert.ok(first > 0, 'the first pass validated each policy once (through the store)');
  // a namespace changes: its pods are evaluated again and the statuses checked again
  w.r.changed('namespaces', 'put', ns('app', { 'kubearmor-file-posture': 'block' }) as unknown as WatchedObject);
  await waitFor(() => statuses(w.calls).length === 10, 'a status pass after the namespace change', 5000);
  // a pod is deleted
  w.pods.delete('app/web-2');
  w.r.changed('pods', 'del', { kind: 'Pod', metadata: { name: 'web-2', namespace: 'app' } });
  await waitFor(() => statuses(w.calls).length === 15, 'a status pass after the pod deletion', 5000);
  assert.equal(statuses(w.calls)[14]!.boundPods, 1);
  assert.equal(reads, first, 'no policy validated again by a status pass');
  w.r.stop();
});

test('reconciler: the status of a policy that binds no pod is Unbound with its validation warnings; a host policy\'s says it binds nodes, not pods; an invalid one is Invalid', async () => {
  const w = world([
    policy('lonely', 'app', { selector: { matchLabels: { app: 'nobody' } }, network: { matchProtocols: [{ protocol: 'tcp,udp' }] }, action: 'Block' }),
    policy('node-shadow', null, { nodeSelector: { matchLabels: { 'kubernetes.io/hostname': 'n1' } }, file: { matchPaths: [{ path: '/etc/shadow' }] }, action: 'Block' }, 'KubeArmorHostPolicy'),
    policy('broken', 'app', { selector: { matchLabels: { app: 'web' } }, file: { matchPaths: [{ path: 'relative' }] }, action: 'Block' }),
  ], [ns('app')]);
  w.add('app', 'web', { app: 'web' });
  w.r.leading(true);
  await waitFor(() => w.calls.filter((c) => c.op === 'patchPolicyStatus').length === 3, 'three statuses');
  const by = new Map(w.calls.filter((c): c is Extract<ApiCall, { op: 'patchPolicyStatus' }> => c.op === 'patchPolicyStatus').map((c) => [`${c.plural} ${c.namespace}/${c.name}`, (c.body as { status: Record<string, unknown> }).status]));
  assert.deepEqual(by.get('kubearmorpolicies app/lonely'), {
    status: 'Unbound', boundPods: 0, message: 'binds no running pod', observedGeneration: 1,
    warnings: ['spec.network.matchProtocols[0].protocol: "tcp,udp" is a comma list: one rule per entry here, maybe not in KubeArmor'],
  });
  assert.deepEqual(by.get('kubearmorhostpolicies /node-shadow'), {
    status: 'Unbound', boundPods: 0, message: 'a host policy binds nodes, not pods: the gateway binds it to no pod', observedGeneration: 1,
    warnings: ['kind: host policies are validated but not enforced yet: ArmorGate enforces pods'],
  });
  const broken = by.get('kubearmorpolicies app/broken')!;
  assert.equal(broken.status, 'Invalid');
  assert.equal(broken.boundPods, 0);
  assert.match(String(broken.message), /^invalid: bound to no pod: spec\.file\.matchPaths\[0\]\.path/);
  w.r.stop();
});

test('reconciler: the resync evaluates every pod again: a pod changed behind its back is put right; once settled, resync passes write nothing', async () => {
  const w = world([policy('p', 'app', { selector: { matchLabels: { app: 'web' } }, file: { matchPaths: [{ path: '/etc/shadow' }] }, action: 'Block' })], [ns('app')], { resyncMs: 150 });
  // the API server: a pod patch or a status write changes the object, as the watch then shows it
  const annotations = new Map<string, Record<string, string>>();
  w.setAnswer((c) => {
    if (c.op === 'patchPod') {
      const a = { ...annotations.get(c.name) };
      for (const [k, v] of Object.entries((c.body as { metadata: { annotations: Record<string, string | null> } }).metadata.annotations)) if (v === null) delete a[k]; else a[k] = v;
      annotations.set(c.name, a);
      w.add('app', c.name, { app: 'web' }, a);
    }
    if (c.op === 'patchPolicyStatus') {
      const i = w.objs.findIndex((o) => o.metadata?.name === c.name);
      w.objs[i] = { ...w.objs[i]!, status: (c.body as { status: unknown }).status } as WatchedObject;
    }
    return { ok: true, code: 200 };
  });
  for (const n of ['web-1', 'web-2', 'web-3']) w.add('app', n, { app: 'web' });
  w.r.leading(true);
  await waitFor(() => podPatches(w.calls).length === 3 && statuses(w.calls).length === 1 && w.r.idle(), 'settled: three patches and a status');
  // settled: resync passes run (each lists the pods) and write nothing
  const lists = w.podLists(), writes = w.calls.length;
  await waitFor(() => w.podLists() >= lists + 3, 'three resync passes', 5000);
  await new Promise((r) => setTimeout(r, 1100)); // and a status pass's delay after the last
  assert.equal(w.calls.length, writes, `no write across the resync passes: ${JSON.stringify(w.calls.slice(writes))}`);
  // web-2's annotations are changed behind the reconciler's back (no watch event): the next
  // resync finds it and puts it right
  const stale = { ...annotations.get('web-2')!, 'armorgate.io/profile': 'tampered' };
  annotations.set('web-2', stale);
  w.add('app', 'web-2', { app: 'web' }, stale);
  await waitFor(() => podPatches(w.calls).length === 4, 'the resync patched it', 5000);
  assert.equal(podPatches(w.calls)[3]!.name, 'web-2');
  assert.notEqual(annotations.get('web-2')!['armorgate.io/profile'], 'tampered');
  w.r.stop();
});
