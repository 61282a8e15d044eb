// The ScenarioContext of one scenario run, and the clean-up that undoes what it set up.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import { promisify } from 'node:util';
import { inspect } from 'node:util';
import type { Cgroup, MountOptions, RunOptions, RunResult, ScenarioContext, Started } from './scenario.ts';
import type { Job } from './protocol.ts';
import { createContainer } from './container.ts';

const exec = promisify(execFile);
export const CGROUP_ROOT = '/sys/fs/cgroup';
const STREAM_KEEP = 1 << 20;
const OUTPUT_KEEP = 48 << 10;

export interface ContextHandle {
  ctx: ScenarioContext;
  /** The scenario's output so far (its log lines and a line per process run), tail-capped. */
  output(): string;
  /** Undoes everything the scenario set up; never throws (problems go to the output). */
  cleanup(): Promise<void>;
  abort(reason: string): void;
}

export interface ContextDeps {
  job: Job;
  kernel: string;
  /** Console echo (the guest's stdout). */
  echo(line: string): void;
  emit(name: string, data: unknown): void;
}

function cgroupPathOf(cg: Cgroup | string): string {
  const p = typeof cg === 'string' ? cg : cg.path;
  return isAbsolute(p) ? p : join(CGROUP_ROOT, p);
}

function capped(s: string, add: string, max: number): string {
  const out = s + add;
  return out.length > max ? out.slice(out.length - max) : out;
}

