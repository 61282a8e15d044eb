// One qemu boot: TCG only (/dev/kvm exists on these machines but a KVM guest hangs), 2 vCPUs (or `cpus`),
// 2048 MiB, no network device, the host's root shared read-only over virtio-9p. ttyS0 is the
// console (kernel messages and process output, captured from qemu's stdout); ttyS1 goes to a
// file and carries only the runner's marker lines, read live so the host sees progress. A
// timeout kills qemu: a boot never outlives its budget.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import type { Message } from '../guest/protocol.ts';
import { decodeStream } from '../guest/protocol.ts';

export interface BootOptions {
  image: string;
  initrd: string;
  /** Kernel command line additions (after console, panic). */
  append: string[];
  /** File that receives ttyS1 (the marker stream). */
  markerFile: string;
  /** Raw disk images attached read-only as virtio disks (vda, vdb, ...). */
  disks?: string[];
  timeoutMs: number;
  memoryMiB?: number;
  cpus?: number;
  onConsole?: (chunk: string) => void;
  onMessage?: (m: Message, atMs: number) => void;
}

export interface BootResult {
  console: string;
  messages: Message[];
  problems: string[];
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  ms: number;
  /** Time from qemu's start to the runner's hello marker, when seen. */
  helloMs: number | null;
}

const CONSOLE_KEEP = 4 << 20;
const QEMU = 'qemu-system-x86_64';

export function qemuArgs(o: BootOptions): string[] {
  return [
    '-accel', process.env.AG_VM_ACCEL ?? 'tcg', '-machine', 'pc', '-cpu', process.env.AG_VM_CPU ?? 'max',
    '-smp', String(o.cpus ?? 2), '-m', String(o.memoryMiB ?? 2048),
    '-nographic', '-no-reboot', '-nic', 'none', '-monitor', 'none',
    '-serial', 'stdio', '-serial', `file:${o.markerFile}`,
    '-kernel', o.image, '-initrd', o.initrd,
    '-append', ['console=ttyS0', 'panic=-1', 'loglevel=4', ...o.append].join(' '),
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    ...(o.disks ?? []).flatMap((d) => ['-drive', `file=${d},if=virtio,format=raw,readonly=on`]),
  ];
}

export function boot(o: BootOptions): Promise<BootResult> {
  writeFileSync(o.markerFile, '');
  const started = Date.now();
  // qemu runs under coreutils' `timeout` in its own process group: killed as a group by us, and
  // by `timeout` itself should this process die without cleaning up (a killed test runner).
  const hardLimitS = Math.ceil(o.timeoutMs / 1000) + 30;
  const child = spawn('timeout', ['-s', 'KILL', String(hardLimitS), QEMU, ...qemuArgs(o)], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const killGroup = (): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch { /* already gone */ }
  };
  const onExit = (): void => killGroup();
  const onSignal = (sig: NodeJS.Signals): void => {
    killGroup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.kill(process.pid, sig);
  };
  process.on('exit', onExit);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let console = '';
  const keep = (s: string): void => {
    console += s;
    if (console.length > CONSOLE_KEEP) console = console.slice(console.length - CONSOLE_KEEP);
    o.onConsole?.(s);
  };
  child.stdout.setEncoding('utf8').on('data', keep);
  child.stderr.setEncoding('utf8').on('data', (s: string) => keep(`[qemu] ${s}`));

  // Live reading of the marker file: only complete lines are decoded.
  let offset = 0;
  let pending = '';
  let seen = 0;
  let helloMs: number | null = null;
  const poll = (): void => {
    let fd: number;
    try {
      if (statSync(o.markerFile).size <= offset) return;
      fd = openSync(o.markerFile, 'r');
    } catch {
      return;
    }
    try {
      const buf = Buffer.alloc(1 << 16);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, offset);
        if (n <= 0) break;
        offset += n;
        pending += buf.subarray(0, n).toString('latin1');
      }
    } finally {
      closeSync(fd);
    }
    const cut = pending.lastIndexOf('\n');
    if (cut < 0) return;
    const complete = pending.slice(0, cut + 1);
    pending = pending.slice(cut + 1);
    const { messages } = decodeStream(complete);
    for (const m of messages) {
      seen++;
      if (m.t === 'hello' && helloMs === null) helloMs = Date.now() - started;
      o.onMessage?.(m, Date.now() - started);
    }
  };
  const ticker = setInterval(poll, 100);

  return new Promise((resolve) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      keep(`\n[harness] timeout after ${o.timeoutMs} ms: killing qemu\n`);
      killGroup();
    }, o.timeoutMs);
    let finished = false;
    const finish = (code: number | null, signal: string | null): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      killGroup(); // whatever qemu may have left behind in its group
      process.off('exit', onExit);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      clearInterval(ticker);
      poll();
      // The authoritative decode: the whole file, with gap detection.
      let text = '';
      try {
        text = readFileSyncLatin1(o.markerFile);
      } catch { /* no marker file: nothing was written */ }
      const { messages, problems } = decodeStream(text);
      if (messages.length < seen) problems.push(`marker file shrank: ${messages.length} < ${seen} seen live`);
      resolve({ console, messages, problems, exitCode: code, signal, timedOut, ms: Date.now() - started, helloMs });
    };
    child.on('error', (e) => {
      keep(`[harness] cannot start ${QEMU} (under timeout): ${e.message}\n`);
      finish(null, null);
    });
    child.on('close', finish);
  });
}

function readFileSyncLatin1(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const size = statSync(path).size;
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n <= 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString('latin1');
  } finally {
    closeSync(fd);
  }
}
