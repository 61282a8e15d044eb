// The demo's guest side: one scenario run by the VM harness (see demo/run.ts, which has already
// admitted the pod through the webhook on the host and left it, signed, in $AG_DEMO_DIR). Inside the VM:
//   1. an OTLP/HTTP receiver (demo/otlp-receiver.ts) collects the enforcer's spans and alert log records;
//   2. the pod's containers "web" and "log-shipper" as real runc containers (overlay root, pivot_root,
//      containerd's default capabilities, no seccomp) in the cgroups kubelet's systemd driver makes
//      for a BestEffort pod, with the ids the pod's containerStatuses name, plus a control container
//      outside every pod;
//   3. `armorgate enforcer --pods-dir` gets the admitted pod and puts its profile in force;
//   4. an "attacker", root in the pod's containers, tries each forbidden action and allowed ones; the
//      control steps try the same outside any pod;
//   5. attempts, alerts and spans go back to the host as one 'report' event.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scenario, type Container, type ContainerOptions, type Started } from '../vm/guest/scenario.ts';
import { LATE_POLICY, type DemoPod, type Reannotated } from './admission.ts';
import { startReceiver, type LogRecordEntry, type SpanRecord } from './otlp-receiver.ts';
import { compactAlerts, type Attempt } from './report.ts';

const TOKEN_DIR = '/run/secrets/kubernetes.io/serviceaccount';

interface Daemon {
  proc: Started;
  out: string[];
  err: string[];
  exited: boolean;
}

function follow(proc: Started): Daemon {
  const d: Daemon = { proc, out: [], err: [], exited: false };
  const split = (into: string[]) => {
    let buf = '';
    return (chunk: Buffer | string): void => {
      buf += chunk.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        into.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    };
  };
  proc.child.stdout?.on('data', split(d.out));
  proc.child.stderr?.on('data', split(d.err));
  void proc.done.then(() => { d.exited = true; });
  return d;
}

