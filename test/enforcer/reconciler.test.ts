// The reconciler against a kernel that records calls (the real kernel needs BPF-LSM: test/vm/).
// Pods carry real annotations, encoded and signed with the policy core; cgroups are plain
// directories in a temporary root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { alertRecorder } from '../../enforcer/alert-records.ts';
import { ANN_POLICIES, ANN_POSTURE, ANN_PROFILE, ANN_PROFILE_DIGEST, ANN_PROFILE_SIGNATURE, ANN_TRACEPARENT } from '../../policy/annotations.ts';
import { encodeProfile } from '../../policy/profile-codec.ts';
import { formatPosture } from '../../policy/posture.ts';
import { signProfile, verifyAnnotations } from '../../policy/sign.ts';
import type { Pod, Profile, ProfileRule, Result } from '../../policy/types.ts';
import type { KubeArmorAlert } from '../../enforcer/alerts.ts';
import type { KubeArmorLog } from '../../enforcer/visibility.ts';
import { CgroupResolver } from '../../enforcer/cgroup.ts';
import type { KernelEvent, PodBinding } from '../../enforcer/kernel/index.ts';
import { createMetrics } from '../../enforcer/metrics.ts';
import { Reconciler, type Gate, type Log } from '../../enforcer/reconciler.ts';

const KEY = new TextEncoder().encode('test-signing-key-0123456789abcdef');
const UID = '11111111-2222-4333-8444-555555555555';
const CID = 'c'.repeat(64);
const TRACE = '0af7651916cd43dd8448eb211c80319c';
const TRACEPARENT = `00-${TRACE}-b7ad6b7169203331-01`;

const blockApt: ProfileRule = {
  action: 'Block', target: { type: 'path', path: '/usr/bin/apt' }, readOnly: false, ownerOnly: false, fromSource: '',
  containers: [], policies: ['shop/block-pkg-mgr'], severity: 5, tags: ['NIST', 'process'], message: 'package manager denied',
};

function profile(rules: ProfileRule[] = [blockApt]): Profile {
  return {
    version: 1, posture: { file: 'audit', network: 'audit', capabilities: 'audit', process: 'audit' },
    process: rules, file: [], network: [], capabilities: [],
  };
}

function signed(p: Profile, namespace = 'shop', key = KEY): Record<string, string> {
  const enc = encodeProfile(p);
  return {
    [ANN_PROFILE]: enc.annotation, [ANN_PROFILE_DIGEST]: enc.digest,
    [ANN_PROFILE_SIGNATURE]: signProfile(key, namespace, enc.digest),
    [ANN_POSTURE]: formatPosture(p.posture), [ANN_POLICIES]: 'shop/block-pkg-mgr@1', [ANN_TRACEPARENT]: TRACEPARENT,
  };
}

const DIGEST = `sha256:${'a'.repeat(64)}`;
/** The pod as the API server sends it (fields policy/types.ts's Pod leaves untyped: owner, images). */
function pod(annotations: Record<string, string> | undefined, over: Partial<{ uid: string; containerID: string; phase: string; containers: string[] }> = {}): Pod {
  const full = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name: 'web', namespace: 'shop', uid: over.uid ?? UID, labels: { tier: 'front', app: 'web' }, ...(annotations ? { annotations } : {}),
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 'a0a0a0a0-0000-4000-8000-000000000000', controller: true }],
    },
    spec: { nodeName: 'node-1', containers: (over.containers ?? ['nginx', 'sidecar']).map((name) => ({ name, image: `${name}:1.27` })) },
    status: {
      qosClass: 'Burstable', phase: over.phase ?? 'Running',
      containerStatuses: over.containerID === undefined ? [] : [{ name: 'nginx', containerID: over.containerID, image: 'docker.io/library/nginx:1.27', imageID: `docker.io/library/nginx@${DIGEST}` }],
    },
  };
  return full as Pod;
}
const OWNER = { Ref: 'StatefulSet', Name: 'web', Namespace: 'shop' };

class RecordingKernel {
  calls: ({ op: 'setPod'; binding: PodBinding } | { op: 'removePod'; uid: string } | { op: 'sweep'; live: bigint[] })[] = [];
  refuse: string | null = null;
  setPod(b: PodBinding): Result<void> {
    this.calls.push({ op: 'setPod', binding: b });
    return this.refuse === null ? { ok: true, value: undefined } : { ok: false, error: { code: 'E_KERNEL', message: this.refuse } };
  }
  removePod(uid: string): Result<void> {
    this.calls.push({ op: 'removePod', uid });
    return { ok: true, value: undefined };
  }
  sweep(live: ReadonlySet<bigint>): Result<number> {
    this.calls.push({ op: 'sweep', live: [...live].sort() });
    return { ok: true, value: 0 };
  }
  counts(): Result<{ pods: number; rules: number; cgroups: number }> {
    return { ok: false, error: { code: 'E_NOT_IMPLEMENTED', message: 'recording kernel keeps no maps' } };
  }
}

