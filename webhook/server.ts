// The webhook daemon: wires configuration, key, certificate, policy store, telemetry,
// the express app on node:https and the metrics server, and shuts them down in order.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import type { Logger } from 'pino';
import { makeLogger } from '../telemetry/log.ts';
import type { Tracer } from '@opentelemetry/api';
import type { PostureSet, VisibilityKind } from '../policy/types.ts';
import { keyId, signingKeyFromBytes } from '../policy/sign.ts';
import { setupTelemetry, type Telemetry } from '../telemetry/index.ts';
import { createApp } from './app.ts';
import { CompileCache, type GatewayView } from './decide.ts';
import { WebhookMetrics, metricsServer } from './metrics.ts';
import { makeSelfSigned } from './selfsigned.ts';
import { folderStore, type PolicyStore } from './sources.ts';
import { clusterStore, type ClusterStore } from './cluster-store.ts';
import { startReconciler, type Reconciler } from './reconciler.ts';
import { startLeaderElection, type LeaderElector } from './leader.ts';
import { watchCertDir, type CertWatcher } from './tls.ts';

export const DEFAULT_GATEWAY_USER = 'system:serviceaccount:armorgate:armorgate-webhook';

export interface WebhookOptions {
  port: number;                 // 0: any free port
  host?: string;
  metricsPort: number;          // 0: any free port; -1: no metrics server
  tlsCertDir?: string;
  kubeconfig?: string;
  policiesDir?: string;
  signingKeyFile?: string;
  /** A second key whose signatures /validate-pod accepts during a rotation (docs/install.md);
   *  a file that does not exist, or is empty, is no key. */
  previousSigningKeyFile?: string;
  gatewayUser: string;
  defaultPosture: PostureSet;
  /** visibility logs when neither the pod nor its namespace asks (kubearmor-visibility); default none */
  defaultVisibility?: readonly VisibilityKind[];
  /** Longest wait for in-flight reviews at shutdown. */
  shutdownGraceMs?: number;
  /** Longest time a review's body may take to arrive (default DEFAULT_BODY_READ_TIMEOUT_MS, app.ts). */
  bodyReadTimeoutMs?: number;
  certPollMs?: number;
  logger?: Logger;
  /** Tests pass their own tracer (SDK with an in-memory exporter); else OTEL_* env decides. */
  tracer?: Tracer;
  /** Where generated key and certificate go in standalone mode (default: a new temp dir). */
  stateDir?: string;
  /** In-cluster store override for tests (a KubeConfig pointing at the test API server). */
  store?: PolicyStore;
  /** Live binding (cluster mode only): keep running pods' annotations current. Off when absent. */
  reconcile?: ReconcileOptions;
}

