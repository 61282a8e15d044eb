// KubeArmor's wire contract checked without trusting the product's .proto: a field table written
// by hand from KubeArmor's published proto (test/support/kubearmor-fields.ts) against (a) the
// product's enforcer/grpc/kubearmor.proto as proto-loader reads it, and (b) the raw bytes the
// server sends, read field by field with a tiny wire decoder (test/support/protobuf-wire.ts) by a
// client that has no .proto at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { decisionAlert, thresholdAlert, type AlertContext } from '../../enforcer/alerts.ts';
import { KUBEARMOR_PROTO, startLogServer, type LogServer } from '../../enforcer/grpc/server.ts';
import { pbAlert, pbLog } from '../../enforcer/grpc/shapes.ts';
import { visibilityLog } from '../../enforcer/visibility.ts';
import type { ProfileRule } from '../../policy/types.ts';
import { KUBEARMOR_FIELDS, KUBEARMOR_RPCS, KUBEARMOR_SERVICE, type FieldType } from '../support/kubearmor-fields.ts';
import { decodeMessage, encodeMessage, type Decoded } from '../support/protobuf-wire.ts';

type Desc = {
  name: string;
  field: { name: string; number: number; label: string; type: string; typeName: string }[];
  nestedType: Desc[];
  options: { mapEntry?: boolean } | null;
};

/** A field's type as the .proto spells it, from proto-loader's descriptor. */
function typeOf(msg: Desc, f: Desc['field'][number]): string {
  const repeated = f.label === 'LABEL_REPEATED';
  if (f.type === 'TYPE_MESSAGE') {
    const name = f.typeName.slice(f.typeName.lastIndexOf('.') + 1);
    const nested = msg.nestedType.find((n) => n.name === name);
    if (repeated && nested?.options?.mapEntry === true) {
      const [k, v] = [nested.field.find((x) => x.number === 1), nested.field.find((x) => x.number === 2)];
      return `map<${k?.type === 'TYPE_STRING' ? 'string' : String(k?.type)},${v?.type === 'TYPE_STRING' ? 'string' : String(v?.type)}>`;
    }
    return `${repeated ? 'repeated ' : ''}${name}`;
  }
  return `${repeated ? 'repeated ' : ''}${f.type.replace(/^TYPE_/, '').toLowerCase()}`;
}

test('the product\'s .proto, as proto-loader reads it, has exactly the independent table\'s messages, field numbers and types, and the service\'s rpcs', () => {
  const def = protoLoader.loadSync(KUBEARMOR_PROTO, { keepCase: true });
  for (const [message, fields] of Object.entries(KUBEARMOR_FIELDS)) {
    const d = def[`${KUBEARMOR_SERVICE.package}.${message}`] as { type?: Desc } | undefined;
    assert.ok(d?.type, `message ${message} is in the product's proto`);
    const theirs = Object.fromEntries(d.type.field.map((f) => [f.name, `${f.number} ${typeOf(d.type!, f)}`]));
    const ours = Object.fromEntries(Object.entries(fields).map(([n, f]) => [n, `${f.number} ${f.type satisfies FieldType}`]));
    assert.deepEqual(theirs, ours, message);
  }
  const svc = def[`${KUBEARMOR_SERVICE.package}.${KUBEARMOR_SERVICE.service}`] as Record<string, { path: string; requestStream: boolean; responseStream: boolean; requestType: { type: Desc }; responseType: { type: Desc } }>;
  assert.deepEqual(Object.keys(svc).sort(), Object.keys(KUBEARMOR_RPCS).sort());
  for (const [rpc, [req, res, stream]] of Object.entries(KUBEARMOR_RPCS)) {
    const m = svc[rpc]!;
    assert.equal(m.path, `/${KUBEARMOR_SERVICE.package}.${KUBEARMOR_SERVICE.service}/${rpc}`);
    assert.deepEqual([m.requestType.type.name, m.responseType.type.name, m.requestStream, m.responseStream], [req, res, false, stream], rpc);
  }
});

// ---- (b) the bytes on the wire, read without any .proto ----