const quiet: Log = { info() {}, warn() {}, error() {}, debug() {} };

function setup(root = '/nonexistent/cgroup', gate: Gate | null = null, log: Log = quiet) {
  const kernel = new RecordingKernel();
  const alerts: KubeArmorAlert[] = [];
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const logExporter = new InMemoryLogRecordExporter();
  const logProvider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: logExporter })] });
  const r = new Reconciler({
    kernel, resolver: new CgroupResolver(root), verify: (a, ns) => verifyAnnotations(a, ns, KEY),
    emit: (a) => alerts.push(a), log, tracer: provider.getTracer('test'), record: alertRecorder(logProvider.getLogger('test')),
    clusterName: 'oke-1', nodeName: 'node-1', now: () => new Date('2026-01-02T03:04:05.678Z'), processName: () => '/bin/bash',
    gate,
  });
  return { kernel, alerts, exporter, provider, logExporter, r };
}

test('gated (no kubepods cgroup yet): rules are loaded but each pod is reported not enforced, once; opening the gate enforces them, closing it reports them again', () => {
  const logs: { msg: string; uid?: unknown }[] = [];
  const log: Log = { info: (o, msg) => logs.push({ msg, ...o }), warn: (o, msg) => logs.push({ msg, ...o }), error: (o, msg) => logs.push({ msg, ...o }), debug() {} };
  const gate = { code: 'E_NO_KUBEPODS', message: 'no kubepods cgroup under /sys/fs/cgroup: waiting for kubelet to make it' };
  const { kernel, alerts, r } = setup('/nonexistent/cgroup', gate, log);
  const p = pod(signed(profile()));
  r.upsert(p);
  r.upsert(p);
  assert.equal(kernel.calls.filter((c) => c.op === 'setPod').length, 1, 'the rules are in the maps already');
  assert.equal(r.isEnforced(UID), false);
  assert.equal(alerts.length, 1, 'reported once');
  assert.equal(alerts[0]?.Type, 'SystemEvent');
  assert.equal(alerts[0]?.Data, 'code=E_NO_KUBEPODS');
  assert.match(alerts[0]?.Message ?? '', /not enforced.*no kubepods cgroup/);
  assert.ok(!logs.some((l) => l.msg === 'pod enforced'), 'never logged as enforced while gated');
  assert.ok(logs.some((l) => l.msg === 'pod rules loaded, not enforced yet'));
  assert.equal(r.openGate(), 1);
  assert.equal(r.isEnforced(UID), true);
  assert.equal(r.gate, null);
  assert.ok(logs.some((l) => l.msg === 'pod enforced' && l.uid === UID));
  assert.equal(kernel.calls.length, 1, 'nothing loaded again');
  r.closeGate({ code: 'E_NO_KUBEPODS', message: 'the kubepods cgroup is gone' });
  assert.equal(r.isEnforced(UID), false);
  assert.equal(alerts.length, 2);
  assert.match(alerts[1]?.Message ?? '', /kubepods cgroup is gone/);
  // a pod deleted while gated leaves the maps
  r.remove(UID);
  assert.deepEqual(kernel.calls.at(-1), { op: 'removePod', uid: UID });
});

test('init containers are marked in the binding (the kernel waits for the app containers only before giving an untold scope every container\'s rules)', () => {
  const { kernel, r } = setup();
  const p = pod(signed(profile()));
  p.spec = { ...p.spec!, initContainers: [{ name: 'migrate' }] };
  assert.equal(r.upsert(p), 'enforced');
  const call = kernel.calls[0];
  assert.ok(call?.op === 'setPod');
  assert.deepEqual(call.binding.containers, [{ name: 'migrate', init: true }, { name: 'nginx' }, { name: 'sidecar' }]);
});

test('a pod with a signed profile is loaded once, keyed by its UID, before any cgroup exists', () => {
  const { kernel, alerts, r } = setup();
  const p = pod(signed(profile()));
  assert.equal(r.upsert(p), 'enforced');
  assert.equal(r.upsert(p), 'unchanged');
  assert.equal(kernel.calls.length, 1);
  const call = kernel.calls[0];
  assert.ok(call?.op === 'setPod');
  assert.equal(call.binding.uid, UID);
  assert.equal(call.binding.namespace, 'shop');
  assert.deepEqual(call.binding.profile, profile());
  assert.deepEqual(call.binding.containers, [{ name: 'nginx' }, { name: 'sidecar' }]);
  assert.equal(alerts.length, 0);
  assert.ok(r.isEnforced(UID));
});

