// `armorgate webhook`: the admission webhook daemon (see webhook/server.ts). Resolves when it
// has shut down after SIGTERM or SIGINT; exit code 0 then, 2 on a usage error, 1 on failure.
import { Command, Option } from 'commander';

export function command(): Command {
  return new Command('webhook')
    .description('serve the admission webhook over HTTPS: validate policies, annotate and sign pods, guard the annotations')
    .addOption(new Option('--port <port>', 'HTTPS port (also /healthz and /readyz)').default('9443'))
    .option('--tls-cert-dir <dir>', "directory with tls.crt and tls.key (cert-manager's Secret volume); standalone without it: a generated self-signed certificate")
    .option('--kubeconfig <file>', 'kubeconfig of the cluster (else in-cluster configuration)')
    .option('--policies-dir <dir>', 'standalone: read policies and Namespace objects from this folder (reloaded on change) instead of the API server')
    .option('--signing-key-file <file>', 'HMAC key shared with the enforcers; standalone without it: a generated key')
    .addOption(new Option('--gateway-user <username>', 'the only user allowed to change armorgate.io/* annotations').default('system:serviceaccount:armorgate:armorgate-webhook'))
    .addOption(new Option('--default-posture <spec>', 'posture when the namespace sets none, e.g. file=audit,network=block').default('file=audit,network=audit,capabilities=audit,process=audit'))
    .addOption(new Option('--metrics-port <port>', 'HTTP port of Prometheus /metrics (-1: off)').default('9090'))
    .addOption(new Option('--shutdown-grace <seconds>', 'longest wait for in-flight reviews at SIGTERM').default('25'))
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default $LOG_LEVEL, else info)')
    .action(async (o: Record<string, string | undefined>) => {
      const { parsePostureSpec } = await import('../policy/posture.ts');
      const usage = (m: string): void => { process.stderr.write(`armorgate webhook: ${m}\n`); process.exitCode = 2; };
      const port = Number(o.port), metricsPort = Number(o.metricsPort), grace = Number(o.shutdownGrace);
      if (!Number.isInteger(port) || port < 0 || port > 65535) return usage(`--port must be a port number, not ${o.port}`);
      if (!Number.isInteger(metricsPort) || metricsPort < -1 || metricsPort > 65535) return usage(`--metrics-port must be a port number or -1, not ${o.metricsPort}`);
      if (!Number.isFinite(grace) || grace < 0) return usage(`--shutdown-grace must be a number of seconds, not ${o.shutdownGrace}`);
      const { logLevel, makeLogger } = await import('../telemetry/log.ts');
      const level = logLevel(o.logLevel);
      if (!level.ok) return usage(level.error.message);
      const { refusedOtelSetting } = await import('../telemetry/config.ts');
      const refused = refusedOtelSetting(process.env);
      if (refused !== null) return usage(refused);
      const posture = parsePostureSpec(o.defaultPosture ?? '');
      if (!posture.ok) return usage(`--default-posture: ${posture.error.message}`);
      if (o.policiesDir === undefined && o.kubeconfig === undefined && process.env.KUBERNETES_SERVICE_HOST === undefined) {
        return usage('no cluster: give --policies-dir (standalone) or --kubeconfig, or run in a pod');
      }
      const { startWebhook } = await import('../webhook/server.ts');
      let running;
      try {
        running = await startWebhook({
          port, metricsPort, tlsCertDir: o.tlsCertDir, kubeconfig: o.kubeconfig, policiesDir: o.policiesDir,
          signingKeyFile: o.signingKeyFile, gatewayUser: o.gatewayUser ?? '', defaultPosture: posture.value,
          shutdownGraceMs: grace * 1000, logger: makeLogger({ name: 'armorgate-webhook', level: level.value }),
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
