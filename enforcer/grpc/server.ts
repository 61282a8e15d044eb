// KubeArmor's gRPC log service (feeder.LogService) on the enforcer, plus the standard gRPC health
// service (grpc.health.v1.Health). Every node's enforcer serves its own node's alerts and logs,
// as each KubeArmor daemon does on port 32767. Filters as KubeArmor's feeder: WatchAlerts
// answers `all` and `policy`, WatchLogs `all` and `system` (any other filter: the stream ends at
// once, empty); WatchMessages takes any filter. Each watcher has its own bounded queue (feed.ts).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { err, ok, type Result } from '../../policy/types.ts';
import type { KubeArmorAlert } from '../alerts.ts';
import type { KubeArmorLog } from '../visibility.ts';
import { Feed, type FeedStats, type WatchStream } from './feed.ts';
import { pbAlert, pbLog, pbMessage, type PbAlert, type PbLog, type PbMessage } from './shapes.ts';

/** KubeArmor's port. */
export const DEFAULT_GRPC_PORT = 32767;
const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true };

export const KUBEARMOR_PROTO = fileURLToPath(new URL('./kubearmor.proto', import.meta.url));
export const HEALTH_PROTO = fileURLToPath(new URL('./health.proto', import.meta.url));

export interface LogServerOptions {
  port: number;
  /** default 0.0.0.0 (every interface, as KubeArmor) */
  host?: string;
  /** records one watcher may have waiting before new ones are dropped for it (default 1000) */
  queueSize?: number;
  clusterName: string;
  hostName: string;
  /** the node's IP, Message.HostIP ('' or absent: unknown) */
  hostIP?: string;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

export interface LogServerStats { alerts: FeedStats; logs: FeedStats; messages: FeedStats }

export interface LogServer {
  readonly port: number;
  publishAlert(a: KubeArmorAlert): void;
  publishLog(l: KubeArmorLog): void;
  /** Whether a WatchLogs call is open (publishLog drops the log otherwise). */
  watchingLogs(): boolean;
  publishMessage(level: string, message: string, now?: Date): void;
  stats(): LogServerStats;
  close(): Promise<void>;
}

interface Service { service: grpc.ServiceDefinition }
type Call<T> = grpc.ServerWritableStream<{ Filter?: string }, T>;

function serviceOf(file: string, path: string[]): Service {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(file, LOADER_OPTIONS)) as unknown as Record<string, unknown>;
  let node: unknown = pkg;
  for (const p of path) node = (node as Record<string, unknown>)[p];
  return node as Service;
}

export async function startLogServer(o: LogServerOptions): Promise<Result<LogServer>> {
  let logService: Service;
  let health: Service;
  try {
    logService = serviceOf(KUBEARMOR_PROTO, ['feeder', 'LogService']);
    health = serviceOf(HEALTH_PROTO, ['grpc', 'health', 'v1', 'Health']);
  } catch (e) {
    return err('E_GRPC_PROTO', `the gRPC service definitions could not be loaded: ${e instanceof Error ? e.message : String(e)}`);
  }
  const size = o.queueSize ?? 1000;
  const alerts = new Feed<PbAlert>(size);
  const logs = new Feed<PbLog>(size);
  const messages = new Feed<PbMessage>(size);
  const calls = new Set<Call<unknown>>();

  function watch<T>(feed: Feed<T>, call: Call<T>, what: string): void {
    const w = feed.watch(call as unknown as WatchStream<T>);
    calls.add(call as Call<unknown>);
    o.log?.info({ rpc: what, filter: call.request?.Filter ?? '', peer: call.getPeer() }, 'gRPC watcher added');
    let gone = false;
    const bye = (): void => {
      if (gone) return;
      gone = true;
      w.close();
      calls.delete(call as Call<unknown>);
      o.log?.info({ rpc: what, peer: call.getPeer(), delivered: w.delivered, dropped: w.dropped }, 'gRPC watcher removed');
    };
    call.on('cancelled', bye);
    call.on('close', bye);
    call.on('error', bye);
    call.on('finish', bye);
  }

  const server = new grpc.Server();
  server.addService(logService.service, {
    HealthCheck: (call: grpc.ServerUnaryCall<{ nonce?: number }, { Retval: number }>, cb: grpc.sendUnaryData<{ Retval: number }>) => {
      cb(null, { Retval: call.request.nonce ?? 0 });
    },
    WatchMessages: (call: Call<PbMessage>) => { watch(messages, call, 'WatchMessages'); },
    WatchAlerts: (call: Call<PbAlert>) => {
      const f = call.request?.Filter ?? '';
      if (f !== 'all' && f !== 'policy') { call.end(); return; }
      watch(alerts, call, 'WatchAlerts');
    },
    WatchLogs: (call: Call<PbLog>) => {
      const f = call.request?.Filter ?? '';
      if (f !== 'all' && f !== 'system') { call.end(); return; }
      watch(logs, call, 'WatchLogs');
    },
  });
  const known = new Set(['', 'feeder.LogService']);
  const status = (svc: string): string => (known.has(svc) ? 'SERVING' : 'SERVICE_UNKNOWN');
  server.addService(health.service, {
    Check: (call: grpc.ServerUnaryCall<{ service?: string }, { status: string }>, cb: grpc.sendUnaryData<{ status: string }>) => {
      const svc = call.request.service ?? '';
      if (!known.has(svc)) cb({ code: grpc.status.NOT_FOUND, details: `unknown service '${svc}'` });
      else cb(null, { status: 'SERVING' });
    },
    Watch: (call: grpc.ServerWritableStream<{ service?: string }, { status: string }>) => {
      calls.add(call as unknown as Call<unknown>);
      const drop = (): void => { calls.delete(call as unknown as Call<unknown>); };
      call.on('cancelled', drop);
      call.on('close', drop);
      call.write({ status: status(call.request.service ?? '') });
    },
  });

  const host = o.host ?? '0.0.0.0';
  const bound = await new Promise<Result<number>>((resolve) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${o.port}`, grpc.ServerCredentials.createInsecure(), (e, port) => {
      resolve(e ? err('E_GRPC_BIND', `gRPC server cannot listen on ${host}:${o.port}: ${e.message}`) : ok(port));
    });
  });
  if (!bound.ok) {
    server.forceShutdown();
    return bound;
  }
  o.log?.info({ host, port: bound.value }, 'gRPC log service (KubeArmor feeder.LogService) listening');
  let closed = false;
  return ok({
    port: bound.value,
    publishAlert: (a) => { if (alerts.size > 0) alerts.publish(pbAlert(a)); },
    publishLog: (l) => { if (logs.size > 0) logs.publish(pbLog(l)); },
    watchingLogs: () => logs.size > 0,
    publishMessage: (level, message, now = new Date()) => {
      if (messages.size > 0) messages.publish(pbMessage(level, message, { cluster: o.clusterName, host: o.hostName, hostIP: o.hostIP ?? '' }, now));
    },
    stats: () => ({ alerts: alerts.stats(), logs: logs.stats(), messages: messages.stats() }),
    close: async () => {
      if (closed) return;
      closed = true;
      alerts.closeAll(); logs.closeAll(); messages.closeAll();
      for (const c of [...calls]) { try { c.end(); } catch { /* already gone */ } }
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { server.forceShutdown(); resolve(); }, 2000);
        server.tryShutdown(() => { clearTimeout(t); resolve(); });
      });
    },
  });
}
