// Text out to a file descriptor with write(2) itself. The enforcer's stdout is a FIFO or a file
// under a container runtime, and for both node's process.stdout ends in one synchronous write
// anyway, after a stream's bookkeeping and a copy of the text into a Buffer: `fs.writeSync` of
// the string skips both (a third less per batch of log lines on this machine; `npm run
// bench:log-path`). What write(2) cannot take at once (a full non-blocking pipe, a closed
// reader, a terminal) goes to `fallback` (process.stdout.write), and everything after it too, so
// that the order of the lines is kept and no line is lost to an error here.
import { fstatSync, writeSync } from 'node:fs';

export function fdSink(fd: number, fallback: (chunk: string | Uint8Array) => void): (text: string) => void {
  let direct = false;
  try {
    const st = fstatSync(fd);
    direct = st.isFile() || st.isFIFO();
  } catch { /* not open: the fallback reports it */ }
  return (text: string): void => {
    if (!direct) {
      fallback(text);
      return;
    }
    let rest: Uint8Array | null = null;
    try {
      const n = writeSync(fd, text);
      const all = Buffer.byteLength(text);
      if (n >= all) return;
      rest = Buffer.from(text).subarray(n);
      while (rest.length > 0) rest = rest.subarray(writeSync(fd, rest));
    } catch {
      direct = false;
      // what was written stays written: the rest of this text (all of it when nothing went) goes on
      fallback(rest ?? text);
    }
  };
}
