// `armorgate enforcer`: wires a pod source, the reconciler, the kernel module, alerts, logs,
// telemetry and the node label. Alerts go to stdout (JSON lines), logs to stderr (pino).
// At start it runs the same checks as `armorgate probe` and never claims enforcement it cannot do:
// on a node that cannot enforce it keeps running, labels the node `unavailable`, and reports every
// pod as not enforced.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { logs, metrics as apiMetrics, trace } from '@opentelemetry/api';
import { pino, type Logger } from 'pino';
import { keyId, signingKeyFromBytes, verifyAnnotations } from '../policy/sign.ts';
import { err, ok, type Pod, type Result } from '../policy/types.ts';
import type { Telemetry } from '../telemetry/index.ts';
import { makeLogger as makeDaemonLogger, type LogLevel } from '../telemetry/log.ts';
import { metricsServer, type Health, type MetricsRegistry } from '../telemetry/prometheus.ts';
import { alertLine, type KubeArmorAlert } from './alerts.ts';
import { CgroupResolver } from './cgroup.ts';
import { DEFAULT_EVENT_RATE } from './kernel/layout.ts';
import type { MessageTap } from './grpc/messages.ts';
import type { LogServer } from './grpc/server.ts';
import type { KubeArmorLog } from './visibility.ts';
import { podProfileWithLinks } from './hardlinks.ts';
import type { Kernel, KernelOptions } from './kernel/index.ts';
import { KubepodsWatch } from './kubepods.ts';
import { alertRecorder } from './alert-records.ts';
import { enforcerHealth } from './health.ts';
import { createMetrics, type PodTally } from './metrics.ts';
import type { EnforcementState } from './node-label.ts';
import { assess, gatherFacts, type ProbeReport } from './probe.ts';
import { fdSink } from './fd-sink.ts';
import { lineBatch } from './line-batch.ts';
import { processNames } from './process-names.ts';
import { Reconciler, procExe } from './reconciler.ts';
import { DirPodSource } from './sources/dir.ts';
import type { PodSink, PodSource } from './sources/types.ts';

export interface EnforcerOptions {
  signingKeyFile: string;
  /** A second key accepted (the previous one during a rotation, or the next one before it). */
  previousSigningKeyFile?: string;
  cgroupRoot: string;
  attachMode: 'auto' | 'cgroup' | 'global';
  nodeName: string;
  clusterName: string;
  kubeconfig?: string;
  podsDir?: string;
  pinDir?: string;
  sweepIntervalMs: number;
  /** Where alerts go (default: stdout). */
  alertOut?: (line: string) => void;
  logger?: Logger;
  /** KubeArmor's gRPC log service (feeder.LogService) on this port; 0 or absent: off. */
  grpcPort?: number;
  grpcHost?: string;
  /** The node's IP (HostIP of the gRPC Message stream; the DaemonSet's HOST_IP). */
  hostIP?: string;
  /** The logger's tap (makeLogger): its records go to WatchMessages. */
  messageTap?: MessageTap;
  /** Resolves when the daemon should stop (default: SIGTERM or SIGINT). */
  stopSignal?: Promise<void>;
  /** HTTP port of /metrics, /healthz and /readyz (0: any free port; -1 or absent: none). */
  metricsPort?: number;
  metricsHost?: string;
  /** Called with the metrics server's port once it listens. */
  onMetricsListening?: (port: number) => void;
}

/** How often the cgroup root is looked at for the kubepods cgroup (cgroup mode), besides inotify. */
const KUBEPODS_POLL_MS = 1000;
/** How long an event's parent process name is reused for later events of the same parent
 *  (enforcer/process-names.ts). */
const PROCESS_NAME_TTL_MS = 250;

type KernelModule = {
  openKernel(o: KernelOptions): Promise<Result<Kernel>>;
  cleanupPins(pinDir?: string): Result<void>;
  probeLsm(o: { cgroupRoot: string }): Promise<Result<{ cgroupMode: boolean; globalMode: boolean; detail: string }>>;
};