export function createContext(deps: ContextDeps, scenarioName: string, index: number): ContextHandle {
  const controller = new AbortController();
  let output = '';
  const deferred: (() => void | Promise<void>)[] = [];
  const children = new Set<Started>();
  const cgroups: string[] = [];
  const mounts: string[] = [];
  const deferredRemovals: string[] = [];
  const tmp = mkdtempSync(join('/tmp', `ag-scenario-${index}-`));

  const log = (...args: unknown[]): void => {
    const line = args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 5, breakLength: 160 }))).join(' ');
    output = capped(output, line + '\n', OUTPUT_KEEP);
    deps.echo(`[${scenarioName}] ${line}`);
  };
  const note = (line: string): void => {
    output = capped(output, line + '\n', OUTPUT_KEEP);
  };

  const startIn = (cg: Cgroup | string | null, argv: string[], opts: RunOptions = {}): Started => {
    if (argv.length === 0) throw new Error('startIn: argv is empty');
    let cmd: string;
    let args: string[];
    const drop = opts.uid !== undefined || opts.gid !== undefined;
    const dropArgs = drop
      ? ['/usr/bin/setpriv', ...(opts.uid !== undefined ? [`--reuid=${opts.uid}`] : []),
        ...(opts.gid !== undefined ? [`--regid=${opts.gid}`] : []), '--clear-groups', '--']
      : [];
    if (cg !== null) {
      cmd = '/bin/sh';
      // $0 is 'sh' so that the shell's own messages (e.g. a refused exec) read like a shell's.
      args = ['-c', 'echo $$ > "$1" && shift && exec "$@"', 'sh', join(cgroupPathOf(cg), 'cgroup.procs'), ...dropArgs, ...argv];
    } else if (drop) {
      cmd = dropArgs[0] as string;
      args = [...dropArgs.slice(1), ...argv];
    } else {
      cmd = argv[0] as string;
      args = argv.slice(1);
    }
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? tmp,
      env: { ...process.env, ...(opts.env ?? {}) },
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => { stdout = capped(stdout, s, STREAM_KEEP); });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr = capped(stderr, s, STREAM_KEEP); });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => { /* the process may exit without reading */ });
      child.stdin.end(opts.input);
    }
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const started: Started = {
      pid: child.pid ?? -1,
      child,
      done: new Promise<RunResult>((resolveDone) => {
        const timer = setTimeout(() => {
          stderr = capped(stderr, `\n[harness] killed after ${timeoutMs} ms\n`, STREAM_KEEP);
          child.kill('SIGKILL');
        }, timeoutMs);
        let settled = false;
        const settle = (r: RunResult): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          children.delete(started);
          note(`$ ${argv.join(' ')}${cg !== null ? `  (in ${cgroupPathOf(cg)})` : ''} → ${r.signal ? `signal ${r.signal}` : `exit ${r.code}`}` +
            (r.stderr.trim() ? `\n  stderr: ${r.stderr.trim().split('\n').slice(-5).join('\n  stderr: ')}` : ''));
          resolveDone(r);
        };
        child.on('error', (e) => settle({ code: null, signal: null, stdout, stderr: stderr + `spawn ${argv[0]}: ${e.message}` }));
        child.on('close', (code, signal) => settle({ code, signal, stdout, stderr }));
      }),
      kill: (signal: NodeJS.Signals = 'SIGKILL') => { child.kill(signal); },
    };
    children.add(started);
    return started;
  };

  const mkCgroup = async (relPath: string): Promise<Cgroup> => {
    const rel = normalize(relPath).replace(/^\/+|\/+$/g, '');
    if (rel === '' || rel === '.' || rel.split('/').includes('..')) throw new Error(`mkCgroup: bad relative path ${JSON.stringify(relPath)}`);
    let p = CGROUP_ROOT;
    for (const part of rel.split('/')) {
      p = join(p, part);
      if (!existsSync(p)) {
        mkdirSync(p);
        cgroups.push(p);
      }
    }
    return { path: p, id: statSync(p, { bigint: true }).ino };
  };

  const mountTmpfs = async (dir: string, opts: MountOptions = {}): Promise<void> => {
    const target = resolve(dir);
    if (target === '/') throw new Error('mountTmpfs: refusing to mount over /');
    if (!existsSync(target)) {
      let anc = dirname(target);
      while (!existsSync(anc)) anc = dirname(anc);
      if (anc === '/') throw new Error(`mountTmpfs: ${target} has no existing ancestor but / to make writable`);
      await makeWritable(anc);
      mkdirSync(target, { recursive: true });
      if (opts.keepContents) return;
    }
    const stash = opts.keepContents ? mkdtempSync(join('/tmp', 'ag-stash-')) : null;
    if (stash) await exec('cp', ['-a', `${target}/.`, `${stash}/`]);
    await exec('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', target]);
    mounts.push(target);
    if (stash) {
      await exec('cp', ['-a', `${stash}/.`, `${target}/`]);
      rmSync(stash, { recursive: true, force: true });
    }
  };

  /** dir becomes writable with its contents: an overlay with a tmpfs upper layer (a copy on a
   *  tmpfs when overlayfs is not to be had). */
  const makeWritable = async (dir: string): Promise<void> => {
    const layers = mkdtempSync(join('/tmp', 'ag-overlay-'));
    mkdirSync(join(layers, 'upper'));
    mkdirSync(join(layers, 'work'));
    try {
      await exec('modprobe', ['-d', deps.job.kernelTree, 'overlay']).catch(() => undefined);
      await exec('mount', ['-t', 'overlay', 'overlay', '-o',
        `lowerdir=${dir},upperdir=${join(layers, 'upper')},workdir=${join(layers, 'work')}`, dir]);
      mounts.push(dir);
      deferredRemovals.push(layers);
    } catch (e) {
      note(`[mountTmpfs] overlay over ${dir} failed (${e instanceof Error ? e.message.trim() : String(e)}); copying it to a tmpfs`);
      rmSync(layers, { recursive: true, force: true });
      await mountTmpfs(dir, { keepContents: true });
    }
  };

  const ctx: ScenarioContext = {
    kernel: deps.kernel,
    kernelSeries: deps.job.kernelSeries,
    attachMode: deps.job.attachMode,
    root: deps.job.root,
    tmp,
    env: { ...deps.job.env },
    signal: controller.signal,
    mkCgroup,
    runIn: (cg, argv, opts) => startIn(cg, argv, opts).done,
    startIn,
    mountTmpfs,
    modprobe: async (name) => { await exec('modprobe', ['-d', deps.job.kernelTree, name]); },
    container: (opts) => createContainer({
      kernelTree: deps.job.kernelTree, mkCgroup, defer: (fn) => { deferred.push(fn); }, note,
      track: (s) => { children.add(s); }, untrack: (s) => { children.delete(s); },
    }, opts),
    defer: (fn) => { deferred.push(fn); },
    log,
    emit: (name, data) => deps.emit(name, data),
  };

  const cleanup = async (): Promise<void> => {
    const attempt = async (what: string, fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        note(`[cleanup] ${what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    for (const fn of deferred.reverse()) await attempt('deferred step', fn);
    for (const s of [...children]) {
      s.kill('SIGKILL');
      await attempt('waiting for a killed process', () => Promise.race([s.done, sleep(2000)]));
    }
    for (const cg of [...cgroups].reverse()) {
      if (existsSync(cg)) await attempt(`removing cgroup ${cg}`, () => removeCgroupTree(cg));
    }
    for (const m of [...mounts].reverse()) await attempt(`unmounting ${m}`, () => exec('umount', ['-l', m]));
    for (const d of [tmp, ...deferredRemovals]) await attempt(`removing ${d}`, () => rmSync(d, { recursive: true, force: true }));
  };

  return { ctx, output: () => output, cleanup, abort: (reason) => controller.abort(new Error(reason)) };
}

/** Kills every process of the cgroup and of its descendants, then removes them, deepest first. */
async function removeCgroupTree(cg: string): Promise<void> {
  for (const e of readdirSync(cg, { withFileTypes: true })) {
    if (e.isDirectory()) await removeCgroupTree(join(cg, e.name));
  }
  if (existsSync(join(cg, 'cgroup.kill'))) writeFileSync(join(cg, 'cgroup.kill'), '1');
  else for (const pid of readFileSync(join(cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
    try { process.kill(Number(pid), 'SIGKILL'); } catch { /* already gone */ }
  }
  for (let i = 0; i < 100 && readFileSync(join(cg, 'cgroup.procs'), 'utf8').trim() !== ''; i++) await sleep(20);
  rmdirSync(cg);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
