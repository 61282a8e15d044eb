// enforcer/fd-sink.ts: text straight to a file or FIFO with write(2) while the stream beside it has
// nothing queued; what a full pipe does not take goes to the stream, and everything after it until
// the stream drains; any other error hands the descriptor to the stream for good. Nothing lost,
// the order kept, a slow reader never blocks.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fdSink, type SinkStream } from '../../enforcer/fd-sink.ts';

/** A stream that keeps what it is given, "queued" until drain(). */
function fakeStream(): SinkStream & { got: string[]; drain(): void } {
  let queued = 0;
  const got: string[] = [];
  return {
    got,
    write(c: string | Uint8Array) { const t = typeof c === 'string' ? c : Buffer.from(c).toString(); got.push(t); queued += Buffer.byteLength(t); return false; },
    get writableLength() { return queued; },
    drain() { queued = 0; },
  };
}

function withDir(fn: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ag-fdsink-'));
    try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
}

test('a file gets the text by write(2), the stream nothing', withDir((dir) => {
  const path = join(dir, 'out');
  const fd = openSync(path, 'w');
  const s = fakeStream();
  const sink = fdSink(fd, s);
  sink('{"a":1}\n');
  sink('{"b":"é ü 字"}\n');
  closeSync(fd);
  assert.equal(readFileSync(path, 'utf8'), '{"a":1}\n{"b":"é ü 字"}\n');
  assert.deepEqual(s.got, []);
}));

test('a blocking FIFO gets the text by write(2), whole, past the pipe\'s buffer', withDir(async (dir) => {
  const fifo = join(dir, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  // a reader in another process (a blocking FIFO's open and its writes wait for it): counts the bytes
  const reader = spawn(process.execPath, ['-e', `let n = 0; const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(fifo)}, 'r'); const b = Buffer.alloc(65536); let k; while ((k = fs.readSync(fd, b)) > 0) n += k; process.stdout.write(String(n));`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let got = '';
  reader.stdout.on('data', (d: Buffer) => { got += d.toString(); });
  const closed = new Promise((resolve) => reader.on('close', resolve));
  const fd = openSync(fifo, 'w');
  const s = fakeStream();
  const sink = fdSink(fd, s);
  const text = `${'x'.repeat(199)}\n`.repeat(2000); // 400,000 bytes: several pipe buffers
  sink(text);
  sink('é\n');
  closeSync(fd);
  await closed;
  assert.equal(Number(got), text.length + 3);
  assert.deepEqual(s.got, []);
}));

test('a non-blocking FIFO that is full: the rest to the stream, later text after it until it drains, then write(2) again; nothing lost, the order kept', withDir((dir) => {
  const fifo = join(dir, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  // read-write and non-blocking, as node leaves a pipe it made a stream for: no reader to wait for
  const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  const drainPipe = (): string => {
    const b = Buffer.alloc(1 << 20);
    let out = '';
    for (;;) {
      try { const k = readSync(fd, b); if (k <= 0) break; out += b.subarray(0, k).toString(); } catch { break; }
    }
    return out;
  };
  try {
    const s = fakeStream();
    const sink = fdSink(fd, s);
    const big = `${'y'.repeat(99)}\n`.repeat(1500); // 150,000 bytes: more than the pipe holds
    sink(big);
    assert.ok(s.got.length === 1 && s.got[0]!.length > 0 && s.got[0]!.length < big.length, 'part went by write(2), the rest to the stream');
    sink('next\n');
    assert.equal(s.got.at(-1), 'next\n', 'the stream has some queued: later text goes after it');
    const piped = drainPipe();
    assert.equal(piped + s.got.join(''), big + 'next\n', 'nothing lost, in order');
    s.drain();
    sink('after\n');
    assert.equal(drainPipe(), 'after\n', 'drained: write(2) again');
    // a pipe full to the byte: write(2) takes nothing (EAGAIN), the stream gets it, direct writes go on after
    try { for (;;) writeSync(fd, Buffer.alloc(4096, 0x7a)); } catch { /* full */ }
    sink('full\n');
    assert.equal(s.got.at(-1), 'full\n');
    drainPipe();
    s.drain();
    sink('again\n');
    assert.equal(drainPipe(), 'again\n');
  } finally {
    closeSync(fd);
  }
}));

test('a write(2) that fails otherwise (a closed descriptor), and a descriptor fstat cannot read, go to the stream for good', withDir((dir) => {
  const fd = openSync(join(dir, 'f'), 'w');
  const s = fakeStream();
  const sink = fdSink(fd, s);
  sink('one\n');
  closeSync(fd); // the descriptor goes away under the sink: write(2) fails (EBADF)
  sink('two\n');
  s.drain();
  sink('three\n');
  assert.deepEqual(s.got, ['two\n', 'three\n']);
  assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'one\n');
  const notOpen = fakeStream();
  fdSink(999_999, notOpen)('x\n');
  assert.deepEqual(notOpen.got, ['x\n']);
}));
