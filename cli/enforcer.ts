// `armorgate enforcer`: the node daemon. Alerts on stdout (KubeArmor JSON lines), logs on stderr.
import { hostname } from 'node:os';
import { Command, Option } from 'commander';

interface Opts {
  signingKeyFile?: string;
  previousSigningKeyFile?: string;
  cgroupRoot: string;
  attachMode: 'auto' | 'cgroup' | 'global';
  nodeName?: string;
  clusterName: string;
  kubeconfig?: string;
  podsDir?: string;
  pinDir?: string;
  sweepInterval: string;
  metricsPort: string;
  logLevel?: string;
  cleanup?: boolean;
  grpcPort: string;
  grpcHost: string;
}

export function command(): Command {
  return new Command('enforcer')
    .description('node enforcer: verifies pods\' signed profiles and enforces them with BPF-LSM; alerts on stdout')
    .option('--signing-key-file <file>', 'HMAC key shared with the gateway (required)')
    .option('--previous-signing-key-file <file>', 'a second key whose signatures are accepted: the previous key during a rotation (docs/install.md)')
    .option('--cgroup-root <dir>', 'cgroup v2 mount point', '/sys/fs/cgroup')
    .addOption(new Option('--attach-mode <mode>', 'cgroup-attached LSM programs (kernel >= 6.0), global ones scoped by cgroup id, or the best available')
      .choices(['auto', 'cgroup', 'global']).default('auto'))
    .option('--node-name <name>', 'this node (default $NODE_NAME; with --pods-dir, the host name)')
    .option('--cluster-name <name>', 'ClusterName of alerts', 'default')
    .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster, then ~/.kube/config)')
    .option('--pods-dir <dir>', 'standalone: a folder of annotated pod manifests instead of the API server')
    .option('--pin-dir <dir>', 'bpffs folder of pinned maps and links', '/sys/fs/bpf/armorgate')
    .option('--sweep-interval <seconds>', 'period of the sweep of vanished cgroups', '30')
    .option('--grpc-port <port>', 'KubeArmor\'s gRPC log service (feeder.LogService: WatchAlerts, WatchLogs, WatchMessages) and gRPC health; 0 turns it off', '32767')
    .option('--grpc-host <address>', 'address the gRPC service listens on', '0.0.0.0')
    .option('--metrics-port <port>', 'HTTP port of Prometheus /metrics, /healthz and /readyz (-1: off)', '9091')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default $LOG_LEVEL, else info)')
    .option('--cleanup', 'remove every pinned program, link and map, then exit (uninstall)')
    .action(async (o: Opts) => {
      const { logLevel } = await import('../telemetry/log.ts');
      const level = logLevel(o.logLevel);
      if (!level.ok) {
        process.stderr.write(`armorgate enforcer: ${level.error.message}\n`);
        process.exitCode = 2;
        return;
      }
      const { refusedOtelSetting } = await import('../telemetry/config.ts');
      const refused = o.cleanup ? null : refusedOtelSetting(process.env);
      if (refused !== null) {
        process.stderr.write(`armorgate enforcer: ${refused}\n`);
        process.exitCode = 2;
        return;
      }
      const { cleanup, makeLogger, runEnforcer } = await import('../enforcer/daemon.ts');
      const grpcPort = Number(o.grpcPort);
      if (!Number.isInteger(grpcPort) || grpcPort < 0 || grpcPort > 65535) {
        process.stderr.write(`armorgate enforcer: --grpc-port must be a port number (0 turns the service off), not '${o.grpcPort}'\n`);
        process.exitCode = 2;
        return;
      }
      const { MessageTap } = await import('../enforcer/grpc/messages.ts');
      const tap = grpcPort > 0 ? new MessageTap() : undefined;
      const log = makeLogger(level.value, tap);
      if (o.cleanup) {
        process.exitCode = await cleanup(o.pinDir, log);
        return;
      }
      if (o.signingKeyFile === undefined) {
        process.stderr.write('armorgate enforcer: --signing-key-file is required (the key shared with the gateway)\n');
        process.exitCode = 2;
        return;
      }
      const sweep = Number(o.sweepInterval);
      if (!Number.isFinite(sweep) || sweep <= 0) {
        process.stderr.write(`armorgate enforcer: --sweep-interval must be a positive number of seconds, not '${o.sweepInterval}'\n`);
        process.exitCode = 2;
        return;
      }
      const metricsPort = Number(o.metricsPort);
      if (!Number.isInteger(metricsPort) || metricsPort < -1 || metricsPort > 65535) {
        process.stderr.write(`armorgate enforcer: --metrics-port must be a port number or -1, not '${o.metricsPort}'\n`);
        process.exitCode = 2;
        return;
      }
      process.exitCode = await runEnforcer({
        signingKeyFile: o.signingKeyFile,
        cgroupRoot: o.cgroupRoot,
        attachMode: o.attachMode,
        nodeName: o.nodeName ?? process.env.NODE_NAME ?? (o.podsDir === undefined ? '' : hostname()),
        clusterName: o.clusterName,
        sweepIntervalMs: sweep * 1000,
        metricsPort,
        logger: log,
        grpcPort,
        grpcHost: o.grpcHost,
        // the node's IP for the gRPC Message stream (the DaemonSet sets it from status.hostIP)
        hostIP: process.env.HOST_IP?.trim() ?? '',
        ...(tap === undefined ? {} : { messageTap: tap }),
        ...(o.previousSigningKeyFile === undefined ? {} : { previousSigningKeyFile: o.previousSigningKeyFile }),
        ...(o.kubeconfig === undefined ? {} : { kubeconfig: o.kubeconfig }),
        ...(o.podsDir === undefined ? {} : { podsDir: o.podsDir }),
        ...(o.pinDir === undefined ? {} : { pinDir: o.pinDir }),
      });
    });
}
