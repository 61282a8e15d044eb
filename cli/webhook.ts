// `armorgate webhook`: the admission webhook daemon (see webhook/server.ts). Resolves when it
// has shut down after SIGTERM or SIGINT; exit code 0 then, 2 on a usage error, 1 on failure.
import crypto from 'node:crypto';
import os from 'node:os';
import { Command, Option } from 'commander';

const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

export function command(): Command {
  return new Command('webhook')
    .description('serve the admission webhook over HTTPS: validate policies, annotate and sign pods, guard the annotations')
    .addOption(new Option('--port <port>', 'HTTPS port (also /healthz and /readyz)').default('9443'))
    .option('--tls-cert-dir <dir>', "directory with tls.crt and tls.key (cert-manager's Secret volume); standalone without it: a generated self-signed certificate")
    .option('--kubeconfig <file>', 'kubeconfig of the cluster (else in-cluster configuration)')
    .option('--policies-dir <dir>', 'standalone: read policies and Namespace objects from this folder (reloaded on change) instead of the API server')
    .option('--signing-key-file <file>', 'HMAC key shared with the enforcers; standalone without it: a generated key')
    .option('--previous-signing-key-file <file>', 'a second key whose signatures /validate-pod accepts during a rotation (absent or empty file: none; docs/install.md)')
    .addOption(new Option('--gateway-user <username>', 'the only user allowed to change armorgate.io/* annotations').default('system:serviceaccount:armorgate:armorgate-webhook'))
    .addOption(new Option('--default-posture <spec>', 'posture when the namespace sets none, e.g. file=audit,network=block').default('file=audit,network=audit,capabilities=audit,process=audit'))
    .addOption(new Option('--default-visibility <kinds>', 'visibility logs when neither the pod nor its namespace has a kubearmor-visibility annotation: process,file,network,capabilities or none').default('none'))
    .addOption(new Option('--metrics-port <port>', 'HTTP port of Prometheus /metrics (-1: off)').default('9090'))
    .addOption(new Option('--shutdown-grace <seconds>', 'longest wait for in-flight reviews at SIGTERM').default('25'))
    .addOption(new Option('--body-read-timeout <seconds>', 'a review whose body has not arrived this long after its reading started is refused (408) and its connection closed').default('5'))
    .option('--no-reconcile', 'cluster mode: do not keep running pods\' armorgate.io/* annotations current (live binding)')
    .addOption(new Option('--reconcile-rate <pods/s>', 'live binding: pod patches (and policy status writes) a second at most').default('50'))
    .addOption(new Option('--reconcile-burst <n>', 'live binding: patches allowed at once above the rate').default('100'))
    .addOption(new Option('--reconcile-resync <seconds>', 'live binding: every pod is evaluated again this often (0: never)').default('300'))
    .addOption(new Option('--reconcile-exclude-namespaces <list>', 'live binding: comma-separated namespaces whose pods are left alone, as the webhook configurations leave them out (namespaces labelled armorgate.io/admission=disabled are too)').default('kube-system,armorgate'))
    .option('--no-leader-elect', 'live binding: patch from this replica without a Lease (run one replica only)')
    .addOption(new Option('--leader-elect-lease-name <name>', 'the Lease of the leader election').default('armorgate-webhook'))
    .addOption(new Option('--leader-elect-lease-namespace <ns>', 'its namespace (default: $POD_NAMESPACE, else armorgate)'))
    .addOption(new Option('--leader-elect-lease-duration <seconds>', 'how long a lease not renewed holds').default('15'))
    .addOption(new Option('--leader-elect-renew-deadline <seconds>', 'a leader that has not renewed for this long stops patching').default('10'))
    .addOption(new Option('--leader-elect-retry-period <seconds>', 'how often the lease is tried').default('2'))
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default $LOG_LEVEL, else info)')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const { parsePostureSpec } = await import('../policy/posture.ts');
      const usage = (m: string): void => { process.stderr.write(`armorgate webhook: ${m}\n`); process.exitCode = 2; };
      const port = Number(o.port), metricsPort = Number(o.metricsPort), grace = Number(o.shutdownGrace), bodyReadTimeout = Number(o.bodyReadTimeout);
      const num = (name: string, min: number): number | null => {
        const v = Number(o[name]);
        return Number.isFinite(v) && v >= min ? v : null;
      };
      const rate = num('reconcileRate', 0.01), burst = num('reconcileBurst', 1), resync = num('reconcileResync', 0);
      const leaseDuration = num('leaderElectLeaseDuration', 1), renewDeadline = num('leaderElectRenewDeadline', 0.1), retryPeriod = num('leaderElectRetryPeriod', 0.1);
      if (rate === null) return usage(`--reconcile-rate must be a positive number of pods a second, not ${String(o.reconcileRate)}`);
      if (burst === null || !Number.isInteger(burst)) return usage(`--reconcile-burst must be a whole number >= 1, not ${String(o.reconcileBurst)}`);
      if (resync === null) return usage(`--reconcile-resync must be a number of seconds >= 0, not ${String(o.reconcileResync)}`);
      if (leaseDuration === null || renewDeadline === null || retryPeriod === null || !(renewDeadline < leaseDuration) || !(retryPeriod < renewDeadline)) {
        return usage('--leader-elect-*: need retry period < renew deadline < lease duration, all positive seconds');
      }
      if (!Number.isInteger(port) || port < 0 || port > 65535) return usage(`--port must be a port number, not ${o.port}`);
      if (!Number.isInteger(metricsPort) || metricsPort < -1 || metricsPort > 65535) return usage(`--metrics-port must be a port number or -1, not ${o.metricsPort}`);
      if (!Number.isFinite(grace) || grace < 0) return usage(`--shutdown-grace must be a number of seconds, not ${o.shutdownGrace}`);
      if (!Number.isFinite(bodyReadTimeout) || bodyReadTimeout <= 0) return usage(`--body-read-timeout must be a positive number of seconds, not ${String(o.bodyReadTimeout)}`);
      const { logLevel, makeLogger } = await import('../telemetry/log.ts');
      const level = logLevel(str(o.logLevel));
      if (!level.ok) return usage(level.error.message);
      const { refusedOtelSetting } = await import('../telemetry/config.ts');
      const refused = refusedOtelSetting(process.env);
      if (refused !== null) return usage(refused);
      const posture = parsePostureSpec(String(o.defaultPosture ?? ''));
      if (!posture.ok) return usage(`--default-posture: ${posture.error.message}`);
      const { parseVisibility } = await import('../policy/visibility.ts');
      const visibility = parseVisibility(String(o.defaultVisibility ?? 'none'));
      if (visibility.ignored.length > 0) return usage(`--default-visibility: '${visibility.ignored.join(',')}' is not process, file, network, capabilities or none`);
      if (o.policiesDir === undefined && o.kubeconfig === undefined && process.env.KUBERNETES_SERVICE_HOST === undefined) {
        return usage('no cluster: give --policies-dir (standalone) or --kubeconfig, or run in a pod');
      }
      const { startWebhook } = await import('../webhook/server.ts');
      let running;
      try {
        running = await startWebhook({
          port, metricsPort, tlsCertDir: str(o.tlsCertDir), kubeconfig: str(o.kubeconfig), policiesDir: str(o.policiesDir),
          signingKeyFile: str(o.signingKeyFile), previousSigningKeyFile: str(o.previousSigningKeyFile), gatewayUser: str(o.gatewayUser) ?? '', defaultPosture: posture.value, defaultVisibility: visibility.kinds,
          shutdownGraceMs: grace * 1000, bodyReadTimeoutMs: bodyReadTimeout * 1000, logger: makeLogger({ name: 'armorgate-webhook', level: level.value }),
          reconcile: o.reconcile === false ? undefined : {
            rate, burst, resyncMs: resync * 1000, leaderElect: o.leaderElect !== false,
            excludeNamespaces: (str(o.reconcileExcludeNamespaces) ?? '').split(',').map((x) => x.trim()).filter((x) => x !== ''),
            leaseName: str(o.leaderElectLeaseName) ?? 'armorgate-webhook',
            leaseNamespace: str(o.leaderElectLeaseNamespace) ?? process.env.POD_NAMESPACE ?? 'armorgate',
            identity: process.env.POD_NAME ?? `${os.hostname()}_${crypto.randomUUID().slice(0, 8)}`,
            leaseDurationMs: leaseDuration * 1000, renewDeadlineMs: renewDeadline * 1000, retryPeriodMs: retryPeriod * 1000,
          },
        });
      } catch (e) {
        process.stderr.write(`armorgate webhook: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = 1;
        return;
      }
      const r = running;
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          r.close().then(() => { process.exitCode = 0; resolve(); }, (e: unknown) => {
            process.stderr.write(`armorgate webhook: shutdown failed: ${e instanceof Error ? e.message : String(e)}\n`);
            process.exitCode = 1;
            resolve();
          });
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
    });
}
