// Text out to a file descriptor with write(2) itself, beside the stream node keeps for it. The
// enforcer's stdout is a FIFO or a file under a container runtime. node's process.stdout makes a
// FIFO non-blocking and queues in memory what the pipe cannot take; for a file it writes
// synchronously. Either way each batch pays the stream's bookkeeping and a copy of the text into
// a Buffer; `fs.writeSync` of the string skips both (`npm run bench:log-path`).
//
// So: while the stream has nothing queued, a batch goes out by write(2). What write(2) does not
// take at once (a full pipe: EAGAIN, or part of the text) goes to the stream, and every batch
// after it too until the stream has drained, so the order of the lines holds and a slow reader
// never blocks the daemon (the stream must be made first: for a FIFO it is what sets the
// descriptor non-blocking). Any other error (a closed reader, a bad descriptor) hands the
// descriptor to the stream for good. A terminal or a socket goes to the stream only.
import { fstatSync, writeSync } from 'node:fs';

/** The part of a Writable the sink uses (process.stdout). */
export interface SinkStream {
  write(chunk: string | Uint8Array): unknown;
  readonly writableLength: number;
}

export function fdSink(fd: number, stream: SinkStream): (text: string) => void {
  let direct = false;
  try {
    const st = fstatSync(fd);
    direct = st.isFile() || st.isFIFO();
  } catch { /* not open: the stream reports it */ }
  return (text: string): void => {
    if (!direct || stream.writableLength > 0) {
      stream.write(text);
      return;
    }
    let n: number;
    try {
      n = writeSync(fd, text);
    } catch (e) {
      // a full pipe takes nothing now: the stream queues it; anything else ends direct writes
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') direct = false;
      stream.write(text);
      return;
    }
    if (n < Buffer.byteLength(text)) stream.write(Buffer.from(text).subarray(n));
  };
}