const ctx: AlertContext = {
  clusterName: 'oke', hostName: 'node-1', namespace: 'shop', podName: 'web-7d4b9c-x2x', labels: { app: 'web', tier: 'front' },
  containerId: 'f'.repeat(64), containerName: 'nginx', containerImage: `docker.io/library/nginx:1.27@sha256:${'e'.repeat(64)}`,
  owner: { Ref: 'Deployment', Name: 'web', Namespace: 'shop' }, parentProcessName: '/bin/bash',
};
const rule: ProfileRule = {
  action: 'Block', target: { type: 'protocol', protocol: 'raw' }, readOnly: false, ownerOnly: false, fromSource: '', containers: [],
  policies: ['shop/no-raw'], severity: 7, tags: ['MITRE', 'T1040'], message: 'raw socket',
};
const alert = decisionAlert({
  pid: 4242, ppid: 4200, uid: 1000, exe: '/usr/bin/python3', source: '/usr/bin/python3', target: 'raw', hook: 'socket', kind: 'network',
  action: 'Block', denied: true, errno: 1, rule, sock: { family: 2, type: 3, protocol: 1 },
}, ctx, new Date(1_700_000_123_456));
const log = visibilityLog({ pid: 77, ppid: 76, uid: 0, exe: '/bin/cat', source: '/bin/cat', target: '/etc/hostname', hook: 'open', kind: 'file', denied: false, errno: 0 },
  ctx, 'app=web,tier=front', new Date(1_700_000_000_000));

/** Without the fields at their default ('', 0, empty list or map): proto3 may leave them off the
 *  wire (protobufjs writes a field set to '' or 0; Go's encoder leaves it out): equal either way. */
function nonDefault(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === '' || v === 0 || v === undefined || v === null) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (typeof v === 'object' && !Array.isArray(v)) {
      const inner = nonDefault(v as Record<string, unknown>);
      if (Object.keys(inner).length === 0 && !('ExecID' in (v as object) || 'Ref' in (v as object))) continue;
      out[k] = inner;
      continue;
    }
    out[k] = v;
  }
  return out;
}

const identity = (b: Buffer): Buffer => b;

async function rawStream(port: number, rpc: string, request: Buffer, want: number): Promise<Buffer[]> {
  const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const got: Buffer[] = [];
  try {
    const call = c.makeServerStreamRequest(`/${KUBEARMOR_SERVICE.package}.${KUBEARMOR_SERVICE.service}/${rpc}`, identity, identity, request);
    await new Promise<void>((resolve, reject) => {
      call.on('data', (b: Buffer) => { got.push(b); if (got.length >= want) resolve(); });
      call.on('error', (e: Error) => { if (got.length < want) reject(e); });
      call.on('end', () => resolve());
    });
    call.cancel();
  } finally {
    c.close();
  }
  return got;
}

async function server(): Promise<LogServer> {
  const s = await startLogServer({ port: 0, host: '127.0.0.1', clusterName: 'oke', hostName: 'node-1', hostIP: '10.0.10.12' });
  assert.ok(s.ok, s.ok ? '' : s.error.message);
  return s.value;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), `timed out waiting for ${what}`);
}

