// Alert and log lines to stdout in batches: the lines of one turn of the event loop (a ring-buffer
// poll turns up to 256 records into lines) leave in one write. stdout is a pipe or a file under a
// container runtime, and node writes to both synchronously on Linux: one write(2) per line was
// one system call per alert and per visibility log, on the enforcer's only thread.

export interface LineBatch {
  /** Queues a line (with its newline); written at the end of this turn of the event loop, or at
   *  once when `maxChars` are queued (UTF-16 units, as the lines' lengths count them: a bound on
   *  the batch, not an exact size in bytes). */
  write(line: string): void;
  /** Writes what is queued now. */
  flush(): void;
}

export function lineBatch(sink: (text: string) => void, maxChars = 64 * 1024): LineBatch {
  let queued: string[] = [];
  let chars = 0;
  let scheduled: NodeJS.Immediate | null = null;
  const flush = (): void => {
    if (scheduled !== null) { clearImmediate(scheduled); scheduled = null; }
    if (queued.length === 0) return;
    const text = queued.join('');
    queued = [];
    chars = 0;
    sink(text);
  };
  return {
    write(line: string): void {
      queued.push(line);
      chars += line.length;
      if (chars >= maxChars) flush();
      else scheduled ??= setImmediate(flush);
    },
    flush,
  };
}