async function kernelModule(): Promise<Result<KernelModule>> {
  try {
    return ok((await import('./kernel/index.ts')) as KernelModule);
  } catch (e) {
    return err('E_KERNEL_MODULE', `the BPF loader could not be loaded: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The kernel of a node that cannot enforce: every load is refused with the reason, so each pod is
 *  reported as not enforced. Nothing is faked: no pod is ever said to be protected. */
function unavailableKernel(reason: string): Pick<Kernel, 'setPod' | 'removePod' | 'sweep' | 'counts'> {
  return {
    setPod: () => err('E_UNAVAILABLE', `this node cannot enforce: ${reason}`),
    removePod: () => ok(undefined),
    sweep: () => ok(0),
    counts: () => err('E_UNAVAILABLE', reason),
  };
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

/** OpenTelemetry from OTEL_* (telemetry/). With OTEL_SDK_DISABLED=true not even the SDK is loaded:
 *  the API's no-op tracer and meter. */
async function telemetryFromEnv(): Promise<Telemetry> {
  if (process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') {
    return {
      tracer: trace.getTracer('armorgate-enforcer'), meter: apiMetrics.getMeter('armorgate-enforcer'), logger: logs.getLogger('armorgate-enforcer'),
      exporting: false, forceFlush: async () => {}, shutdown: async () => {},
    };
  }
  const { setupTelemetry } = await import('../telemetry/index.ts');
  return setupTelemetry({ serviceName: 'armorgate-enforcer' });
}

// @kubernetes/client-node is large (seconds to import on a small node): loaded only in a cluster.
async function loadKubeConfig(file: string | undefined): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (file !== undefined) kc.loadFromFile(file);
  else kc.loadFromDefault(); // in-cluster service account when KUBERNETES_SERVICE_HOST is set
  return kc;
}

/** libbpf's own messages through the logger (`source: libbpf`), not raw on stderr. */
async function routeLibbpf(log: Logger): Promise<void> {
  try {
    const { routeLibbpfPrint } = await import('./kernel/libbpf-log.ts');
    const r = routeLibbpfPrint({ enabled: (l) => log.isLevelEnabled(l), write: (l, m) => { log[l]({ source: 'libbpf' }, m); } });
    if (!r.ok) log.warn({ error: r.error }, 'libbpf messages not routed through the log');
  } catch (e) {
    log.warn({ err: e }, 'libbpf messages not routed through the log');
  }
}

/** `armorgate enforcer --cleanup`: removes everything pinned (uninstall). */
export async function cleanup(pinDir: string | undefined, log: Logger): Promise<number> {
  const mod = await kernelModule();
  if (!mod.ok) {
    log.error({ error: mod.error }, 'cleanup failed');
    return 1;
  }
  await routeLibbpf(log);
  const r = mod.value.cleanupPins(pinDir);
  if (!r.ok) {
    log.error({ error: r.error, pinDir }, 'cleanup failed');
    return 1;
  }
  log.info({ pinDir: pinDir ?? '/sys/fs/bpf/armorgate' }, 'removed everything pinned');
  return 0;
}

/** The enforcer's logger (telemetry/log.ts's shape) on stderr; with a tap, the records of level
 *  info and above also go to it (the gRPC Message stream). */
export function makeLogger(level?: LogLevel, tap?: MessageTap): Logger {
  const stderr = pino.destination({ fd: 2, sync: true });
  const destination = tap === undefined ? stderr : pino.multistream([{ stream: stderr, level: 'trace' }, { stream: tap, level: 'info' }]);
  return makeDaemonLogger({ name: 'armorgate-enforcer', ...(level === undefined ? {} : { level }), destination });
}

/** Runs until stopped; resolves with the exit code. */
export async function runEnforcer(o: EnforcerOptions): Promise<number> {
  const log = o.logger ?? makeLogger();
  log.info({ podsDir: o.podsDir, node: o.nodeName, attachMode: o.attachMode }, 'starting');
  const keys: Uint8Array[] = [];
  for (const [flag, file] of [['--signing-key-file', o.signingKeyFile], ['--previous-signing-key-file', o.previousSigningKeyFile]] as const) {
    if (file === undefined) continue;
    let keyBytes: Uint8Array;
    try {
      keyBytes = readFileSync(file);
    } catch (e) {
      // the previous key is optional: the manifests name its file, which exists only during a rotation
      if (flag === '--previous-signing-key-file' && (e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      log.error({ file, error: e instanceof Error ? e.message : String(e) }, `cannot read ${flag}`);
      return 1;
    }
    if (flag === '--previous-signing-key-file' && Buffer.from(keyBytes).toString('latin1').trim() === '') continue;
    const key = signingKeyFromBytes(keyBytes);
    if (!key.ok) {
      log.error({ file, error: key.error }, `unusable ${flag}`);
      return 1;
    }
    keys.push(key.value);
  }
  log.info({ keyIds: keys.map(keyId) }, 'profiles signed by these keys are accepted');
  if (o.nodeName === '') {
    log.error({}, 'no node name: pass --node-name or set NODE_NAME');
    return 1;
  }
  let telemetry: Telemetry;
  try {
    telemetry = await telemetryFromEnv();
  } catch (e) {
    log.error({ error: e instanceof Error ? e.message : String(e) }, 'OpenTelemetry configuration refused');
    return 2;
  }
  // stdout: one write per turn of the event loop (enforcer/line-batch.ts), flushed at exit too
  // (process.stdout made first: for a FIFO it sets fd 1 non-blocking, so a slow reader never blocks)
  const batch = o.alertOut === undefined ? lineBatch(fdSink(1, process.stdout)) : null;
  const flushOut = (): void => { batch?.flush(); };
  if (batch !== null) process.on('exit', flushOut);
  const out = o.alertOut ?? ((line: string) => { batch!.write(line); });
  let grpcServer: LogServer | null = null;
  if ((o.grpcPort ?? 0) > 0) {
    const { startLogServer } = await import('./grpc/server.ts');
    const started = await startLogServer({ port: o.grpcPort!, host: o.grpcHost ?? '0.0.0.0', clusterName: o.clusterName, hostName: o.nodeName, hostIP: o.hostIP ?? '', log });
    // enforcement does not depend on the feed: without it alerts still go to stdout
    if (!started.ok) log.error({ error: started.error }, 'the gRPC log service cannot start: alerts and logs go to stdout only');
    else {
      grpcServer = started.value;
      const srv = grpcServer;
      o.messageTap?.listen((level, message, time) => { srv.publishMessage(level, message, time); });
    }
  }
  const emit = (a: KubeArmorAlert): void => {
    out(alertLine(a));
    grpcServer?.publishAlert(a);
  };
  const emitLog = (line: string, l: () => KubeArmorLog): void => {
    out(line);
    if (grpcServer?.watchingLogs() === true) grpcServer.publishLog(l());
  };

  let kc: KubeConfig | null = null;
  if (o.podsDir === undefined) {
    try {
      kc = await loadKubeConfig(o.kubeconfig);
    } catch (e) {
      log.error({ error: e instanceof Error ? e.message : String(e) }, 'no kubeconfig: pass --kubeconfig, run in a cluster, or use --pods-dir');
      await telemetry.shutdown();
      return 1;
    }
  }

  // The same checks as `armorgate probe`. Its last check, that LSM programs really load and attach,
  // is opening the kernel module itself when every other check passes (loading the BPF object twice
  // would double the start-up); when opening fails, the probe's own test program says why.
  const mod = await kernelModule();
  if (mod.ok) await routeLibbpf(log);
  const facts = await gatherFacts({
    cgroupRoot: o.cgroupRoot,
    probeLsm: async () => ok({ cgroupMode: true, globalMode: true, detail: 'checked by opening the kernel module' }),
  });
  let kernel: Kernel | null = null;
  let reason = '';
  let report: ProbeReport = assess(facts);
  if (report.canEnforce && mod.ok) {
    const opened = await mod.value.openKernel({ attachMode: o.attachMode, cgroupRoot: o.cgroupRoot, waitForKubepods: true, ...(o.pinDir ? { pinDir: o.pinDir } : {}) });
    if (opened.ok) {
      kernel = opened.value;
      report = assess({ ...facts, lsmProbe: ok({ cgroupMode: kernel.mode === 'cgroup', globalMode: kernel.mode === 'global', detail: `enforcer programs ${kernel.adopted ? 'adopted, still attached, from the previous run\'s pins' : 'loaded and attached'} (${kernel.mode} mode)` }) });
    } else {
      reason = `opening the kernel module failed: ${opened.error.message}`;
    }
  }
  if (kernel === null) {
    report = assess({ ...facts, lsmProbe: mod.ok ? await mod.value.probeLsm({ cgroupRoot: o.cgroupRoot }) : mod });
    const problems = report.problems.map((p) => `${p.code}: ${p.message}`).join('; ');
    reason = [problems, reason].filter((x) => x !== '').join('; ') || 'the node probe failed';
  }
  // cgroup mode: the programs go on kubelet's kubepods cgroup, which may not exist yet (or may be
  // made again later); until they are on it nothing is enforced, and every pod says so
  const kk = kernel;
  let onEnforcingChange: (enforcing: boolean) => void = () => {};
  // Both modes: the programs find pods under the kubepods roots the kernel is told of
  // (Kernel.setKubepods), so those follow the cgroup too; global mode has nothing else to attach
  let kpInForce: bigint | null = null;
  const tellKubepods = (): Result<bigint> => {
    const r = kk!.setKubepods(o.cgroupRoot);
    if (!r.ok) return r;
    kpInForce = r.value[0] ?? null;
    return kpInForce === null ? err('E_NO_KUBEPODS', `no kubepods cgroup under ${o.cgroupRoot}`, o.cgroupRoot) : ok(kpInForce);
  };
  if (kk !== null && kk.mode !== 'cgroup') tellKubepods();
  const watch = kk !== null && (kk.mode !== 'cgroup' || (kk.cgroupAttachedTo !== undefined && kk.attachCgroup !== undefined))
    ? new KubepodsWatch({
      root: o.cgroupRoot, log, pollMs: KUBEPODS_POLL_MS,
      kernel: kk.mode === 'cgroup'
        ? {
          cgroupAttachedTo: () => kk.cgroupAttachedTo!(),
          attachCgroup: (p) => { const r = kk.attachCgroup!(p); if (!r.ok) return r; const t = tellKubepods(); return t.ok ? r : t; },
          prepareCgroup: () => kk.prepareCgroup?.() ?? ok(undefined),
        }
        : { cgroupAttachedTo: () => kpInForce, attachCgroup: () => tellKubepods() },
      onChange: (enforcing) => { onEnforcingChange(enforcing); },
    })
    : null;
  const stateNow = (): EnforcementState => (kernel === null ? 'unavailable' : watch !== null && !watch.enforcing ? 'waiting' : 'bpf-lsm');
  if (kernel === null) {
    log.error({ problems: report.problems, reason }, 'this node cannot enforce: pods will be reported, not protected');
    // the full reason (a verifier log can be long) is logged once; pods' alerts carry its first line
    reason = reason.split('\n')[0] ?? reason;
  } else {
    log.info({ mode: kernel.mode, adopted: kernel.adopted, kernel: report.kernel, uek: report.uek, cgroupRoot: o.cgroupRoot }, 'kernel enforcement available');
    if ((kernel.retiredLayout?.length ?? 0) > 0) {
      log.warn({ maps: kernel.retiredLayout }, 'the pinned maps had another layout (an earlier ArmorGate): new maps loaded; the earlier programs keep enforcing until every pod is in them');
    }
  }

  const k = kernel;
  let tally: () => PodTally[] = () => [];
  const metrics = createMetrics({
    counts: () => {
      if (k === null) return null;
      const c = k.counts();
      return c.ok ? c.value : null;
    },
    capacity: () => k?.capacity?.() ?? null,
    notEnforcing: () => (k === null ? 'E_UNAVAILABLE' : watch?.gate?.code ?? null),
    pods: () => tally(),
    grpc: () => grpcServer?.stats() ?? null,
    processMetrics: true,
  });
  let linkSearchWarned = false;
  const reconciler = new Reconciler({
    kernel: kernel ?? unavailableKernel(reason),
    resolver: new CgroupResolver(o.cgroupRoot),
    verify: (a, ns) => verifyAnnotations(a, ns, keys),
    emit, emitLog, log, tracer: telemetry.tracer, metrics, ...(telemetry.logsExporting === true ? { record: alertRecorder(telemetry.logger) } : {}),
    clusterName: o.clusterName, nodeName: o.nodeName,
    // the kernel's alert rate (openKernel's default), written in AlertThreshold alerts
    maxAlertsPerSec: kernel === null ? 0 : DEFAULT_EVENT_RATE,
    // the parent's executable as the kernel recorded it (the pod's own paths, no hostPID needed);
    // /proc/PID/exe for a parent the kernel has not seen exec (visible with hostPID only)
    processName: processNames((pid) => kernel?.exeOf(pid) ?? procExe(pid), { ttlMs: PROCESS_NAME_TTL_MS, max: 4096 }),
    gate: watch?.gate ?? null,
    kernelProfile: (profile, containers) => {
      const r = podProfileWithLinks(profile, containers);
      if (r.truncated.length > 0) log.warn({ containers: r.truncated }, 'the search for other names of linked files stopped at its bound: names past it keep only their own rules');
      if (r.unreachable.length > 0 && !linkSearchWarned) {
        linkSearchWarned = true; // once: without hostPID every container is out of reach
        log.warn({ containers: r.unreachable }, 'containers\' roots cannot be searched for other names of linked files (needs hostPID and CAP_SYS_PTRACE): those names keep only their own rules');
      }
      return r.profile;
    },
  });
  tally = () => reconciler.tally();
  kernel?.onEvent((e) => {
    try {
      reconciler.onKernelEvent(e);
    } catch (error) {
      log.error({ err: error }, 'turning a kernel event into an alert failed');
    }
  });

  const sink: PodSink = {
    sync: (pods: readonly Pod[]) => { reconciler.sync(pods); },
    upsert: (p: Pod) => { reconciler.upsert(p); },
    remove: (p: Pod) => { if (typeof p.metadata?.uid === 'string') reconciler.remove(p.metadata.uid); },
  };
  const source: PodSource = o.podsDir !== undefined
    ? new DirPodSource({ dir: o.podsDir, nodeName: o.nodeName, log })
    : new (await import('./sources/api.ts')).ApiPodSource({ kubeConfig: kc as KubeConfig, nodeName: o.nodeName, log });

  let labelling: Promise<void> = Promise.resolve();
  const label = (): void => {
    if (kc === null) return;
    const kube = kc;
    // one after another, each with the state at its turn: the last one says what is true now
    labelling = labelling.then(async () => {
      const state = stateNow();
      const { labelNode } = await import('./node-label.ts');
      const r = await labelNode(kube, o.nodeName, state);
      if (r.ok) log.info({ node: o.nodeName, enforcement: state }, 'node labelled');
      else log.warn({ error: r.error }, 'node label not set');
    });
  };
  label();

  // What an earlier enforcer left pinned (links of other epochs, maps of another layout whose
  // links still enforce the old rules) goes once every pod they protect that is still on the
  // node is in the new maps: tried when ready, then at each sweep until done.
  let finishing = false;
  const finishStart = (first: boolean): boolean => {
    if (kernel?.finishStart === undefined) return false;
    const r = kernel.finishStart(new Set(reconciler.known()));
    if (r.waiting.length > 0) {
      if (first) log.warn({ pods: r.waiting }, 'pods the earlier programs protect are not in the new maps yet: the earlier links stay');
      return true;
    }
    if (r.links > 0 || r.retiredMaps > 0) log.info({ links: r.links, retiredMaps: r.retiredMaps }, 'links and maps of an earlier enforcer removed');
    return false;
  };
  const stopping = o.stopSignal ?? waitForSignal();
  let sourceStarted = false;
  const served = await serveMetrics(o, metrics.registry, enforcerHealth(() => ({
    sourceStarted, unavailable: kernel === null ? reason : null, waiting: watch !== null && !watch.enforcing ? watch.gate?.message ?? 'no kubepods cgroup yet' : null,
  })), log);
  // signal handlers do not keep the event loop alive: this does, until stopped
  const keepAlive = setInterval(() => {}, 1 << 30);
  let saidReady = false;
  const sayReady = (): void => {
    if (kernel === null || !sourceStarted || saidReady || (watch !== null && !watch.enforcing)) return;
    saidReady = true;
    const known = reconciler.known();
    const enforced = known.filter((uid) => reconciler.isEnforced(uid)).length;
    log.info({ pods: known.length, enforced, notEnforced: known.length - enforced, mode: kernel.mode }, 'ready');
  };
  onEnforcingChange = () => { sayReady(); label(); };
  watch?.start(reconciler);
  if (watch !== null && !watch.enforcing) log.warn({ reason: watch.gate?.message, cgroupRoot: o.cgroupRoot }, 'not enforcing yet: waiting for the kubepods cgroup');
  const started = source.start(sink);
  const first = await Promise.race([started.then(() => 'started' as const), stopping.then(() => 'stopped' as const)]);
  if (first === 'started') {
    reconciler.removeStale();
    sourceStarted = true;
    const known = reconciler.known();
    if (kernel !== null) {
      finishing = finishStart(true);
      if (watch !== null && !watch.enforcing) {
        // not ready: said when the kubepods cgroup is there and the programs are on it
        log.warn({ pods: known.length, enforced: 0, reason: watch.gate?.message, code: watch.gate?.code }, 'running without enforcement until the kubepods cgroup exists');
      }
      sayReady();
    } else {
      log.warn({ pods: known.length, enforced: 0 }, 'running without enforcement');
    }
  }
  const sweep = setInterval(() => {
    try {
      reconciler.sweep();
      if (finishing) finishing = finishStart(false);
    } catch (e) {
      log.error({ err: e }, 'sweep failed');
    }
  }, o.sweepIntervalMs);
  sweep.unref();

  await stopping;
  log.info({}, 'stopping: programs and maps stay pinned');
  clearInterval(sweep);
  clearInterval(keepAlive);
  watch?.stop();
  await source.stop();
  await labelling;
  kernel?.close();
  flushOut();
  process.off('exit', flushOut);
  o.messageTap?.listen(null);
  await grpcServer?.close();
  if (served !== null) await new Promise<void>((resolve) => { served.close(() => resolve()); });
  await telemetry.shutdown();
  return 0;
}

/** The metrics server (/metrics, /healthz, /readyz) when a port is given; a port that cannot be
 *  bound is logged and the enforcer runs without it (enforcement does not depend on it). */
async function serveMetrics(o: EnforcerOptions, registry: MetricsRegistry, health: Health, log: Logger): Promise<Server | null> {
  if (o.metricsPort === undefined || o.metricsPort < 0) return null;
  const server = metricsServer(registry, health);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.metricsPort, o.metricsHost, () => { server.off('error', reject); resolve((server.address() as AddressInfo).port); });
    });
    log.info({ port }, 'metrics, /healthz and /readyz listening');
    o.onMetricsListening?.(port);
    return server;
  } catch (e) {
    log.error({ err: e, port: o.metricsPort }, 'the metrics port cannot be bound: no /metrics, /healthz, /readyz');
    return null;
  }
}
