// Host side of the VM test harness. STABLE CONTRACT (the guest side is vm/guest/scenario.ts).
//
//   runSuite({ kernel: '6.12' | '6.1', suites, attachMode: 'cgroup' | 'global', env?, timeoutMs })
//     → { results: { name, ok, error?, output, ms }[], console, bootMs, error? }
//   One qemu boot (TCG) of that kernel with the host's root shared read-only; the guest imports
//   every suite module (paths relative to the project root) and runs all their scenarios. `error`
//   says why the boot as a whole went wrong (did not boot, hung, panicked, stopped early); each
//   scenario that was planned but never reported is a failed result. Never hangs: timeoutMs
//   kills qemu.
//
//   registerVmTests(title, { suites, kernels?, attachModes?, env?, timeoutMs? })
//   For host test files: one node:test test per (kernel, attach mode), each scenario a subtest
//   (its output and error on failure); the test fails with the console's tail when the guest
//   hangs, panics or does not boot. Skips, saying why, only when the VM cannot be had at all
//   (not root and qemu or the kernels missing).
//
// Environment knobs for developers: AG_VM_KERNELS=6.12 (comma list) limits the kernels,
// AG_VM_MODES=cgroup limits the attach modes, AG_VM_ONLY=text runs only scenarios whose name
// contains it, AG_VM_VERBOSE=1 streams the guest console to stderr. Logs of the last boot per
// (kernel, mode): .cache/vm/logs/.
import { execFileSync } from 'node:child_process';
import { mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { AttachMode, Job, KernelSeries, Message } from '../guest/protocol.ts';
import { buildInitramfs } from './initramfs.ts';
import { cacheDir, prepareKernels, readKernel } from './kernels.ts';
import { nodeModulesImage } from './modules-image.ts';
import { containerRootfsImage } from './rootfs.ts';
import { boot } from './qemu.ts';

export type { AttachMode, KernelSeries } from '../guest/protocol.ts';

/** The project root, derived from this file's location (CI runs from a clone elsewhere). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const KERNELS: readonly KernelSeries[] = ['6.12', '6.1'];
export const ATTACH_MODES: readonly AttachMode[] = ['cgroup', 'global'];

export interface RunSuiteOptions {
  kernel: KernelSeries;
  /** Guest module paths relative to the project root. */
  suites: string[];
  attachMode: AttachMode;
  env?: Record<string, string>;
  /** Budget of the whole boot (boot + every scenario); qemu is killed past it. */
  timeoutMs: number;
  /** Default per-scenario timeout in the guest (60 s). */
  scenarioTimeoutMs?: number;
  /** vCPUs of the guest (default 2). */
  cpus?: number;
  /** The boot runs real containers (ctx.container): builds the containers' Debian root once
   *  (vm/harness/rootfs.ts, about 75 s here; cached in .cache/vm/) and attaches it. */
  containers?: boolean;
  /** Run only scenarios whose name contains one of these. */
  only?: string[];
  /** Progress lines (preparing, booting, each scenario's start and end). */
  onProgress?: (line: string) => void;
  /** Raw console output as it comes. */
  onConsole?: (chunk: string) => void;
  /** Structured events sent by scenarios with ctx.emit. */
  onEvent?: (name: string, data: unknown) => void;
}

export interface ScenarioResult {
  name: string;
  suite: string;
  ok: boolean;
  error?: string;
  output: string;
  ms: number;
}

export interface SuiteRun {
  results: ScenarioResult[];
  console: string;
  /** From qemu's start to the guest runner's first word (boot overhead); -1 when it never spoke. */
  bootMs: number;
  /** Whole run, qemu start to exit. */
  totalMs: number;
  /** The guest kernel's release, as it reported it. */
  kernelRelease?: string;
  error?: string;
}

let runCounter = 0;

