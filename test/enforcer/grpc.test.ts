// KubeArmor's gRPC log service on the enforcer, host-side: a client built from the .proto (by
// default the project's; AG_KUBEARMOR_PROTO=path/to/KubeArmor/protobuf/kubearmor.proto runs the
// same checks with a client built from KubeArmor's own file), health, filters, many watchers, a
// slow watcher (bounded queue, drops counted, the others unaffected), watchers that disconnect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { decisionAlert, type AlertContext, type KubeArmorAlert } from '../../enforcer/alerts.ts';
import { Feed, type WatchStream } from '../../enforcer/grpc/feed.ts';
import { HEALTH_PROTO, KUBEARMOR_PROTO, startLogServer, type LogServer } from '../../enforcer/grpc/server.ts';
import { visibilityLog } from '../../enforcer/visibility.ts';
import type { ProfileRule } from '../../policy/types.ts';

const PROTO = process.env.AG_KUBEARMOR_PROTO ?? KUBEARMOR_PROTO;
const OPTS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true };
type Ctor = new (addr: string, creds: grpc.ChannelCredentials) => grpc.Client & Record<string, (...a: unknown[]) => unknown>;
const feeder = (grpc.loadPackageDefinition(protoLoader.loadSync(PROTO, OPTS)) as unknown as { feeder: { LogService: Ctor } }).feeder;
const healthPkg = (grpc.loadPackageDefinition(protoLoader.loadSync(HEALTH_PROTO, OPTS)) as unknown as { grpc: { health: { v1: { Health: Ctor } } } }).grpc.health.v1;

const ctx: AlertContext = {
  clusterName: 'oke', hostName: 'node-1', namespace: 'shop', podName: 'web', labels: { app: 'web' },
  containerId: 'c0ffee', containerName: 'web', containerImage: 'registry.example/web:3@sha256:0123', owner: { Ref: 'Deployment', Name: 'web', Namespace: 'shop' },
  parentProcessName: '/bin/bash',
};
const rule: ProfileRule = {
  action: 'Block', target: { type: 'protocol', protocol: 'raw' }, readOnly: false, ownerOnly: false, fromSource: '', containers: [],
  policies: ['shop/no-raw'], severity: 5, tags: ['MITRE', 'net'], message: 'raw socket',
};
function alert(i: number): KubeArmorAlert {
  return decisionAlert({
    pid: 100 + i, ppid: 99, uid: 0, exe: '/usr/bin/python3', source: '/usr/bin/python3', target: 'raw', hook: 'socket', kind: 'network',
    action: 'Block', denied: true, errno: 1, rule, sock: { family: 2, type: 3, protocol: 1 },
  }, ctx, new Date(1_700_000_000_000 + i));
}

type Line = Record<string, unknown> & { msg: string };
async function server(queueSize = 1000, lines: Line[] = []): Promise<LogServer> {
  const log = { info: (o: object, msg: string) => { lines.push({ ...o, msg }); }, warn: (o: object, msg: string) => { lines.push({ ...o, msg }); } };
  const s = await startLogServer({ port: 0, host: '127.0.0.1', queueSize, clusterName: 'oke', hostName: 'node-1', hostIP: '10.0.10.12', log });
  assert.ok(s.ok, s.ok ? '' : s.error.message);
  return s.value;
}
const client = (s: LogServer): grpc.Client & Record<string, (...a: unknown[]) => unknown> => new feeder.LogService(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());

/** Opens a stream and collects what it receives; `ended` resolves when the server ends it. */
function watch(c: grpc.Client & Record<string, (...a: unknown[]) => unknown>, rpc: string, filter: string) {
  const got: Record<string, unknown>[] = [];
  const call = c[rpc]!({ Filter: filter }) as grpc.ClientReadableStream<Record<string, unknown>>;
  call.on('data', (d: Record<string, unknown>) => { got.push(d); });
  const ended = new Promise<string>((resolve) => { call.on('end', () => resolve('end')); call.on('error', (e: Error) => resolve(`error ${e.message}`)); });
  return { got, call, ended };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), `timed out waiting for ${what}`);
}