test('raw bytes of a served Alert, Log, Message and HealthCheck reply, read with the table alone, carry every field under KubeArmor\'s number and wire type', async () => {
  const s = await server();
  try {
    // HealthCheck: NonceMessage in, ReplyMessage out, both written and read by hand
    const c = new grpc.Client(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
    const reply = await new Promise<Buffer>((resolve, reject) => {
      c.makeUnaryRequest(`/${KUBEARMOR_SERVICE.package}.${KUBEARMOR_SERVICE.service}/HealthCheck`, identity, identity,
        encodeMessage('NonceMessage', { nonce: 31337 }), (e, r) => (e || r === undefined ? reject(e ?? new Error('no reply')) : resolve(r)));
    });
    c.close();
    assert.deepEqual(decodeMessage('ReplyMessage', reply), { Retval: 31337 });

    const request = encodeMessage('RequestMessage', { Filter: 'all' });
    const alerts = rawStream(s.port, 'WatchAlerts', request, 2);
    const logs = rawStream(s.port, 'WatchLogs', request, 1);
    const messages = rawStream(s.port, 'WatchMessages', request, 1);
    await until(() => s.stats().alerts.watchers === 1 && s.stats().logs.watchers === 1 && s.stats().messages.watchers === 1, 'three watchers');
    s.publishAlert(alert);
    s.publishAlert(thresholdAlert(12, ctx, new Date(1_700_000_000_000), 200));
    s.publishLog(log);
    s.publishMessage('WARN', 'pod not enforced', new Date(1_700_000_000_000));

    const [a, threshold] = await alerts;
    const da = decodeMessage('Alert', a!);
    // values read by number, checked literally
    assert.equal(da.Timestamp, 1_700_000_123);
    assert.equal(da.UpdatedTime, '2023-11-14T22:15:23.456Z');
    assert.equal(da.PodName, 'web-7d4b9c-x2x');
    assert.equal(da.ContainerID, 'f'.repeat(64));
    assert.equal(da.HostPID, 4242);
    assert.equal(da.HostPPID, 4200);
    assert.equal(da.UID, 1000);
    assert.equal(da.Severity, '7');
    assert.deepEqual(da.ATags, ['MITRE', 'T1040']);
    assert.equal(da.Resource, 'domain=AF_INET type=SOCK_RAW protocol=ICMP');
    assert.deepEqual(da.EventData, { lsm: 'SOCKET_CREATE', domain: 'AF_INET', type: 'SOCK_RAW', protocol: 'ICMP' });
    assert.deepEqual(nonDefault(da.ExecEvent as Decoded), { ExecutableName: 'python3' });
    assert.equal(da.Enforcer, 'BPFLSM');
    assert.equal(da.ContainerImage, `docker.io/library/nginx:1.27@sha256:${'e'.repeat(64)}`);
    assert.deepEqual(da.Owner, { Ref: 'Deployment', Name: 'web', Namespace: 'shop' });
    // and every field the product fills arrives under the name the table gives its number
    assert.deepEqual(nonDefault(da), nonDefault(pbAlert(alert) as unknown as Record<string, unknown>));

    const dt = decodeMessage('Alert', threshold!);
    assert.equal(dt.Operation, 'AlertThreshold');
    assert.equal(dt.MaxAlertsPerSec, 200);

    const [l] = await logs;
    const dl = decodeMessage('Log', l!);
    assert.equal(dl.Type, 'ContainerLog');
    assert.equal(dl.Resource, '/etc/hostname');
    assert.equal(dl.Labels, 'app=web,tier=front');
    assert.equal(dl.HostPID, 77);
    assert.equal(dl.ContainerImage, `docker.io/library/nginx:1.27@sha256:${'e'.repeat(64)}`);
    assert.deepEqual(dl.Owner, { Ref: 'Deployment', Name: 'web', Namespace: 'shop' });
    assert.deepEqual(nonDefault(dl), nonDefault(pbLog(log) as unknown as Record<string, unknown>));

    const [m] = await messages;
    assert.deepEqual(nonDefault(decodeMessage('Message', m!)), {
      Timestamp: 1_700_000_000, UpdatedTime: '2023-11-14T22:13:20.000Z', ClusterName: 'oke', HostName: 'node-1', HostIP: '10.0.10.12', Type: 'Message', Level: 'WARN', Message: 'pod not enforced',
    });
  } finally {
    await s.close();
  }
});

test('the wire reader refuses a field number outside the contract and a wrong wire type', () => {
  // Alert field 45 (none), length-delimited
  assert.throws(() => decodeMessage('Alert', Buffer.from([0xea, 0x02, 1, 0x41])), /field number 45/); // key (45 << 3) | 2 as a varint
  // Alert.PodName (6) sent as a varint
  assert.throws(() => decodeMessage('Alert', Buffer.from([(6 << 3) | 0, 1])), /PodName \(6\): wire type 0/);
});