test('attaching continues the trace of armorgate.io/traceparent; alerts are log records on that trace, in the attach span', async () => {
  const { exporter, provider, logExporter, alerts, r } = setup();
  r.upsert(pod(signed(profile())));
  await provider.forceFlush();
  const [attach] = exporter.getFinishedSpans();
  assert.ok(attach);
  assert.equal(attach.name, 'armorgate.enforcer.attach');
  assert.equal(attach.spanContext().traceId, TRACE);
  assert.equal(attach.parentSpanContext?.spanId, 'b7ad6b7169203331');
  r.onKernelEvent(event({}));
  await provider.forceFlush();
  assert.equal(exporter.getFinishedSpans().length, 1, 'an alert is no span of its own');
  const [rec] = logExporter.getFinishedLogRecords();
  assert.ok(rec);
  assert.equal(rec.spanContext?.traceId, TRACE, 'the alert is on the pod\'s trace');
  assert.equal(rec.spanContext?.spanId, attach.spanContext().spanId, 'in the attach span');
  assert.equal(rec.eventName, 'armorgate.alert');
  assert.equal(rec.severityText, 'WARN', 'a Block');
  assert.equal(rec.attributes['k8s.pod.name'], 'web');
  assert.equal(rec.attributes['armorgate.alert.action'], 'Block');
  assert.deepEqual(rec.body, JSON.parse(JSON.stringify(alerts.at(-1))), 'the body is the alert as written on stdout');
});

test('a profile signed for another namespace, with another key, or tampered is not enforced: one SystemEvent alert', () => {
  const cases: [string, Record<string, string>][] = [
    ['other namespace', signed(profile(), 'kube-system')],
    ['other key', signed(profile(), 'shop', new TextEncoder().encode('another-key'))],
    ['tampered profile', { ...signed(profile()), [ANN_PROFILE]: encodeProfile(profile([])).annotation }],
  ];
  for (const [what, ann] of cases) {
    const { kernel, alerts, r } = setup();
    assert.equal(r.upsert(pod(ann)), 'not-enforced', what);
    assert.equal(r.upsert(pod(ann)), 'not-enforced', what);
    assert.equal(kernel.calls.length, 0, what);
    assert.equal(alerts.length, 1, `${what}: alerted once`);
    assert.equal(alerts[0]?.Type, 'SystemEvent');
    assert.equal(alerts[0]?.PodName, 'web');
    assert.equal(alerts[0]?.NamespaceName, 'shop');
    assert.match(alerts[0]?.Message ?? '', /not enforced/);
  }
});

test('a pod without a profile is reported, not enforced, and never crashes the reconciler', () => {
  const { kernel, alerts, r } = setup();
  assert.equal(r.upsert(pod(undefined)), 'not-enforced');
  assert.equal(alerts[0]?.Data, 'code=E_NO_PROFILE');
  assert.equal(r.upsert({ metadata: { name: 'x' } } as Pod), 'ignored');
  assert.equal(r.upsert({} as Pod), 'ignored');
  assert.equal(kernel.calls.length, 0);
});

test('an update that does not verify keeps the verified profile in force', () => {
  const { kernel, alerts, r } = setup();
  r.upsert(pod(signed(profile())));
  const bad = { ...signed(profile([])), [ANN_PROFILE_SIGNATURE]: 'hmac-sha256:' + '0'.repeat(64) };
  r.upsert(pod(bad));
  assert.equal(kernel.calls.length, 1, 'no kernel change');
  assert.ok(r.isEnforced(UID));
  assert.equal(alerts.length, 1);
  assert.equal(alerts[0]?.Data, 'code=E_SIGNATURE');
});

test('a changed profile replaces the old one; deletion and terminal phases remove it', () => {
  const { kernel, r } = setup();
  r.upsert(pod(signed(profile())));
  r.upsert(pod(signed(profile([{ ...blockApt, action: 'Audit' }]))));
  assert.equal(kernel.calls.filter((c) => c.op === 'setPod').length, 2);
  r.remove(UID);
  assert.deepEqual(kernel.calls.at(-1), { op: 'removePod', uid: UID });
  r.upsert(pod(signed(profile()), { uid: '99999999-2222-4333-8444-555555555555' }));
  r.upsert(pod(signed(profile()), { uid: '99999999-2222-4333-8444-555555555555', phase: 'Succeeded' }));
  assert.deepEqual(kernel.calls.at(-1), { op: 'removePod', uid: '99999999-2222-4333-8444-555555555555' });
  r.remove('never-seen');
  assert.equal(kernel.calls.filter((c) => c.op === 'removePod').length, 2);
});

