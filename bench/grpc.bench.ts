// `npm run bench:grpc`: the enforcer's gRPC log service on this host, without the kernel: how many
// visibility logs per second reach 1 and 10 WatchLogs watchers (clients in this process, built from
// the project's proto), and how many a watcher's bounded queue drops when logs are published
// faster than it reads. BENCH_GRPC_LOGS (default 50000) logs, published in bursts of 500.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { KUBEARMOR_PROTO, startLogServer } from '../enforcer/grpc/server.ts';
import { visibilityLog, type KubeArmorLog } from '../enforcer/visibility.ts';

const TOTAL = Number(process.env.BENCH_GRPC_LOGS ?? 50000);
const BURST = 500;
type Client = grpc.Client & Record<string, (r: unknown) => grpc.ClientReadableStream<unknown>>;
const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(KUBEARMOR_PROTO, { keepCase: true, longs: Number, defaults: true })) as unknown as { feeder: { LogService: new (a: string, c: grpc.ChannelCredentials) => Client } };

const ctx = { clusterName: 'bench', hostName: 'node', namespace: 'shop', podName: 'web', labels: { app: 'web' }, containerId: 'c'.repeat(64), containerName: 'web', parentProcessName: '/bin/sh' };
const sample: KubeArmorLog = visibilityLog({ pid: 4242, ppid: 4200, uid: 0, exe: '/usr/bin/cat', source: '/usr/bin/cat', target: '/etc/os-release', hook: 'open', kind: 'file', denied: false, errno: 0 }, ctx, 'app=web', new Date());

async function run(watchers: number, paced: boolean): Promise<Record<string, unknown>> {
  const started = await startLogServer({ port: 0, host: '127.0.0.1', clusterName: 'bench', hostName: 'node' });
  if (!started.ok) throw new Error(started.error.message);
  const s = started.value;
  const clients: Client[] = [];
  const got = Array.from({ length: watchers }, () => 0);
  for (let i = 0; i < watchers; i++) {
    const c = new pkg.feeder.LogService(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
    clients.push(c);
    const call = c.WatchLogs!({ Filter: 'all' });
    call.on('data', () => { got[i]! += 1; });
    call.on('error', () => {});
  }
  while (s.stats().logs.watchers < watchers) await new Promise((r) => setTimeout(r, 5));
  const t0 = performance.now();
  for (let n = 0; n < TOTAL; n += BURST) {
    for (let j = 0; j < BURST; j++) s.publishLog(sample);
    // paced: the next burst once every watcher has what was published (the fastest sustained
    // rate); unpaced: as fast as the publisher can go (saturation)
    if (paced) while (Math.min(...got) < n + BURST) await new Promise((r) => setImmediate(r));
    else await new Promise((r) => setImmediate(r));
  }
  const published = performance.now();
  while (s.stats().logs.delivered + s.stats().logs.dropped < TOTAL * watchers || Math.min(...got) < s.stats().logs.delivered / watchers - 1) {
    const before = got.reduce((a, b) => a + b, 0);
    await new Promise((r) => setTimeout(r, 50));
    if (got.reduce((a, b) => a + b, 0) === before && s.stats().logs.delivered + s.stats().logs.dropped >= TOTAL * watchers) break;
  }
  const secs = (performance.now() - t0) / 1000;
  const st = s.stats().logs;
  for (const c of clients) c.close();
  await s.close();
  return {
    watchers, mode: paced ? 'paced (every watcher keeps up)' : 'saturation (published as fast as possible)',
    logs: TOTAL, seconds: Number(secs.toFixed(2)), publishSeconds: Number(((published - t0) / 1000).toFixed(2)),
    receivedPerWatcher: { min: Math.min(...got), max: Math.max(...got) },
    logsPerSecondPerWatcher: Math.round(Math.min(...got) / secs), logsPerSecondAllWatchers: Math.round(got.reduce((a, b) => a + b, 0) / secs),
    droppedByWatcherQueues: st.dropped,
  };
}

process.stdout.write(`gRPC log service benchmark (host, Node ${process.version}, ${TOTAL} logs, clients in-process)\n`);
for (const [w, paced] of [[1, true], [10, true], [1, false], [10, false]] as const) {
  process.stdout.write(`${JSON.stringify(await run(w, paced))}\n`);
}