export async function runSuite(o: RunSuiteOptions): Promise<SuiteRun> {
  const root = PROJECT_ROOT;
  const progress = o.onProgress ?? (() => {});
  progress(`preparing kernel ${o.kernel}`);
  await prepareKernels(root, [o.kernel]);
  const kernel = readKernel(root, o.kernel);
  const initrd = await buildInitramfs(root, kernel);
  const modulesImage = await nodeModulesImage(root);
  const rootfsImage = o.containers ? (await containerRootfsImage(root, progress)).path : null;
  // virtio disks in order: vda, vdb, ...
  const disks = [modulesImage, rootfsImage].filter((d): d is string => d !== null);
  const dev = (img: string): string => `vd${String.fromCharCode(97 + disks.indexOf(img))}`;

  const jobDir = join(cacheDir(root), 'jobs', `${process.pid}-${++runCounter}-${o.kernel}-${o.attachMode}`);
  rmSync(jobDir, { recursive: true, force: true });
  mkdirSync(jobDir, { recursive: true });
  const job: Job = {
    root, suites: o.suites, attachMode: o.attachMode, kernelSeries: o.kernel, env: o.env ?? {},
    kernelTree: kernel.tree, scenarioTimeoutMs: o.scenarioTimeoutMs ?? 60_000, only: o.only ?? [],
  };
  const jobFile = join(jobDir, 'job.json');
  for (const p of [jobFile, root, process.execPath, kernel.tree]) {
    if (/[\s"'$`\\]/.test(p)) throw new Error(`path ${JSON.stringify(p)} has a space or shell character: the guest's command line cannot carry it`);
  }
  writeFileSync(jobFile, JSON.stringify(job));
  writeFileSync(join(jobDir, 'job.env'), `AG_ROOT='${root}'\nAG_NODE='${process.execPath}'\nAG_KERNEL_TREE='${kernel.tree}'\n`);

  progress(`booting ${kernel.release} (TCG, attach mode ${o.attachMode})`);
  const planned: { name: string; suite: string }[] = [];
  const onMessage = (m: Message, atMs: number): void => {
    if (m.t === 'hello') progress(`guest up after ${(atMs / 1000).toFixed(1)} s (kernel ${m.kernel}, node ${m.node})`);
    else if (m.t === 'start') progress(`  … ${m.name}`);
    else if (m.t === 'result') progress(`  ${m.ok ? 'ok  ' : 'FAIL'} ${m.name} (${m.ms} ms)`);
    else if (m.t === 'event') o.onEvent?.(m.name, m.data);
  };
  const verbose = process.env.AG_VM_VERBOSE === '1';
  const r = await boot({
    image: kernel.image,
    initrd,
    append: [`ag.stage2=${join(root, 'vm', 'guest', 'stage2.sh')}`, `ag.job=${jobFile}`, `ag.keep=${root}`,
      // the real folder: a worktree's node_modules may be a symlink, which the initramfs would resolve outside the share
      ...(modulesImage ? [`ag.nodemodules=${realpathSync(join(root, 'node_modules'))}`, `ag.nodemodulesdev=${dev(modulesImage)}`] : []),
      ...(rootfsImage ? [`ag.ctrootfs=${dev(rootfsImage)}`] : [])],
    disks,
    markerFile: join(jobDir, 'markers.log'),
    timeoutMs: o.timeoutMs,
    ...(o.cpus !== undefined ? { cpus: o.cpus } : {}),
    onConsole: (s) => {
      if (verbose) process.stderr.write(s);
      o.onConsole?.(s);
    },
    onMessage,
  });
  try {
    mkdirSync(join(cacheDir(root), 'logs'), { recursive: true });
    writeFileSync(join(cacheDir(root), 'logs', `${o.kernel}-${o.attachMode}.console.log`), r.console);
  } catch { /* logs are a convenience */ }
  rmSync(jobDir, { recursive: true, force: true });

  const results: ScenarioResult[] = [];
  let hello: Extract<Message, { t: 'hello' }> | undefined;
  let done = false;
  for (const m of r.messages) {
    if (m.t === 'hello') hello = m;
    else if (m.t === 'plan') planned.push(...m.scenarios);
    else if (m.t === 'result') results.push({ name: m.name, suite: m.suite, ok: m.ok, ...(m.error !== undefined ? { error: m.error } : {}), output: m.output, ms: m.ms });
    else if (m.t === 'done') done = true;
  }
  const problems: string[] = [...r.problems];
  if (r.timedOut) problems.push(`the guest was still running after ${o.timeoutMs} ms and was killed`);
  if (/Kernel panic/.test(r.console)) problems.push('the guest kernel panicked');
  if (!hello) problems.push('the guest never started the scenario runner (did not boot?)');
  else if (!done) problems.push('the guest stopped before reporting every scenario');
  if (!r.timedOut && r.exitCode !== 0 && r.exitCode !== null) problems.push(`qemu exited with status ${r.exitCode}`);
  const reported = new Set(results.map((x) => x.name));
  for (const p of planned) {
    if (!reported.has(p.name)) {
      results.push({ name: p.name, suite: p.suite, ok: false, error: `no result: ${problems.join('; ') || 'the guest never reported it'}`, output: '', ms: 0 });
    }
  }
  return {
    results,
    console: r.console,
    bootMs: r.helloMs ?? -1,
    totalMs: r.ms,
    ...(hello ? { kernelRelease: hello.kernel } : {}),
    ...(problems.length > 0 ? { error: problems.join('; ') } : {}),
  };
}

/** Why the VM cannot run here, or null when it can (prepares the kernels as a side effect). */
const availability = new Map<string, Promise<string | null>>();
export function vmUnavailableReason(kernels: readonly KernelSeries[] = KERNELS): Promise<string | null> {
  const key = [...kernels].sort().join(',');
  const known = availability.get(key);
  if (known) return known;
  const p = (async () => {
    const isRoot = process.getuid?.() === 0;
    try {
      execFileSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' });
    } catch {
      if (!isRoot) return 'qemu-system-x86_64 is not installed and, not being root, the harness cannot install it';
    }
    try {
      await prepareKernels(PROJECT_ROOT, kernels);
    } catch (e) {
      if (!isRoot) return `not root, and the VM cannot be prepared: ${e instanceof Error ? e.message : String(e)}`;
      throw e;
    }
    return null;
  })();
  availability.set(key, p);
  return p;
}

export interface VmTestOptions {
  suites: string[];
  kernels?: KernelSeries[];
  attachModes?: AttachMode[];
  env?: Record<string, string>;
  /** Budget of one boot; default 6 minutes. */
  timeoutMs?: number;
  scenarioTimeoutMs?: number;
  /** The suites run real containers (ctx.container): see RunSuiteOptions.containers. */
  containers?: boolean;
}

function envList<T extends string>(name: string, all: readonly T[]): T[] | null {
  const v = process.env[name];
  if (!v) return null;
  return v.split(',').map((x) => x.trim()).filter((x): x is T => (all as readonly string[]).includes(x));
}

/** Why a boot looks like a crash of the emulated machine rather than a failed check, or null:
 *  a kernel oops or panic, the scenario runner killed by a signal, or a process of the guest
 *  dying of a fault signal (as a scenario reports it). */
export function guestCrash(run: Pick<SuiteRun, 'console' | 'results' | 'error'>): string | null {
  const oops = /\b(Kernel panic - not syncing[^\n]*|BUG: [^\n]*|general protection fault[^\n]*|Oops: [^\n]*)/.exec(run.console);
  if (oops) return `guest kernel: ${oops[1]!.trim()}`;
  const runner = /runner exited with status (1[3-9]\d|2[0-5]\d)\b/.exec(run.console);
  if (runner) return `the scenario runner died (status ${runner[1]}: killed by signal ${Number(runner[1]) - 128})`;
  for (const r of run.results) {
    if (r.ok) continue;
    const sig = /\bsignal (SIGSEGV|SIGTRAP|SIGILL|SIGBUS)\b/.exec(`${r.error ?? ''}\n${r.output}`);
    if (sig) return `a guest process died of ${sig[1]} in "${r.name}"`;
  }
  return null;
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

export function registerVmTests(title: string, opts: VmTestOptions): void {
  const kernels = envList('AG_VM_KERNELS', KERNELS) ?? opts.kernels ?? [...KERNELS];
  const modes = envList('AG_VM_MODES', ATTACH_MODES) ?? opts.attachModes ?? [...ATTACH_MODES];
  const only = process.env.AG_VM_ONLY ? [process.env.AG_VM_ONLY] : [];
  const timeoutMs = opts.timeoutMs ?? 360_000;
  // Two guests at a time where the host has two cores or more (AG_VM_PARALLEL overrides): a guest
  // mostly keeps one host core busy, and `node --test` runs one test file at a time, so the
  // other core would idle. Measured here for the enforcer suite's four boots under the same
  // load: 17.5 min two at a time against about 22 min one at a time.
  const parallel = Math.max(1, Math.floor(Number(process.env.AG_VM_PARALLEL ?? String(Math.min(2, availableParallelism())))) || 1);
  // Guests side by side get one vCPU each (AG_VM_SMP overrides). Under multi-threaded TCG a guest's
  // vCPUs wait on each other for every cross-CPU TLB flush (each fork, exec, munmap), which stalls
  // once the host's cores are oversubscribed: measured here for the enforcer suite's two 6.12 boots
  // side by side, 155 s with one vCPU each against about 270 s with two (and 145 s for one boot
  // alone with one vCPU, 110 s with two).
  const sideBySide = parallel > 1 && kernels.length * modes.length > 1;
  const cpus = Math.floor(Number(process.env.AG_VM_SMP ?? (sideBySide ? '1' : '2'))) || 2;
  const boots = (): void => {
    for (const kernel of kernels) {
      for (const attachMode of modes) {
        // 'vm:' in every name: `npm run test:unit` skips them with --test-skip-pattern=vm.
        test(`vm: ${title} [kernel ${kernel}, attach ${attachMode}]`, { timeout: timeoutMs + 180_000 }, async (t) => {
          const reason = await vmUnavailableReason(kernels);
          if (reason) {
            t.skip(`VM tests skipped: ${reason}`);
            return;
          }
          const boot = (names: string[]): Promise<SuiteRun> => runSuite({
            kernel, attachMode, suites: opts.suites, timeoutMs, only: names, cpus,
            ...(opts.env ? { env: opts.env } : {}),
            ...(opts.scenarioTimeoutMs ? { scenarioTimeoutMs: opts.scenarioTimeoutMs } : {}),
            ...(opts.containers ? { containers: true } : {}),
          });
          let run = await boot(only);
          t.diagnostic(`kernel ${run.kernelRelease ?? kernel}, ${cpus} vCPU: runner up ${(run.bootMs / 1000).toFixed(1)} s after qemu start; whole boot ${(run.totalMs / 1000).toFixed(1)} s`);
          // The emulated machine crashes now and then (a guest kernel oops in an interrupt, once in
          // CI) in runs whose every scenario passes on the next boot; node's own aborts in the guest
          // are answered by V8 flags (vm/README.md). Boot again, at most twice, for the
          // scenarios that did not pass (all of them when the runner died before its plan), and say
          // so: a failed check is never retried, and the crashes stay in the output.
          for (let attempt = 2; attempt <= 3; attempt++) {
            const crash = guestCrash(run);
            if (crash === null) break;
            const passed = run.results.filter((r) => r.ok);
            const redo = run.results.filter((r) => !r.ok).map((r) => r.name);
            t.diagnostic(`the guest crashed (${crash}); boot ${attempt} for ${redo.length > 0 ? `the ${redo.length} scenario(s) that did not pass: ${redo.join(' | ')}` : 'every scenario (none reported)'}`);
            t.diagnostic(`console of boot ${attempt - 1} (tail):\n${tail(run.console, 40)}`);
            const again = await boot(redo.length > 0 ? redo : only);
            t.diagnostic(`boot ${attempt}: runner up ${(again.bootMs / 1000).toFixed(1)} s; whole boot ${(again.totalMs / 1000).toFixed(1)} s${again.error ? `; ${again.error}` : ''}`);
            const kept = passed.filter((r) => !again.results.some((x) => x.name === r.name));
            run = { ...again, results: [...kept, ...again.results] };
          }
          for (const r of run.results) {
            await t.test(r.name, (st) => {
              st.diagnostic(`${r.ms} ms in the guest (${r.suite})`);
              if (!r.ok) throw new Error(`${r.error ?? 'failed'}${r.output ? `\n--- scenario output ---\n${r.output}` : ''}`);
            });
          }
          if (run.error) throw new Error(`${run.error}\n--- guest console (tail) ---\n${tail(run.console, 60)}`);
        });
      }
    }
  };
  if (sideBySide) void describe(`vm: ${title}, ${parallel} boots at a time`, { concurrency: parallel }, boots);
  else boots();
}