test('sync removes pods that are gone and keeps the rest', () => {
  const { kernel, r } = setup();
  const other = '22222222-2222-4333-8444-555555555555';
  r.sync([pod(signed(profile())), pod(signed(profile()), { uid: other })]);
  const counts = r.sync([pod(signed(profile()), { uid: other })]);
  assert.equal(counts.removed, 1);
  assert.equal(counts.unchanged, 1);
  assert.deepEqual(kernel.calls.at(-1), { op: 'removePod', uid: UID });
  assert.deepEqual(r.known(), [other]);
});

test('container cgroups: bound once the status names the container and its cgroup exists; sweep passes live ids', () => {
  const root = mkdtempSync(join(tmpdir(), 'ag-rec-'));
  try {
    const { kernel, r } = setup(root);
    const ann = signed(profile());
    r.upsert(pod(ann, { containerID: `containerd://${CID}` }));
    const podDir = join(root, 'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod11111111_2222_4333_8444_555555555555.slice');
    mkdirSync(join(podDir, `cri-containerd-${CID}.scope`), { recursive: true });
    const cid = statSync(join(podDir, `cri-containerd-${CID}.scope`), { bigint: true }).ino;
    r.sweep(); // the scope appeared: the binding is refreshed
    const sets = kernel.calls.filter((c) => c.op === 'setPod');
    assert.equal(sets.length, 2);
    assert.deepEqual(sets[1]?.binding.containers, [{ name: 'nginx', cgroupId: cid }, { name: 'sidecar' }]);
    const sweep = kernel.calls.at(-1);
    assert.ok(sweep?.op === 'sweep');
    assert.deepEqual(sweep.live, [statSync(podDir, { bigint: true }).ino, cid].sort());
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a sweep that binds a new container cgroup keeps the init containers marked (and the images)', () => {
  const root = mkdtempSync(join(tmpdir(), 'ag-rec-'));
  try {
    const { kernel, alerts, r } = setup(root);
    const p = pod(signed(profile()), { containerID: `containerd://${CID}` });
    p.spec = { ...p.spec!, initContainers: [{ name: 'migrate' }] };
    r.upsert(p);
    const podDir = join(root, 'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod11111111_2222_4333_8444_555555555555.slice');
    mkdirSync(join(podDir, `cri-containerd-${CID}.scope`), { recursive: true });
    const cid = statSync(join(podDir, `cri-containerd-${CID}.scope`), { bigint: true }).ino;
    r.sweep();
    const sets = kernel.calls.filter((c) => c.op === 'setPod');
    assert.equal(sets.length, 2);
    assert.deepEqual(sets[1]?.binding.containers, [{ name: 'migrate', init: true }, { name: 'nginx', cgroupId: cid }, { name: 'sidecar' }]);
    r.onKernelEvent(event({ cgroupId: cid }));
    assert.equal(alerts.at(-1)?.ContainerImage, `docker.io/library/nginx:1.27@${DIGEST}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

function event(over: Partial<KernelEvent>): KernelEvent {
  return {
    type: 'decision', cgroupId: 42n, podUid: UID, pid: 4242, ppid: 4200, uid: 0, exe: '/usr/bin/apt',
    source: '/bin/bash', target: '/usr/bin/apt', hook: 'bprm_check_security', kind: 'process', action: 'Block',
    denied: true, errno: 1, rule: blockApt, timeNs: 1, ...over,
  };
}

test('kernel events become KubeArmor alerts with the pod, container and policy filled in', () => {
  const root = mkdtempSync(join(tmpdir(), 'ag-rec-'));
  try {
    const { alerts, r } = setup(root);
    const podDir = join(root, 'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod11111111_2222_4333_8444_555555555555.slice');
    mkdirSync(join(podDir, `cri-containerd-${CID}.scope`), { recursive: true });
    const cid = statSync(join(podDir, `cri-containerd-${CID}.scope`), { bigint: true }).ino;
    r.upsert(pod(signed(profile()), { containerID: `containerd://${CID}` }));
    r.onKernelEvent(event({ cgroupId: cid }));
    assert.deepEqual(alerts[0], {
      Timestamp: 1767323045, UpdatedTime: '2026-01-02T03:04:05.678Z', ClusterName: 'oke-1', HostName: 'node-1',
      NamespaceName: 'shop', PodName: 'web', Owner: OWNER, Labels: 'app=web,tier=front', ContainerID: CID, ContainerName: 'nginx',
      ContainerImage: `docker.io/library/nginx:1.27@${DIGEST}`, HostPID: 4242, HostPPID: 4200, PPID: 4200, PID: 4242, UID: 0, ParentProcessName: '/bin/bash', ProcessName: '/usr/bin/apt',
      PolicyName: 'block-pkg-mgr', Severity: '5', Tags: 'NIST,process', ATags: ['NIST', 'process'], Message: 'package manager denied',
      Type: 'MatchedPolicy', Source: '/bin/bash', Operation: 'Process', Resource: '/usr/bin/apt', Data: 'lsm=BPRM_CHECK_SECURITY',
      Enforcer: 'BPFLSM', Action: 'Block', Result: 'Permission denied',
    });
    // posture decision, pod-level cgroup (container unknown), audit that passed
    r.onKernelEvent(event({ cgroupId: 7n, rule: null, action: 'Audit', denied: false, errno: 0, kind: 'file', hook: 'file_open', target: '/etc/shadow' }));
    assert.equal(alerts[1]?.PolicyName, 'DefaultPosture');
    assert.equal(alerts[1]?.Result, 'Passed');
    assert.equal(alerts[1]?.Operation, 'File');
    assert.equal(alerts[1]?.ContainerName, '');
    assert.equal(alerts[1]?.PodName, 'web');
    assert.equal(alerts[1]?.Severity, '');
    // dropped events: one AlertThreshold alert carrying the count
    r.onKernelEvent(event({ type: 'dropped', dropped: 37, rule: null }));
    assert.equal(alerts[2]?.Type, 'SystemEvent');
    assert.equal(alerts[2]?.Operation, 'AlertThreshold');
    assert.equal(alerts[2]?.Data, 'dropped=37');
    assert.equal(alerts[2]?.MaxAlertsPerSec, undefined, 'no rate given: not written');
    assert.deepEqual(alerts[2]?.Owner, OWNER, 'a pod-level event still names the owner');
    assert.equal(alerts[2]?.ContainerImage, '');
    // an event from an unknown pod still becomes an alert
    r.onKernelEvent(event({ podUid: null, cgroupId: 99n }));
    assert.equal(alerts[3]?.PodName, '');
    assert.equal(alerts[3]?.Owner, undefined, 'no pod: no owner');
    assert.equal(alerts[3]?.Result, 'Permission denied');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a kernel that refuses a profile leaves the pod not enforced and alerted, then retried on change', () => {
  const { kernel, alerts, r } = setup();
  kernel.refuse = 'map full';
  assert.equal(r.upsert(pod(signed(profile()))), 'not-enforced');
  assert.equal(alerts[0]?.Type, 'SystemEvent');
  assert.match(alerts[0]?.Message ?? '', /map full/);
  assert.ok(!r.isEnforced(UID));
  kernel.refuse = null;
  assert.equal(r.upsert(pod(signed(profile()))), 'enforced');
  assert.ok(r.isEnforced(UID));
});

test('a missing or malformed traceparent starts a new trace instead of failing', async () => {
  for (const tp of [undefined, 'garbage', `00-${'0'.repeat(32)}-b7ad6b7169203331-01`, `01-${TRACE}-b7ad6b7169203331-01x`]) {
    const { exporter, provider, r } = setup();
    const ann = signed(profile());
    if (tp === undefined) delete ann[ANN_TRACEPARENT];
    else ann[ANN_TRACEPARENT] = tp;
    assert.equal(r.upsert(pod(ann)), 'enforced');
    await provider.forceFlush();
    const [span] = exporter.getFinishedSpans();
    assert.ok(span);
    assert.equal(span.parentSpanContext, undefined, String(tp));
    assert.notEqual(span.spanContext().traceId, TRACE);
  }
});

test('identical signed inputs are verified once; any change is verified again', () => {
  let calls = 0;
  const kernel = new RecordingKernel();
  const r = new Reconciler({
    kernel, resolver: new CgroupResolver('/nonexistent'), verify: (a, ns) => { calls++; return verifyAnnotations(a, ns, KEY); },
    emit: () => {}, log: quiet, tracer: new TracerProvider().getTracer('t'), clusterName: 'c', nodeName: 'n',
  });
  const ann = signed(profile());
  for (let i = 0; i < 5; i++) r.upsert(pod(ann));
  assert.equal(calls, 1);
  r.upsert(pod({ ...ann, [ANN_PROFILE_SIGNATURE]: 'hmac-sha256:' + 'f'.repeat(64) }));
  assert.equal(calls, 2, 'a changed signature is verified');
  assert.ok(r.isEnforced(UID), 'and, failing, leaves the verified profile in force');
  r.upsert(pod(ann));
  assert.equal(calls, 2, 'back to the verified inputs');
  assert.equal(kernel.calls.length, 1);
});

test('pods the kernel still holds from a previous enforcer but no longer on the node are removed', () => {
  const kernel = new RecordingKernel();
  const held = ['aaaaaaaa-0000-4000-8000-000000000000', UID];
  const r = new Reconciler({
    kernel: Object.assign(kernel, { podUids: () => held }), resolver: new CgroupResolver('/nonexistent'),
    verify: (a, ns) => verifyAnnotations(a, ns, KEY), emit: () => {}, log: quiet, tracer: new TracerProvider().getTracer('t'),
    clusterName: 'c', nodeName: 'n',
  });
  r.sync([pod(signed(profile()))]);
  assert.equal(r.removeStale(), 1);
  assert.deepEqual(kernel.calls.filter((c) => c.op === 'removePod'), [{ op: 'removePod', uid: 'aaaaaaaa-0000-4000-8000-000000000000' }]);
});

test('a profile the kernel loads in part is enforced; the rules left out are named in one alert and one log line', () => {
  const { kernel, alerts, r } = setup();
  const allowSh: ProfileRule = { ...blockApt, action: 'Allow', target: { type: 'path', path: '/bin/sh' }, policies: ['shop/many'] };
  const missing = [{ rule: allowSh, reason: '9 rules that each decide something share the process target "/bin/sh"', code: 'E_TOO_MANY' as const }];
  const warned: { fields: unknown; msg: string }[] = [];
  const k = Object.assign(kernel, { notEnforced: (uid: string) => (uid === UID ? missing : []) });
  const rr = new Reconciler({
    kernel: k, resolver: new CgroupResolver('/nonexistent/cgroup'), verify: (a, ns) => verifyAnnotations(a, ns, KEY),
    emit: (a) => alerts.push(a), log: { ...quiet, warn: (fields: unknown, msg: string) => { warned.push({ fields, msg }); } } as Log,
    tracer: new TracerProvider().getTracer('test'), clusterName: 'oke-1', nodeName: 'node-1', now: () => new Date('2026-01-02T03:04:05.678Z'), processName: () => '/bin/bash',
  });
  void r;
  assert.equal(rr.upsert(pod(signed(profile([blockApt, allowSh])))), 'enforced');
  assert.ok(rr.isEnforced(UID), 'the rest is in force');
  assert.equal(alerts.length, 1);
  assert.equal(alerts[0]!.Operation, 'Profile');
  assert.equal(alerts[0]!.Data, 'code=E_TOO_MANY');
  assert.match(alerts[0]!.Message, /^pod partly enforced: 1 rule not loaded, the rest in force: Allow \/bin\/sh \[shop\/many\]/);
  assert.equal(warned.length, 1);
  assert.match(warned[0]!.msg, /partly enforced/);
  // the same set is reported once
  assert.equal(rr.upsert(pod(signed(profile([blockApt, allowSh, { ...blockApt, target: { type: 'path', path: '/usr/bin/dpkg' } }])))), 'enforced');
  assert.equal(alerts.length, 1);
});

/** A container scope under the test pod's cgroup that its status does not name: the 64-hex ID in
 *  its name and its cgroup id (the directory's inode) */
function unnamedScope(root: string, name = `cri-containerd-${'d'.repeat(64)}.scope`): { fresh: string; cid: bigint } {
  const dir = join(root, 'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod11111111_2222_4333_8444_555555555555.slice', name);
  mkdirSync(dir, { recursive: true });
  return { fresh: /[0-9a-f]{64}/.exec(name)![0], cid: statSync(dir, { bigint: true }).ino };
}

test('an alert from a container the pod\'s status does not name yet carries the 64-hex ID of its cgroup\'s name', () => {
  const root = mkdtempSync(join(tmpdir(), 'ag-rec-'));
  try {
    const { alerts, r } = setup(root);
    const { fresh, cid } = unnamedScope(root);
    const conmon = unnamedScope(root, `crio-conmon-${'e'.repeat(64)}.scope`).cid;
    r.upsert(pod(signed(profile()), { containerID: '' }));
    r.onKernelEvent(event({ cgroupId: cid }));
    assert.equal(alerts.at(-1)?.ContainerID, fresh);
    assert.equal(alerts.at(-1)?.ContainerName, '', 'no name until the status names it');
    r.onKernelEvent(event({ cgroupId: conmon }));
    assert.equal(alerts.at(-1)?.ContainerID, '', 'the conmon monitor scope is no container');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('an unnamed container cgroup of a pod that can run only one container is named as it (and its image); with an init container still running it is not', () => {
  const root = mkdtempSync(join(tmpdir(), 'ag-rec-'));
  try {
    const { alerts, r } = setup(root);
    const { fresh, cid } = unnamedScope(root);
    const single = pod(signed(profile()), { containerID: '', containers: ['nginx'] });
    r.upsert(single);
    r.onKernelEvent(event({ cgroupId: cid }));
    assert.equal(alerts.at(-1)?.ContainerID, fresh);
    assert.equal(alerts.at(-1)?.ContainerName, 'nginx', 'the pod\'s one container');
    assert.equal(alerts.at(-1)?.ContainerImage, `docker.io/library/nginx:1.27@${DIGEST}`, 'its image');
    // the status names the one container with another ID: this scope (a sandbox, a stale one) is not it
    r.upsert(pod(signed(profile()), { containerID: `containerd://${'a'.repeat(64)}`, containers: ['nginx'] }));
    r.onKernelEvent(event({ cgroupId: cid }));
    assert.equal(alerts.at(-1)?.ContainerID, fresh);
    assert.equal(alerts.at(-1)?.ContainerName, '', 'another ID is named for the one container');
    r.upsert(single);
    // an init container not finished: the process may be in it
    const withInit = structuredClone(single);
    withInit.spec!.initContainers = [{ name: 'migrate' }];
    (withInit.status as Record<string, unknown>).initContainerStatuses = [{ name: 'migrate', state: { running: {} } }];
    r.upsert(withInit);
    r.onKernelEvent(event({ cgroupId: cid }));
    assert.equal(alerts.at(-1)?.ContainerID, fresh);
    assert.equal(alerts.at(-1)?.ContainerName, '', 'the init container may be the one running');
    (withInit.status as Record<string, unknown>).initContainerStatuses = [{ name: 'migrate', state: { terminated: { exitCode: 0 } } }];
    r.upsert(withInit);
    r.onKernelEvent(event({ cgroupId: cid }));
    assert.equal(alerts.at(-1)?.ContainerName, 'nginx', 'once it finished, only the app container runs');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('an AlertThreshold alert carries the kernel\'s alert rate as MaxAlertsPerSec', () => {
  const alerts: KubeArmorAlert[] = [];
  const r = new Reconciler({
    kernel: new RecordingKernel(), resolver: new CgroupResolver('/nonexistent/cgroup'), verify: (a, ns) => verifyAnnotations(a, ns, KEY),
    emit: (a) => alerts.push(a), log: quiet, tracer: new TracerProvider({ spanProcessors: [] }).getTracer('test'),
    clusterName: 'oke-1', nodeName: 'node-1', processName: () => '', maxAlertsPerSec: 200,
  });
  r.upsert(pod(signed(profile())));
  r.onKernelEvent(event({ type: 'dropped', dropped: 12, rule: null }));
  const a = alerts.at(-1);
  assert.equal(a?.Operation, 'AlertThreshold');
  assert.equal(a?.MaxAlertsPerSec, 200);
  assert.match(JSON.stringify(a), /"MaxAlertsPerSec":200/);
  r.onKernelEvent(event({}));
  assert.equal(alerts.at(-1)?.MaxAlertsPerSec, undefined, 'only on AlertThreshold alerts');
});

test('the kernel gets the kernelProfile hook\'s profile, called with each container\'s cgroup path once known (the other names of linked files)', () => {
  const root = mkdtempSync(join(tmpdir(), 'ag-rec-'));
  try {
    const kernel = new RecordingKernel();
    const seen: { name: string; cgroupPath?: string }[][] = [];
    const extra: ProfileRule = { ...blockApt, target: { type: 'path', path: '/usr/bin/apt-link' }, containers: ['nginx'] };
    const r = new Reconciler({
      kernel, resolver: new CgroupResolver(root), verify: (a, ns) => verifyAnnotations(a, ns, KEY),
      emit: () => {}, log: quiet, tracer: new TracerProvider().getTracer('test'), clusterName: 'c', nodeName: 'node-1',
      kernelProfile: (p, containers) => { seen.push(containers.map((c) => ({ ...c }))); return { ...p, process: [...p.process, extra] }; },
    });
    const podDir = join(root, 'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod11111111_2222_4333_8444_555555555555.slice');
    mkdirSync(join(podDir, `cri-containerd-${CID}.scope`), { recursive: true });
    r.upsert(pod(signed(profile()), { containerID: `containerd://${CID}` }));
    assert.deepEqual(seen[0]?.map((c) => [c.name, c.cgroupPath]), [['nginx', join(podDir, `cri-containerd-${CID}.scope`)], ['sidecar', undefined]]);
    const call = kernel.calls[0];
    assert.ok(call?.op === 'setPod');
    assert.deepEqual(call.binding.profile.process, [blockApt, extra]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('visibility events: a log becomes a KubeArmor ContainerLog (not an alert), counted by operation; dropped logs are counted and logged apart from dropped alerts', () => {
  const logs: { msg: string; dropped?: unknown; total?: unknown }[] = [];
  const log: Log = { info() {}, warn: (o, msg) => logs.push({ msg, ...o }), error() {}, debug() {} };
  const kernel = new RecordingKernel();
  const alerts: KubeArmorAlert[] = [];
  const out: KubeArmorLog[] = [];
  const lines: string[] = [];
  const provider = new TracerProvider({ spanProcessors: [] });
  const metrics = createMetrics({ counts: () => null });
  const r = new Reconciler({
    kernel, resolver: new CgroupResolver('/nonexistent/cgroup'), verify: (a, ns) => verifyAnnotations(a, ns, KEY), metrics,
    emit: (a) => alerts.push(a), emitLog: (line, l) => { out.push(l()); lines.push(line); }, log, tracer: provider.getTracer('test'),
    clusterName: 'oke-1', nodeName: 'node-1', now: () => new Date('2026-01-02T03:04:05.678Z'), processName: () => '/bin/bash',
  });
  r.upsert(pod(signed(profile()), { containerID: `containerd://${CID}` }));
  r.onKernelEvent(event({ type: 'log', rule: null, action: 'Audit', denied: false, errno: 0, kind: 'file', hook: 'open', target: '/etc/os-release', exe: '/usr/bin/cat', source: '/usr/bin/cat' }));
  r.onKernelEvent(event({ type: 'log', rule: null, action: 'Audit', denied: false, errno: 0, kind: 'network', hook: 'socket', target: 'tcp', sock: { family: 10, type: 1 | 0o4000, protocol: 6 } }));
  assert.equal(alerts.length, 0, 'logs are not alerts');
  assert.equal(out.length, 2);
  assert.deepEqual(out[0], {
    Timestamp: 1767323045, UpdatedTime: '2026-01-02T03:04:05.678Z', ClusterName: 'oke-1', HostName: 'node-1', NamespaceName: 'shop', PodName: 'web',
    Owner: OWNER, Labels: 'app=web,tier=front', ContainerID: '', ContainerName: '', ContainerImage: '', HostPID: 4242, HostPPID: 4200, PPID: 4200, PID: 4242, UID: 0,
    ParentProcessName: '/bin/bash', ProcessName: '/usr/bin/cat', Type: 'ContainerLog', Source: '/usr/bin/cat', Operation: 'File',
    Resource: '/etc/os-release', Data: 'lsm=FILE_OPEN', Result: 'Passed',
  });
  assert.equal(out[1]?.Resource, 'domain=AF_INET6 type=SOCK_STREAM|SOCK_NONBLOCK protocol=TCP');
  assert.equal(out[1]?.Data, 'lsm=SOCKET_CREATE domain=AF_INET6 type=SOCK_STREAM|SOCK_NONBLOCK protocol=TCP');
  assert.deepEqual(lines, out.map((l) => `${JSON.stringify(l)}\n`), 'the line on stdout is the record, serialised');
  r.onKernelEvent(event({ type: 'log-dropped', dropped: 120, rule: null }));
  r.onKernelEvent(event({ type: 'log-dropped', dropped: 30, rule: null }));
  assert.equal(alerts.length, 0);
  assert.equal(r.logsDropped, 150);
  assert.deepEqual(logs.filter((l) => l.msg.startsWith('visibility logs dropped')).map((l) => [l.dropped, l.total]), [[120, 120], [30, 150]]);
  assert.deepEqual([metrics.logs.get({ operation: 'File' }), metrics.logs.get({ operation: 'Network' }), metrics.logs.get({ operation: 'Process' })], [1, 1, 0]);
  assert.equal(metrics.logsDropped.get(), 150, 'armorgate_enforcer_logs_dropped_total: what the "logs dropped" events counted');
  assert.equal(metrics.dropped.get(), 0, 'not alerts dropped');
  // dropped alerts: an AlertThreshold alert and their own counter, the logs' untouched
  r.onKernelEvent(event({ type: 'dropped', dropped: 7, rule: null }));
  assert.equal(alerts.at(-1)?.Operation, 'AlertThreshold');
  assert.equal(metrics.dropped.get(), 7);
  assert.equal(metrics.logsDropped.get(), 150);
});