async function waitFor<T>(what: string, ms: number, d: Daemon | null, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (d?.exited) throw new Error(`${what}: the process exited\n${d.err.slice(-20).join('\n')}`);
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}${d ? `\n${d.err.slice(-20).join('\n')}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function denied(r: { code: number | null; stderr: string; stdout: string }): boolean {
  // runc exec's own refused exec says "exec /usr/bin/dpkg: operation not permitted"
  return r.code !== 0 && /operation not permitted|permission denied/i.test(r.stderr + r.stdout);
}

interface AttemptSpec {
  container: string | null; // null: the control container, outside every pod
  what: string;
  argv: string[];
  expect: 'allowed' | 'denied';
  why: string;
}

const PERL_RAW = 'socket(my $s, PF_INET, SOCK_RAW, 1) or die "socket: $!\\n"; print "raw ICMP socket open\\n"';
const PERL_TCP = 'socket(my $s, PF_INET, SOCK_STREAM, 6) or die "socket: $!\\n"; print "TCP socket open\\n"';

const ATTEMPTS: AttemptSpec[] = [
  { container: 'web', what: 'read the service-account token with cat (the one allowed reader)', argv: ['cat', `/var/run/secrets/kubernetes.io/serviceaccount/token`], expect: 'allowed', why: 'service-account-token-one-reader: Allow fromSource /usr/bin/cat' },
  { container: 'web', what: 'read the service-account token with head', argv: ['head', '-c', '24', `${TOKEN_DIR}/token`], expect: 'denied', why: 'service-account-token-one-reader: Block' },
  { container: 'web', what: 'read the service-account token with base64', argv: ['base64', `${TOKEN_DIR}/token`], expect: 'denied', why: 'service-account-token-one-reader: Block' },
  { container: 'web', what: 'read a file of the trust store', argv: ['wc', '-c', '/etc/ssl/openssl.cnf'], expect: 'allowed', why: 'ca-certificates-read-only: reads pass' },
  { container: 'web', what: 'plant a certificate in /etc/ssl/certs', argv: ['sh', '-c', 'echo evil > /etc/ssl/certs/evil.pem'], expect: 'denied', why: 'ca-certificates-read-only: readOnly' },
  { container: 'web', what: 'delete /etc/ssl/openssl.cnf', argv: ['rm', '-f', '/etc/ssl/openssl.cnf'], expect: 'denied', why: 'ca-certificates-read-only: readOnly' },
  { container: 'web', what: 'add a CA under /usr/local/share/ca-certificates', argv: ['cp', '/etc/hostname', '/usr/local/share/ca-certificates/evil.crt'], expect: 'denied', why: 'ca-certificates-read-only: readOnly' },
  { container: 'web', what: 'rename a file inside /etc/pki', argv: ['mv', '/etc/pki/tls/cert.pem', '/etc/pki/tls/old.pem'], expect: 'denied', why: 'ca-certificates-read-only: readOnly' },
  { container: 'web', what: 'run apt-get', argv: ['apt-get', '--version'], expect: 'denied', why: 'no-package-managers: execname apt-get' },
  { container: 'web', what: 'run dpkg', argv: ['dpkg', '--version'], expect: 'denied', why: 'no-package-managers: execname dpkg' },
  { container: 'web', what: 'run ls', argv: ['ls', '/'], expect: 'allowed', why: 'no rule' },
  { container: 'web', what: 'open a raw ICMP socket', argv: ['perl', '-MSocket', '-e', PERL_RAW], expect: 'denied', why: 'no-raw-sockets: protocol raw' },
  { container: 'web', what: 'open a TCP socket', argv: ['perl', '-MSocket', '-e', PERL_TCP], expect: 'allowed', why: 'no rule for tcp' },
  { container: 'log-shipper', what: 'read the token with head in the sidecar', argv: ['head', '-c', '24', `${TOKEN_DIR}/token`], expect: 'allowed', why: 'the token rule selects container web only' },
  { container: 'log-shipper', what: 'run dpkg in the sidecar', argv: ['dpkg', '--version'], expect: 'denied', why: 'no-package-managers binds the whole pod' },
  { container: null, what: 'read the token with head outside any pod', argv: ['head', '-c', '24', `${TOKEN_DIR}/token`], expect: 'allowed', why: 'processes outside pods are never affected' },
  { container: null, what: 'plant a certificate in /etc/ssl/certs outside any pod', argv: ['sh', '-c', 'echo evil > /etc/ssl/certs/evil.pem'], expect: 'allowed', why: 'processes outside pods are never affected' },
  { container: null, what: 'run dpkg outside any pod', argv: ['dpkg', '--version'], expect: 'allowed', why: 'processes outside pods are never affected' },
  { container: null, what: 'open a raw ICMP socket outside any pod', argv: ['perl', '-MSocket', '-e', PERL_RAW], expect: 'allowed', why: 'CAP_NET_RAW is in the default set; no pod, no rule' },
];

/** What every container of the demo holds (the pod's and the control one): the service-account
 *  token as a tmpfs volume where kubelet mounts it, and trust stores in the container's own root
 *  (its writable overlay, so that only the LSM can refuse a write). */
function volumes(): ContainerOptions {
  return {
    tmpfs: [{ target: TOKEN_DIR, files: { token: `eyJhbGciOiJSUzI1NiJ9.demo-token.${randomBytes(8).toString('hex')}\n` } }],
    files: {
      '/etc/ssl/openssl.cnf': '# demo trust store\nopenssl_conf = default_conf\n',
      '/etc/ssl/certs/ca-certificates.crt': '-----BEGIN CERTIFICATE-----\ndemo\n-----END CERTIFICATE-----\n',
      '/usr/local/share/ca-certificates/corp-root.crt': 'demo\n',
      '/etc/pki/tls/cert.pem': 'demo\n',
    },
  };
}

/** What the host hands over in $AG_DEMO_DIR. */
export interface DemoInput {
  pod: DemoPod;
  /** The running pod's annotations once a policy was added (demo/admission.ts). */
  later: Reannotated;
  containerIds: Record<string, string>;
  keyFile: string;
}

/** What the guest sends back (the host adds the admission side). */
export interface GuestReport {
  kernel: string;
  attachMode: string;
  attempts: Attempt[];
  alerts: Record<string, unknown>[];
  alertCount?: number;
  spans: SpanRecord[];
  spanCount?: number;
  logs?: LogRecordEntry[];
  logCount?: number;
  receiverProblems: string[];
}

scenario('demo: the admitted pod under enforcement', async (ctx) => {
  const step = (text: string): void => { ctx.emit('step', text); ctx.log(text); };
  const node = process.execPath;
  const cli = join(ctx.root, 'bin', 'armorgate.js');
  const dir = ctx.env.AG_DEMO_DIR;
  assert.ok(dir, 'AG_DEMO_DIR is not set (run demo/run.ts)');
  const input = JSON.parse(readFileSync(join(dir, 'input.json'), 'utf8')) as DemoInput;
  const pod = input.pod;

  const receiver = await startReceiver();
  ctx.defer(() => receiver.close());

  // The pod's containers as kubelet has containerd start them: runc, systemd driver, BestEffort QoS,
  // the ids its containerStatuses name; and a control container outside every pod.
  const uid = pod.metadata.uid as string;
  const containers: Record<string, Container> = {};
  for (const [name, id] of Object.entries(input.containerIds)) {
    containers[name] = await ctx.container({ pod: { uid, qos: 'besteffort' }, driver: 'systemd', id, hostname: pod.metadata.name, ...volumes() });
  }
  const control = await ctx.container({ hostname: 'control', ...volumes() });
  const first = Object.values(containers)[0] as Container;
  step(`runc containers started (${Object.keys(containers).join(', ')}): overlay root, pivot_root, default capabilities, cgroups ${first.cgroupPath.replace(first.id, '<id>')}`);
  step(`control container outside every pod: ${control.cgroupPath}`);

  step(`starting armorgate enforcer --pods-dir (attach mode ${ctx.attachMode})`);
  const podsDir = join(ctx.tmp, 'pods');
  mkdirSync(podsDir);
  const pinDir = '/sys/fs/bpf/armorgate-demo';
  ctx.defer(async () => { await ctx.runIn(null, [node, cli, 'enforcer', '--cleanup', '--pin-dir', pinDir], { timeoutMs: 60_000 }); });
  const enforcer = follow(ctx.startIn(null, [node, cli, 'enforcer', '--signing-key-file', input.keyFile, '--pods-dir', podsDir,
    '--pin-dir', pinDir, '--attach-mode', ctx.attachMode, '--node-name', 'demo-node', '--cluster-name', 'demo',
    '--sweep-interval', '1'], {
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: 'armorgate-enforcer',
      OTEL_TRACES_EXPORTER: 'otlp', OTEL_LOGS_EXPORTER: 'otlp', OTEL_METRICS_EXPORTER: 'none', OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    },
    timeoutMs: 900_000,
  }));
  const logs = (): Record<string, unknown>[] => enforcer.err.flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } });
  const ready = await waitFor('the enforcer to start', 240_000, enforcer, () => logs().find((l) => l.msg === 'ready' || l.msg === 'running without enforcement'));
  if (ready.msg !== 'ready') {
    const why = logs().find((l) => typeof l.reason === 'string')?.reason;
    throw new Error(`the enforcer cannot enforce on this kernel: ${String(why ?? JSON.stringify(ready)).split('\n')[0]}`);
  }
  step('enforcer ready; the admitted pod goes into its pods folder');
  const tmpPod = join(podsDir, '.web.json.tmp');
  writeFileSync(tmpPod, JSON.stringify(pod));
  renameSync(tmpPod, join(podsDir, 'web.json'));
  const enforcedLog = await waitFor('the pod to be enforced', 60_000, enforcer, () => logs().find((l) => l.msg === 'pod enforced' || (typeof l.msg === 'string' && l.msg.startsWith('pod not enforced'))));
  assert.equal(enforcedLog.msg, 'pod enforced', JSON.stringify(enforcedLog));
  step('profile in force; the attacker starts');

  const attempts: Attempt[] = [];
  for (const a of ATTEMPTS) {
    const c = a.container === null ? control : containers[a.container];
    assert.ok(c, `no container ${a.container}`);
    const r = await c.exec(a.argv, { timeoutMs: 30_000 });
    const outcome: Attempt['outcome'] = denied(r) ? 'denied' : r.code === 0 ? 'allowed' : 'error';
    const attempt: Attempt = {
      container: a.container, what: a.what, command: a.argv.join(' '), expect: a.expect, outcome, why: a.why,
      detail: (outcome === 'allowed' ? r.stdout : r.stderr).trim().split('\n')[0]?.slice(0, 100) ?? '',
    };
    attempts.push(attempt);
    ctx.emit('attempt', attempt);
  }

  // A policy added while the pod runs: its new annotations reach the node (the pods folder), the
  // enforcer swaps the pod's rules, and the pod's next attempt is denied.
  const web = containers.web;
  assert.ok(web, 'no container web');
  const tryTar = async (c: Container, container: string | null, expect: Attempt['expect'], what: string, why: string): Promise<void> => {
    const r = await c.exec([LATE_POLICY.execname, '--version'], { timeoutMs: 30_000 });
    const outcome: Attempt['outcome'] = denied(r) ? 'denied' : r.code === 0 ? 'allowed' : 'error';
    const attempt: Attempt = { container, what, command: `${LATE_POLICY.execname} --version`, expect, outcome, why, detail: (outcome === 'allowed' ? r.stdout : r.stderr).trim().split('\n')[0]?.slice(0, 100) ?? '' };
    attempts.push(attempt);
    ctx.emit('attempt', attempt);
  };
  await tryTar(web, 'web', 'allowed', `run ${LATE_POLICY.execname} (before the policy is added)`, 'no rule yet');
  step(`policy ${LATE_POLICY.name} added while the pod runs: the pod's new annotations reach the node`);
  const from = logs().length;
  const tmpLater = join(podsDir, '.web.json.later');
  writeFileSync(tmpLater, JSON.stringify(input.later.pod));
  const tSwap = Date.now();
  renameSync(tmpLater, join(podsDir, 'web.json'));
  await waitFor('the new profile to be in force', 60_000, enforcer, () => logs().slice(from).find((l) => l.msg === 'pod enforced' && l.digest === input.later.digest));
  step(`new profile in force ${Date.now() - tSwap} ms after the annotations reached the node (rules swapped in place; the pod kept running)`);
  await tryTar(web, 'web', 'denied', `run ${LATE_POLICY.execname} (after the policy is added)`, `${LATE_POLICY.name}: execname ${LATE_POLICY.execname}, added while the pod runs`);
  await tryTar(control, null, 'allowed', `run ${LATE_POLICY.execname} outside any pod`, 'processes outside pods are never affected');

  // Let the ring buffer drain, then stop the enforcer so that its last spans are flushed.
  await new Promise((r) => setTimeout(r, 1500));
  step('stopping the enforcer (its last spans are flushed)');
  enforcer.proc.kill('SIGTERM');
  await Promise.race([enforcer.proc.done, new Promise((r) => setTimeout(r, 30_000))]);

  const alerts = enforcer.out.flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } });
  const report: GuestReport = {
    kernel: ctx.kernel, attachMode: ctx.attachMode, attempts, alerts, spans: receiver.spans, logs: receiver.logs, receiverProblems: receiver.problems,
  };
  ctx.emit('report', compactAlerts(report));
  const wrong = attempts.filter((a) => a.outcome !== a.expect);
  assert.equal(wrong.length, 0, `attempts that did not go as the policies say:\n${wrong.map((a) => `${a.what}: expected ${a.expect}, got ${a.outcome} (${a.detail})`).join('\n')}`);
}, { timeoutMs: 600_000 });
