// The demo's host side (scripts/demo.sh runs it):
//   1. on the host: an OTLP/HTTP receiver, `armorgate webhook` standalone (self-signed HTTPS) with
//      the seed's policies, the example pod admitted through POST /mutate-pod (demo/admission.ts);
//   2. in the test VM (Debian 6.12 by default, TCG, the project shared read-only): the pod's
//      containers run as real runc containers in the cgroups kubelet's systemd driver makes, the
//      enforcer puts the admitted pod's profile in force, and an attacker, root in the containers,
//      tries its luck; a control container outside every pod tries the same (demo/guest.ts);
//   3. the report: each attempt, the alerts in KubeArmor's shape, the trace from admission to the
//      kernel's verdicts as a tree (demo/report.ts).
// Exit status 0 when every attempt went as the policies say.
//   node demo/run.ts [--kernel 6.12|6.1] [--attach-mode cgroup|global] [--json FILE] [--verbose]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT, runSuite, type AttachMode, type KernelSeries } from '../vm/harness/index.ts';
import { admit, prepareInputs } from './admission.ts';
import type { DemoInput, GuestReport } from './guest.ts';
import { startReceiver } from './otlp-receiver.ts';
import { formatReport, type Attempt, type DemoReport } from './report.ts';

const { values } = parseArgs({
  options: {
    kernel: { type: 'string', default: '6.12' },
    'attach-mode': { type: 'string', default: 'cgroup' },
    json: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});
const kernel = values.kernel as KernelSeries;
const attachMode = values['attach-mode'] as AttachMode;
if (!['6.12', '6.1'].includes(kernel) || !['cgroup', 'global'].includes(attachMode)) {
  process.stderr.write('usage: demo/run.ts [--kernel 6.12|6.1] [--attach-mode cgroup|global] [--json FILE] [--verbose]\n');
  process.exit(2);
}

const t0 = Date.now();
const stamp = (): string => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s]`;
const say = (line: string): void => { process.stdout.write(`${stamp()} ${line}\n`); };

// 1. Admission on the host.
const root = PROJECT_ROOT;
const receiver = await startReceiver();
const dir = join(root, '.cache', 'demo');
const { policiesDir, keyFile } = prepareInputs(root, dir);
say('admission: starting armorgate webhook (standalone) with examples/policies and the namespace');
let admitted;
try {
  admitted = await admit(root, policiesDir, keyFile, receiver.endpoint, say);
} catch (e) {
  say(`DEMO FAILED at admission: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
say(`admitted ${admitted.pod.metadata.namespace}/${admitted.pod.metadata.name} through POST /mutate-pod: ${Object.keys(admitted.pod.metadata.annotations ?? {}).filter((k) => k.startsWith('armorgate.io/')).length} armorgate.io/* annotations, profile signed`);
const input: DemoInput = { pod: admitted.pod, later: admitted.later, containerIds: admitted.containerIds, keyFile };
writeFileSync(join(dir, 'input.json'), JSON.stringify(input));

// 2. The node, in the VM. While the guest boots there is nothing from the runner yet: show the
// kernel's progress instead.
let booted = false;
let lastConsole = Date.now();
let consoleBuf = '';
const ticker = setInterval(() => {
  if (!booted && Date.now() - lastConsole > 4500) say('  … still booting (TCG emulation is slow: 10-30 s)');
}, 5000);
let guest: GuestReport | undefined;
const run = await runSuite({
  kernel, attachMode, suites: ['demo/guest.ts'], containers: true, timeoutMs: 600_000, scenarioTimeoutMs: 420_000, env: { AG_DEMO_DIR: dir },
  onProgress: (line) => {
    if (line.startsWith('guest up')) booted = true;
    if (!line.startsWith('  …') && !line.includes('demo: the admitted pod')) say(line);
  },
  onConsole: (chunk) => {
    if (values.verbose) process.stderr.write(chunk);
    consoleBuf += chunk;
    const cut = consoleBuf.lastIndexOf('\n');
    if (cut < 0) return;
    const complete = consoleBuf.slice(0, cut);
    consoleBuf = consoleBuf.slice(cut + 1);
    if (booted) return;
    for (const l of complete.split(/\r?\n/)) {
      const m = /(ag-(init|stage2): .*|Linux version \S+|Run \/init.*)$/.exec(l);
      if (m) { say(`  ${m[1]}`); lastConsole = Date.now(); }
    }
  },
  onEvent: (name, data) => {
    if (name === 'step') say(String(data));
    else if (name === 'attempt') {
      const a = data as Attempt;
      say(`  ${a.outcome === a.expect ? (a.outcome === 'denied' ? 'DENIED ' : 'allowed') : `UNEXPECTED ${a.outcome}`}  ${a.container ?? 'control'}: ${a.what}`);
    } else if (name === 'report') guest = data as GuestReport;
  },
});
clearInterval(ticker);
await receiver.close();

// 3. The report.
const result = run.results[0];
if (guest) {
  const report: DemoReport = {
    kernel: guest.kernel, attachMode: guest.attachMode,
    pod: `${admitted.pod.metadata.namespace}/${admitted.pod.metadata.name}`, uid: admitted.pod.metadata.uid ?? '',
    annotations: admitted.pod.metadata.annotations ?? {}, warnings: admitted.warnings, attempts: guest.attempts,
    alerts: guest.alerts, alertCount: guest.alertCount ?? guest.alerts.length,
    spans: [admitted.rootSpan, ...receiver.spans, ...guest.spans],
    spanCount: 1 + receiver.spans.length + (guest.spanCount ?? guest.spans.length),
    logs: guest.logs ?? [], logCount: guest.logCount ?? guest.logs?.length ?? 0,
    traceId: admitted.traceId, receiverProblems: [...receiver.problems, ...guest.receiverProblems],
  };
  process.stdout.write(`\n${formatReport(report)}\n\n`);
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));
}
say(`VM: kernel ${run.kernelRelease ?? kernel}, runner up ${(run.bootMs / 1000).toFixed(1)} s after qemu start; guest part ${result ? (result.ms / 1000).toFixed(1) : '?'} s; total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
if (!result?.ok || run.error) {
  process.stdout.write(`\nDEMO FAILED${run.error ? `: ${run.error}` : ''}\n`);
  if (result?.error) process.stdout.write(`${result.error.split('\n').slice(0, 12).join('\n')}\n--- scenario output (tail) ---\n${result.output.split('\n').slice(-25).join('\n')}\n`);
  if (!guest || run.error) process.stdout.write(`--- guest console (tail) ---\n${run.console.split('\n').slice(-30).join('\n')}\n`);
  process.exitCode = 1;
} else {
  say('demo done: every attempt went as the policies say');
}
