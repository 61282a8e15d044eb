// enforcer/fd-sink.ts: text straight to a file or FIFO with write(2), and to the fallback (the
// stdout stream) for anything else or once write(2) fails, nothing lost and the order kept.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fdSink } from '../../enforcer/fd-sink.ts';

test('a file gets the text by write(2), the fallback nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-fdsink-'));
  try {
    const path = join(dir, 'out');
    const fd = openSync(path, 'w');
    const fell: (string | Uint8Array)[] = [];
    const sink = fdSink(fd, (c) => fell.push(c));
    sink('{"a":1}\n');
    sink('{"b":"é ü 字"}\n');
    closeSync(fd);
    assert.equal(readFileSync(path, 'utf8'), '{"a":1}\n{"b":"é ü 字"}\n');
    assert.deepEqual(fell, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a FIFO gets the text by write(2), whole, past the pipe\'s buffer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-fdsink-'));
  try {
    const fifo = join(dir, 'fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    // a reader in another process (a FIFO's open and its writes wait for it): counts the bytes
    const reader = spawn(process.execPath, ['-e', `let n = 0; const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(fifo)}, 'r'); const b = Buffer.alloc(65536); let k; while ((k = fs.readSync(fd, b)) > 0) n += k; process.stdout.write(String(n));`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let got = '';
    reader.stdout.on('data', (d: Buffer) => { got += d.toString(); });
    const closed = new Promise((resolve) => reader.on('close', resolve));
    const fd = openSync(fifo, 'w');
    const fell: unknown[] = [];
    const sink = fdSink(fd, (c) => fell.push(c));
    const text = `${'x'.repeat(199)}\n`.repeat(2000); // 400,000 bytes: several pipe buffers
    sink(text);
    sink('é\n');
    closeSync(fd);
    await closed;
    assert.equal(Number(got), text.length + 3);
    assert.deepEqual(fell, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a descriptor fstat cannot read, and a write(2) that fails, go to the fallback: the rest of that text and all text after it', () => {
  const fell: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'ag-fdsink-'));
  try {
    const fd = openSync(join(dir, 'f'), 'w');
    const sink = fdSink(fd, (c) => fell.push(typeof c === 'string' ? c : Buffer.from(c).toString()));
    sink('one\n');
    closeSync(fd); // the descriptor goes away under the sink: write(2) fails (EBADF)
    sink('two\n');
    sink('three\n');
    assert.deepEqual(fell, ['two\n', 'three\n']);
    assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'one\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const notFile: string[] = [];
  const sock = fdSink(999_999, (c) => notFile.push(String(c))); // not open: fstat fails
  sock('x\n');
  assert.deepEqual(notFile, ['x\n']);
});