const THEIRS = process.env.AG_KUBEARMOR_PROTO;
test('the project proto carries KubeArmor\'s package, service, messages and field numbers', { skip: THEIRS !== undefined && existsSync(THEIRS) ? false : 'set AG_KUBEARMOR_PROTO to KubeArmor\'s protobuf/kubearmor.proto to compare' }, () => {
  const fields = (text: string): string[] => [...text.matchAll(/^\s*(?:repeated\s+)?([\w<>, .]+)\s+(\w+)\s*=\s*(\d+);/gm)].map((m) => `${m[2]}=${m[3]}:${m[1]!.replace(/\s+/g, '')}`).sort();
  assert.deepEqual(fields(readFileSync(KUBEARMOR_PROTO, 'utf8')), fields(readFileSync(THEIRS!, 'utf8')));
});

test('HealthCheck echoes the nonce; the standard health service says SERVING', async () => {
  const s = await server();
  const c = client(s);
  try {
    const reply = await new Promise<{ Retval: number }>((resolve, reject) => { c.HealthCheck!({ nonce: 4242 }, (e: Error | null, r: { Retval: number }) => (e ? reject(e) : resolve(r))); });
    assert.equal(reply.Retval, 4242);
    const h = new healthPkg.Health(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
    for (const service of ['', 'feeder.LogService']) {
      const r = await new Promise<{ status: string }>((resolve, reject) => { h.Check!({ service }, (e: Error | null, v: { status: string }) => (e ? reject(e) : resolve(v))); });
      assert.equal(r.status, 'SERVING');
    }
    const unknown = await new Promise<grpc.ServiceError | null>((resolve) => { h.Check!({ service: 'nope' }, (e: grpc.ServiceError | null) => resolve(e)); });
    assert.equal(unknown?.code, grpc.status.NOT_FOUND);
    h.close();
  } finally {
    c.close();
    await s.close();
  }
});

test('WatchAlerts (all, policy) receives alerts with KubeArmor\'s fields; WatchLogs (all, system) the logs; other filters end at once', async () => {
  const s = await server();
  const c = client(s);
  try {
    const all = watch(c, 'WatchAlerts', 'all');
    const policy = watch(c, 'WatchAlerts', 'policy');
    const logs = watch(c, 'WatchLogs', 'system');
    const wrongA = watch(c, 'WatchAlerts', 'system');
    const wrongL = watch(c, 'WatchLogs', 'policy');
    assert.equal(await wrongA.ended, 'end');
    assert.equal(await wrongL.ended, 'end');
    await until(() => s.stats().alerts.watchers === 2 && s.stats().logs.watchers === 1, 'watchers');
    const a = alert(1);
    s.publishAlert(a);
    const l = visibilityLog({ pid: 7, ppid: 6, uid: 0, exe: '/bin/cat', source: '/bin/cat', target: '/etc/hostname', hook: 'open', kind: 'file', denied: false, errno: 0 }, ctx, 'app=web', new Date(1_700_000_000_000));
    s.publishLog(l);
    await until(() => all.got.length === 1 && policy.got.length === 1 && logs.got.length === 1, 'the alert and the log');
    const g = all.got[0]!;
    for (const k of ['Timestamp', 'UpdatedTime', 'ClusterName', 'HostName', 'NamespaceName', 'PodName', 'Owner', 'Labels', 'ContainerID', 'ContainerName', 'ContainerImage', 'HostPID', 'HostPPID', 'PPID', 'PID', 'UID', 'ParentProcessName', 'ProcessName', 'PolicyName', 'Severity', 'Tags', 'Message', 'Type', 'Source', 'Operation', 'Resource', 'Data', 'Enforcer', 'Action', 'Result'] as const) {
      assert.deepEqual(g[k], a[k], k);
    }
    assert.deepEqual(g.ATags, ['MITRE', 'net']);
    assert.equal(g.Resource, 'domain=AF_INET type=SOCK_RAW protocol=ICMP');
    assert.deepEqual(g.EventData, { lsm: 'SOCKET_CREATE', domain: 'AF_INET', type: 'SOCK_RAW', protocol: 'ICMP' });
    assert.deepEqual(g.ExecEvent, { ExecID: '', ExecutableName: 'python3' });
    assert.equal(g.Enforcer, 'BPFLSM');
    const lg = logs.got[0]!;
    assert.equal(lg.Type, 'ContainerLog');
    assert.equal(lg.Operation, 'File');
    assert.equal(lg.Resource, '/etc/hostname');
    assert.equal(lg.Data, 'lsm=FILE_OPEN');
    assert.equal(lg.Result, 'Passed');
    assert.equal(lg.ContainerImage, 'registry.example/web:3@sha256:0123');
    assert.deepEqual(lg.Owner, { Ref: 'Deployment', Name: 'web', Namespace: 'shop' });
    assert.equal(lg.Timestamp, 1_700_000_000);
    all.call.cancel(); policy.call.cancel(); logs.call.cancel();
  } finally {
    c.close();
    await s.close();
  }
});

test('ten watchers each receive every alert; a disconnected watcher is removed', async () => {
  const s = await server();
  const c = client(s);
  try {
    const ws = Array.from({ length: 10 }, () => watch(c, 'WatchAlerts', 'all'));
    await until(() => s.stats().alerts.watchers === 10, '10 watchers');
    for (let i = 0; i < 200; i++) s.publishAlert(alert(i));
    await until(() => ws.every((w) => w.got.length === 200), 'every watcher to have 200 alerts');
    assert.deepEqual(ws[3]!.got.map((g) => g.PID), Array.from({ length: 200 }, (_, i) => 100 + i), 'in order');
    ws[0]!.call.cancel();
    await until(() => s.stats().alerts.watchers === 9, 'the cancelled watcher to go');
    s.publishAlert(alert(500));
    await until(() => ws.slice(1).every((w) => w.got.length === 201), 'the others to go on');
    for (const w of ws.slice(1)) w.call.cancel();
    await until(() => s.stats().alerts.watchers === 0, 'every watcher to go');
  } finally {
    c.close();
    await s.close();
  }
});

test('a slow watcher loses what its bounded queue cannot hold, counted; a fast one gets everything, and publishing never waits; each one\'s counts are logged when it leaves', async () => {
  const lines: Line[] = [];
  const s = await server(100, lines);
  const c = client(s);
  try {
    const fast = watch(c, 'WatchAlerts', 'all');
    const slow = watch(c, 'WatchAlerts', 'all');
    slow.call.pause(); // reads nothing: HTTP/2 flow control, then the stream's buffer, then the queue fill
    await until(() => s.stats().alerts.watchers === 2, 'watchers');
    const total = 5000;
    let longest = 0;
    for (let i = 0; i < total; i += 50) {
      const t0 = performance.now();
      for (let j = i; j < i + 50; j++) s.publishAlert(alert(j));
      longest = Math.max(longest, performance.now() - t0);
      await until(() => fast.got.length === i + 50, `the fast watcher to have ${i + 50}`);
    }
    assert.equal(fast.got.length, total, 'the fast watcher lost nothing');
    assert.deepEqual(fast.got.map((g) => g.PID), Array.from({ length: total }, (_, i) => 100 + i), 'the fast watcher received them in order');
    const st = s.stats().alerts;
    assert.ok(st.dropped > 0, 'the slow watcher dropped');
    assert.ok(st.dropped < total, 'it took some before its queue was full');
    slow.call.resume();
    await until(() => s.stats().alerts.delivered + s.stats().alerts.dropped === 2 * total, 'the slow watcher\'s queue to drain');
    await until(() => slow.got.length === total - s.stats().alerts.dropped, 'the slow watcher to receive what it took');
    assert.deepEqual(slow.got.slice(0, 3).map((g) => g.PID), [100, 101, 102], 'it received the oldest first');
    console.log(`slow watcher: received ${slow.got.length}, dropped ${s.stats().alerts.dropped}; longest publish of 50 alerts ${longest.toFixed(1)} ms`);
    assert.ok(!lines.some((l) => l.msg === 'gRPC watcher removed'), 'nobody left yet');
    fast.call.cancel();
    await until(() => lines.filter((l) => l.msg === 'gRPC watcher removed').length === 1, 'the fast watcher\'s line');
    slow.call.cancel();
    await until(() => lines.filter((l) => l.msg === 'gRPC watcher removed').length === 2, 'the slow watcher\'s line');
    const gone = lines.filter((l) => l.msg === 'gRPC watcher removed');
    assert.deepEqual(gone.map((l) => [l.rpc, l.delivered, l.dropped]), [
      ['WatchAlerts', total, 0],
      ['WatchAlerts', slow.got.length, s.stats().alerts.dropped],
    ], 'rpc, delivered and dropped of each watcher as it leaves');
    assert.ok(gone.every((l) => typeof l.peer === 'string' && l.peer !== ''), 'and who it was');
    assert.equal(lines.filter((l) => l.msg === 'gRPC watcher added').length, 2);
  } finally {
    c.close();
    await s.close();
  }
});

test('Feed: a stream that refuses writes queues up to the bound, drops the rest, and resumes on drain', () => {
  const written: number[] = [];
  let accept = true;
  let drain: (() => void) | null = null;
  const stream: WatchStream<number> = {
    write: (n) => { written.push(n); return accept; },
    once: (_e, l) => { drain = l; },
  };
  const feed = new Feed<number>(3);
  const w = feed.watch(stream);
  feed.publish(1);
  accept = false;
  feed.publish(2); // written, then the stream is full
  for (let i = 3; i <= 10; i++) feed.publish(i);
  assert.deepEqual(written, [1, 2]);
  assert.equal(w.queued, 3);
  assert.equal(w.dropped, 5);
  accept = true;
  (drain as unknown as () => void)();
  assert.deepEqual(written, [1, 2, 3, 4, 5]);
  assert.deepEqual(feed.stats(), { watchers: 1, delivered: 5, dropped: 5 });
  w.close();
  feed.publish(11);
  assert.equal(feed.stats().watchers, 0);
});

test('WatchMessages: the enforcer\'s own log records (pino, through the tap) as KubeArmor Messages', async () => {
  const s = await server();
  const c = client(s);
  const { MessageTap } = await import('../../enforcer/grpc/messages.ts');
  const { makeLogger } = await import('../../enforcer/daemon.ts');
  const tap = new MessageTap();
  tap.listen((level, message, time) => s.publishMessage(level, message, time));
  const log = makeLogger('info', tap);
  try {
    const m = watch(c, 'WatchMessages', '');
    await until(() => s.stats().messages.watchers === 1, 'the watcher');
    log.warn({ pod: 'shop/web' }, 'pod not enforced');
    log.debug({}, 'below info: not sent');
    log.info({}, 'ready');
    await until(() => m.got.length === 2, 'two messages');
    assert.deepEqual(m.got.map((g) => [g.Type, g.Level, g.Message, g.ClusterName, g.HostName, g.HostIP]), [
      ['Message', 'WARN', 'pod not enforced {"pod":"shop/web"}', 'oke', 'node-1', '10.0.10.12'],
      ['Message', 'INFO', 'ready', 'oke', 'node-1', '10.0.10.12'],
    ]);
    m.call.cancel();
  } finally {
    tap.listen(null);
    c.close();
    await s.close();
  }
});