export interface ReconcileOptions {
  /** Pod patches a second, and the burst saved. */
  rate: number;
  burst: number;
  /** Full re-evaluation period (ms; 0: none). */
  resyncMs: number;
  /** Namespaces admission never sees (their pods are left alone). */
  excludeNamespaces: string[];
  /** Leader election through a Lease; without it this replica always patches. */
  leaderElect: boolean;
  leaseName: string;
  leaseNamespace: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface RunningWebhook {
  port: number;
  metricsPort: number | null;
  certDir: string;
  signingKeyFile: string;
  signingKey: Uint8Array;
  metrics: WebhookMetrics;
  server: https.Server;
  /** The live-binding reconciler, when it runs. */
  reconciler: Reconciler | null;
  /** Stops accepting, finishes in-flight reviews (up to the grace period), releases everything. */
  close(): Promise<void>;
}

/** Reads a signing key file the way the enforcer does (the core's signingKeyFromBytes:
 *  the file's bytes without trailing whitespace, long enough). Throws with the reason. */
export function readSigningKey(file: string): Uint8Array {
  const key = signingKeyFromBytes(fs.readFileSync(file));
  if (!key.ok) throw new Error(`signing key ${file}: ${key.error.message}`);
  return key.value;
}

/** The previous key of a rotation: absent or empty is none (the manifests always name the file,
 *  which the Secret holds only during a rotation). */
function readOptionalKey(file: string): Uint8Array | null {
  let raw: Buffer;
  try { raw = fs.readFileSync(file); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`previous signing key ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (raw.toString('latin1').trim() === '') return null;
  return readSigningKey(file);
}

function listen(server: http.Server | https.Server, port: number, host: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve((server.address() as AddressInfo).port); });
  });
}

export async function startWebhook(o: WebhookOptions): Promise<RunningWebhook> {
  const logger = o.logger ?? makeLogger({ name: 'armorgate-webhook' });
  let telemetry: Telemetry | null = null;
  const tracer = o.tracer ?? (telemetry = setupTelemetry({ serviceName: 'armorgate-webhook' })).tracer;
  const metrics = new WebhookMetrics({ processMetrics: true });
  const standalone = o.policiesDir !== undefined;
  let stateDir = o.stateDir;
  const ensureStateDir = (): string => {
    if (stateDir === undefined) stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'armorgate-webhook-'));
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    return stateDir;
  };

  // signing key
  let signingKeyFile = o.signingKeyFile;
  if (signingKeyFile === undefined) {
    if (!standalone) throw new Error('--signing-key-file is required in a cluster (the enforcers must share the key)');
    signingKeyFile = path.join(ensureStateDir(), 'signing.key');
    fs.writeFileSync(signingKeyFile, crypto.randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    logger.warn({ signingKeyFile }, 'no --signing-key-file: generated a signing key; give the same file to the enforcer');
  }
  const signingKey = readSigningKey(signingKeyFile);
  const previousSigningKey = o.previousSigningKeyFile === undefined ? null : readOptionalKey(o.previousSigningKeyFile);
  logger.info({ signingKeyId: keyId(signingKey), previousKeyId: previousSigningKey === null ? null : keyId(previousSigningKey) }, 'signing key loaded');

  // certificate
  let certDir = o.tlsCertDir;
  if (certDir === undefined) {
    if (!standalone) throw new Error('--tls-cert-dir is required in a cluster (the API server must trust the certificate)');
    certDir = path.join(ensureStateDir(), 'tls');
    fs.mkdirSync(certDir, { recursive: true, mode: 0o700 });
    const names = ['localhost', '127.0.0.1', '::1', os.hostname(), 'armorgate-webhook', 'armorgate-webhook.armorgate.svc'];
    const pair = makeSelfSigned(names);
    fs.writeFileSync(path.join(certDir, 'tls.crt'), pair.cert);
    fs.writeFileSync(path.join(certDir, 'tls.key'), pair.key, { mode: 0o600 });
    logger.warn({ certDir, names }, 'no --tls-cert-dir: generated a self-signed certificate');
  }
  let server: https.Server | null = null;
  let certLoaded = false;
  const certs: CertWatcher = watchCertDir(certDir, {
    pollMs: o.certPollMs ?? 10_000,
    onChange: (pair, fingerprint, notAfter) => {
      if (server !== null) server.setSecureContext({ cert: pair.cert, key: pair.key });
      certLoaded = true;
      metrics.tlsReloads.inc({ result: 'ok' });
      logger.info({ certDir, fingerprint, notAfter }, 'serving certificate loaded');
    },
    onError: (message) => { metrics.tlsReloads.inc({ result: 'error' }); logger.error({ certDir }, message); },
  });
  const first = certs.current();
  if (first === null) { certs.close(); throw new Error(`no usable certificate in ${certDir} (tls.crt, tls.key)`); }

  // policies and namespaces (and, to reconcile, pods)
  let store: PolicyStore;
  let cluster: ClusterStore | null = null;
  let reconciler: Reconciler | null = null;
  const reconcile = standalone || o.store !== undefined ? undefined : o.reconcile;
  try {
    store = o.store ?? (standalone
      ? folderStore(o.policiesDir!, logger, (ok) => metrics.sourceReloads.inc({ source: 'folder', result: ok ? 'ok' : 'error' }))
      : (cluster = await clusterStore({
        kubeconfig: o.kubeconfig, logger,
        onRelist: (c) => metrics.sourceReloads.inc({ source: c, result: 'list' }),
        onRestart: () => metrics.sourceReloads.inc({ source: 'watch-worker', result: 'restart' }),
        pods: reconcile !== undefined,
        onChange: (c, type, obj) => reconciler?.changed(c, type, obj),
      })));
  } catch (e) { certs.close(); throw e; }
  metrics.gauge('armorgate_policies', 'Valid policies in the cache.', () => store.policies().length);
  metrics.gauge('armorgate_namespaces', 'Namespaces in the cache.', () => store.namespaceCount());

  const view: GatewayView = {
    policies: () => store.policies(),
    policiesVersion: () => store.policiesVersion(),
    namespace: (n) => store.namespace(n),
    recent: store.recent,
    signingKey, previousSigningKey, defaultPosture: o.defaultPosture, defaultVisibility: o.defaultVisibility ?? [], gatewayUser: o.gatewayUser,
  };
  let shuttingDown = false;
  const notReady = (): string | null => {
    if (shuttingDown) return 'shutting down';
    if (!certLoaded) return 'no certificate loaded';
    return store.notSynced();
  };
  metrics.gauge('armorgate_ready', '1 when /readyz answers 200.', () => (notReady() === null ? 1 : 0));
  const cache = new CompileCache();
  metrics.counterFrom('armorgate_compile_cache_lookups_total', 'Pod admissions looked up in the compile cache, by result (hit: the profile and answer were reused; miss: compiled).',
    () => [{ labels: { result: 'hit' }, value: cache.results.hits }, { labels: { result: 'miss' }, value: cache.results.misses }], ['result']);
  metrics.gauge('armorgate_compile_cache_entries', 'Compile results in the cache.', () => cache.results.size);
  const listener = createApp({ view, tracer, logger, metrics, notReady, cache, bodyReadTimeoutMs: o.bodyReadTimeoutMs });

  server = https.createServer({ cert: first.cert, key: first.key, keepAliveTimeout: 65_000, requestTimeout: 30_000, headersTimeout: 20_000 }, listener);
  server.on('tlsClientError', (e) => logger.debug({ err: e.message }, 'TLS handshake failed'));
  server.on('clientError', (e, socket) => { if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n'); else socket.destroy(); void e; });
  // live binding: the reconciler, driven by the leader election
  let elector: LeaderElector | null = null;
  if (reconcile !== undefined && cluster !== null) {
    const c = cluster;
    reconciler = startReconciler({
      store: c, view, logger: logger.child({ part: 'reconciler' }), metrics, tracer,
      rate: reconcile.rate, burst: reconcile.burst, resyncMs: reconcile.resyncMs, excludeNamespaces: reconcile.excludeNamespaces,
      isLeader: () => elector === null || elector.isLeader(),
    });
    const r = reconciler;
    if (reconcile.leaderElect) {
      elector = startLeaderElection({
        namespace: reconcile.leaseNamespace, name: reconcile.leaseName, identity: reconcile.identity, call: c.call,
        leaseDurationMs: reconcile.leaseDurationMs, renewDeadlineMs: reconcile.renewDeadlineMs, retryPeriodMs: reconcile.retryPeriodMs,
        onChange: (yes) => { logger.info({ identity: reconcile.identity, lease: `${reconcile.leaseNamespace}/${reconcile.leaseName}`, leading: yes }, yes ? 'lease acquired' : 'lease lost'); r.leading(yes); },
        onError: (m) => logger.warn(m),
      });
    } else r.leading(true);
    metrics.gauge('armorgate_reconcile_leader', '1 while this replica leads (patches pods).', () => (elector === null || elector.isLeader() ? 1 : 0));
    metrics.gauge('armorgate_reconcile_pending', 'Pods waiting for a patch (queued, under way, or waiting to retry).', () => r.pending());
    metrics.gauge('armorgate_reconcile_pods', 'Pods watched by the reconciler.', () => { let n = 0; for (const _ of c.pods()) n++; return n; });
  }

  let mServer: http.Server | null = null;
  let port: number;
  let metricsPort: number | null = null;
  try {
    port = await listen(server, o.port, o.host);
    if (o.metricsPort >= 0) {
      mServer = metricsServer(metrics, { live: () => null, ready: notReady });
      metricsPort = await listen(mServer, o.metricsPort, o.host);
    }
  } catch (e) {
    // a port taken, say: nothing started here may keep the process alive (the watch worker would)
    server.close();
    mServer?.close();
    certs.close();
    reconciler?.stop();
    await elector?.stop();
    await store.close();
    throw e;
  }
  logger.info({ port, metricsPort, mode: standalone ? 'standalone' : 'cluster', policiesDir: o.policiesDir, certDir, gatewayUser: o.gatewayUser }, 'webhook listening');

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      shuttingDown = true;
      logger.info('shutting down: no new connections, finishing in-flight reviews');
      const s = server!;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      s.closeIdleConnections();
      const idle = setInterval(() => s.closeIdleConnections(), 50);
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), o.shutdownGraceMs ?? 25_000); });
      const how = await Promise.race([closed.then(() => 'drained' as const), grace]);
      clearInterval(idle);
      clearTimeout(timer);
      if (how === 'timeout') { logger.warn('grace period over: closing remaining connections'); s.closeAllConnections(); await closed; }
      certs.close();
      reconciler?.stop();
      await elector?.stop(); // a leader releases the lease: another replica takes over at once
      await store.close();
      if (mServer !== null) await new Promise<void>((resolve) => mServer!.close(() => resolve()));
      if (telemetry !== null) await telemetry.shutdown();
      logger.info('webhook stopped');
    })();
    return closing;
  };
  return { port, metricsPort, certDir, signingKeyFile, signingKey, metrics, server, close, reconciler };
}
