// The enforcer daemon's /metrics, /healthz and /readyz on the host, where it cannot enforce (its
// cgroup root is a plain folder): scraped and parsed; the pods gauge and alert counts move when a
// pod manifest is added, the gRPC watchers gauge when a client watches; /readyz says ready (the
// verdict is known: this node cannot enforce).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { pino } from 'pino';
import { runEnforcer } from '../../enforcer/daemon.ts';
import { KUBEARMOR_PROTO } from '../../enforcer/grpc/server.ts';
import { enforcerHealth } from '../../enforcer/health.ts';
import { parsePrometheus, sampleValue } from '../support/prom-text.ts';

const KEY = 'daemon-metrics-test-key-0123456789';

/** A port free now (the gRPC server takes a fixed port; 0 turns it off). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address() as AddressInfo; srv.close(() => resolve(port)); });
  });
}

function unsignedPod(name: string, uid: string, nodeName?: string): object {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop', uid }, spec: { containers: [{ name: 'c' }], ...(nodeName ? { nodeName } : {}) } };
}

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    assert.ok(Date.now() - t0 < 30_000, what);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('enforcer metrics: scraped and parsed, values move; /healthz, /readyz; skipped manifests logged with file and reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-daemon-metrics-'));
  try {
    const keyFile = join(dir, 'key');
    writeFileSync(keyFile, `${KEY}\n`);
    const pods = join(dir, 'pods');
    mkdirSync(pods);
    writeFileSync(join(pods, 'a.json'), JSON.stringify(unsignedPod('a', '11111111-1111-4111-8111-111111111111')));
    writeFileSync(join(pods, 'elsewhere.json'), JSON.stringify(unsignedPod('far', '33333333-3333-4333-8333-333333333333', 'node-2')));
    const cgroupRoot = join(dir, 'cgroup');
    mkdirSync(cgroupRoot);
    const logs: Record<string, unknown>[] = [];
    const sink = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l) logs.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
    let stop!: () => void;
    const stopSignal = new Promise<void>((r) => { stop = r; });
    let port = 0;
    const grpcPort = await freePort();
    const running = runEnforcer({
      signingKeyFile: keyFile, cgroupRoot, attachMode: 'auto', nodeName: 'node-1', clusterName: 'test',
      podsDir: pods, pinDir: join(dir, 'pins'), sweepIntervalMs: 60_000, alertOut: () => {}, logger: pino(sink), stopSignal,
      metricsPort: 0, metricsHost: '127.0.0.1', onMetricsListening: (p) => { port = p; }, grpcPort, grpcHost: '127.0.0.1',
    });
    await until(() => logs.some((l) => l.msg === 'running without enforcement'), 'start-up finished');
    assert.ok(port > 0, 'the metrics server listens');
    const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);
    assert.equal((await get('/healthz')).status, 200);
    const ready = await get('/readyz');
    assert.equal(ready.status, 200, 'ready: pods listed and the verdict known (this node cannot enforce)');
    const body = await ready.json() as { status: string; enforcing: boolean; reason: string };
    assert.equal(body.enforcing, false, '/readyz says the node does not enforce');
    assert.match(body.reason, /CGROUP_NOT_UNIFIED/);

    const scrape = async () => parsePrometheus(await (await get('/metrics')).text());
    const s = await scrape();
    for (const [name, type] of [
      ['armorgate_enforcer_enforcing', 'gauge'], ['armorgate_enforcer_not_enforcing', 'gauge'], ['armorgate_enforcer_pods', 'gauge'],
      ['armorgate_enforcer_events_total', 'counter'], ['armorgate_enforcer_events_dropped_total', 'counter'], ['armorgate_enforcer_alerts_total', 'counter'],
      ['armorgate_enforcer_attach_duration_seconds', 'histogram'], ['armorgate_enforcer_map_entries', 'gauge'], ['armorgate_enforcer_map_fill_ratio', 'gauge'],
      ['armorgate_enforcer_rules_loaded', 'gauge'], ['process_cpu_seconds_total', 'counter'], ['process_resident_memory_bytes', 'gauge'], ['nodejs_heap_size_used_bytes', 'gauge'],
      ['armorgate_enforcer_logs_total', 'counter'], ['armorgate_enforcer_logs_dropped_total', 'counter'],
      ['armorgate_enforcer_grpc_watchers', 'gauge'], ['armorgate_enforcer_grpc_dropped_total', 'counter'],
    ] as const) assert.equal(s.types.get(name), type, name);
    for (const [t, type] of s.types) if (type === 'counter') assert.match(t, /_total$/, `${t}: a counter ends in _total`);
    assert.equal(sampleValue(s, 'armorgate_enforcer_enforcing'), 0);
    assert.equal(sampleValue(s, 'armorgate_enforcer_not_enforcing', { reason: 'E_UNAVAILABLE' }), 1);
    assert.equal(sampleValue(s, 'armorgate_enforcer_pods', { state: 'not_enforced', reason: 'E_NO_PROFILE' }), 1);
    assert.equal(sampleValue(s, 'armorgate_enforcer_pods', { state: 'enforced' }), 0);
    assert.equal(sampleValue(s, 'armorgate_enforcer_alerts_total', { type: 'SystemEvent', operation: 'Profile' }), 1);
    assert.equal(sampleValue(s, 'armorgate_enforcer_logs_dropped_total'), 0);
    for (const rpc of ['WatchAlerts', 'WatchLogs', 'WatchMessages']) {
      assert.equal(sampleValue(s, 'armorgate_enforcer_grpc_watchers', { rpc }), 0, `${rpc}: no watcher yet`);
      assert.equal(sampleValue(s, 'armorgate_enforcer_grpc_dropped_total', { rpc }), 0, `${rpc}: nothing dropped`);
    }
    // a gRPC watcher of the enforcer's alerts moves the watchers gauge, read from the server at scrape
    const feeder = (grpc.loadPackageDefinition(protoLoader.loadSync(KUBEARMOR_PROTO, { keepCase: true })) as unknown as { feeder: { LogService: new (a: string, c: grpc.ChannelCredentials) => grpc.Client & { WatchAlerts(r: object): grpc.ClientReadableStream<unknown> } } }).feeder;
    const client = new feeder.LogService(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
    const watching = client.WatchAlerts({ Filter: 'all' });
    watching.on('error', () => {});
    await until(async () => sampleValue(await scrape(), 'armorgate_enforcer_grpc_watchers', { rpc: 'WatchAlerts' }) === 1, 'the watchers gauge moves');
    watching.cancel();
    client.close();

    const skipped = logs.find((l) => l.msg === 'pod manifest skipped');
    assert.ok(skipped, 'the other node\'s manifest is logged');
    assert.match(String(skipped.file), /elsewhere\.json$/);
    assert.match(String(skipped.message), /node "node-2", this is node "node-1"/);
    const unsigned = logs.find((l) => l.msg === 'pod manifest unsigned');
    assert.match(String(unsigned?.file), /a\.json$/);

    writeFileSync(join(pods, 'b.json'), JSON.stringify(unsignedPod('b', '22222222-2222-4222-8222-222222222222')));
    await until(async () => sampleValue(await scrape(), 'armorgate_enforcer_pods', { state: 'not_enforced', reason: 'E_NO_PROFILE' }) === 2, 'the pods gauge moves');
    assert.equal(sampleValue(await scrape(), 'armorgate_enforcer_alerts_total', { type: 'SystemEvent', operation: 'Profile' }), 2, 'and the alert count');
    stop();
    assert.equal(await running, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readiness: not ready while starting or waiting for kubepods; ready when enforcing or known unable', () => {
  const h = (s: Parameters<typeof enforcerHealth>[0] extends () => infer S ? S : never) => enforcerHealth(() => s);
  assert.match(h({ sourceStarted: false, unavailable: null, waiting: null }).ready() ?? '', /starting/);
  assert.match(h({ sourceStarted: true, unavailable: null, waiting: 'no kubepods cgroup under /sys/fs/cgroup' }).ready() ?? '', /not enforcing yet: no kubepods/);
  assert.equal(h({ sourceStarted: true, unavailable: null, waiting: null }).ready(), null);
  assert.equal(h({ sourceStarted: true, unavailable: 'CGROUP_NOT_UNIFIED', waiting: null }).ready(), null);
  assert.equal(h({ sourceStarted: false, unavailable: null, waiting: null }).live(), null);
});
