// The guest's scenario runner (started by stage2.sh as `node runner.ts JOB.json`): imports the
// job's suite modules, runs every registered scenario in turn with its timeout and clean-up, and
// reports each one to the host as marker lines on ttyS1 (see protocol.ts). It never stops early:
// a suite that fails to import, a scenario that throws, hangs or crashes the event loop with an
// uncaught error is a failed result and the next scenario runs.
import { constants, openSync, readFileSync, writeSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createContext } from './context.ts';
import { encodeMessage, type Job, type Message } from './protocol.ts';
import { registeredScenarios, runsOn, setCurrentSuite, type RegisteredScenario } from './scenario.ts';

const DEFAULT_TIMEOUT_MS = 60_000;
const MARKER_PORT = '/dev/ttyS1';

function openMarkerPort(): (m: Message) => void {
  const fd = openSync(MARKER_PORT, constants.O_WRONLY | constants.O_NOCTTY);
  let seq = 0;
  return (m) => {
    const buf = Buffer.from(encodeMessage(seq++, m), 'latin1');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
  };
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.stack ?? `${e.name}: ${e.message}`;
  return String(e);
}

function echo(line: string): void {
  process.stdout.write(`ag-vm: ${line}\n`);
}

/** Rejects with the first uncaught error or unhandled rejection while a scenario runs. */
let crash: ((e: unknown) => void) | null = null;
process.on('uncaughtException', (e) => { if (crash) crash(e); else echo(`uncaught between scenarios: ${errorText(e)}`); });
process.on('unhandledRejection', (e) => { if (crash) crash(e); else echo(`unhandled rejection between scenarios: ${errorText(e)}`); });

async function runOne(job: Job, send: (m: Message) => void, s: RegisteredScenario, index: number): Promise<boolean> {
  send({ t: 'start', name: s.name, suite: s.suite });
  echo(`scenario ${index + 1}: ${s.name}`);
  const timeoutMs = s.timeoutMs ?? job.scenarioTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const t0 = performance.now();
  let handle;
  let error: string | undefined;
  try {
    handle = createContext({ job, kernel: release(), echo, emit: (name, data) => send({ t: 'event', name, data }) }, s.name, index);
  } catch (e) {
    error = `setting up the scenario context: ${errorText(e)}`;
  }
  if (handle) {
    const h = handle;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        s.fn(h.ctx),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            h.abort(`timed out after ${timeoutMs} ms`);
            reject(new Error(`timed out after ${timeoutMs} ms`));
          }, timeoutMs);
        }),
        new Promise<never>((_, reject) => { crash = reject; }),
      ]);
    } catch (e) {
      error = errorText(e);
    } finally {
      clearTimeout(timer);
      crash = null;
    }
    await h.cleanup();
  }
  const ms = Math.round(performance.now() - t0);
  const output = handle ? handle.output() : '';
  send({ t: 'result', name: s.name, suite: s.suite, ok: error === undefined, ...(error !== undefined ? { error } : {}), output, ms });
  echo(`${error === undefined ? 'ok' : 'FAILED'}: ${s.name} (${ms} ms)${error !== undefined ? `\n${error}` : ''}`);
  return error === undefined;
}

async function main(): Promise<void> {
  const jobPath = process.argv[2];
  if (!jobPath) throw new Error('usage: runner.ts JOB.json');
  const job = JSON.parse(readFileSync(jobPath, 'utf8')) as Job;
  Object.assign(process.env, job.env);
  const send = openMarkerPort();
  const uptimeMs = Math.round(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000);
  send({ t: 'hello', kernel: release(), uptimeMs, node: process.version });
  echo(`runner up ${uptimeMs} ms after boot on ${release()}, attach mode ${job.attachMode}`);

  const loadFailures: { suite: string; error: string }[] = [];
  for (const suite of job.suites) {
    setCurrentSuite(suite);
    try {
      await import(pathToFileURL(join(job.root, suite)).href);
    } catch (e) {
      loadFailures.push({ suite, error: errorText(e) });
    }
  }
  const boot = { kernel: job.kernelSeries, attachMode: job.attachMode };
  // AG_VM_EVERY_BOOT=1 (a benchmark that runs one boot of its own): scenarios' `on` is ignored
  const everyBoot = process.env.AG_VM_EVERY_BOOT === '1';
  const selected = registeredScenarios().filter((s) => (everyBoot || runsOn(s, boot)) && (job.only.length === 0 || job.only.some((o) => s.name.includes(o))));
  send({
    t: 'plan',
    scenarios: [...loadFailures.map((f) => ({ name: `load ${f.suite}`, suite: f.suite })), ...selected.map((s) => ({ name: s.name, suite: s.suite }))],
  });
  let failed = 0;
  for (const f of loadFailures) {
    failed++;
    send({ t: 'result', name: `load ${f.suite}`, suite: f.suite, ok: false, error: `importing the suite failed: ${f.error}`, output: '', ms: 0 });
    echo(`FAILED: load ${f.suite}\n${f.error}`);
  }
  for (const [i, s] of selected.entries()) {
    if (!(await runOne(job, send, s, i))) failed++;
  }
  send({ t: 'done', failed, total: selected.length + loadFailures.length });
  echo(`done: ${failed} failed of ${selected.length + loadFailures.length}`);
}

try {
  await main();
} catch (e) {
  echo(`runner failed: ${errorText(e)}`);
  process.exitCode = 1;
}
// Do not wait for handles that scenarios may have leaked: stage 2 powers off next.
process.exit();
