import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { lineBatch } from '../../enforcer/line-batch.ts';

test('the lines of one turn of the event loop leave in one write, in order', async () => {
  const writes: string[] = [];
  const b = lineBatch((t) => writes.push(t));
  b.write('a\n');
  b.write('b\n');
  assert.deepEqual(writes, [], 'nothing before the turn ends');
  await turn();
  assert.deepEqual(writes, ['a\nb\n']);
  b.write('c\n');
  await turn();
  assert.deepEqual(writes, ['a\nb\n', 'c\n']);
});

test('past maxChars the queue is written at once; flush writes what is queued; nothing is lost or doubled', async () => {
  const writes: string[] = [];
  const b = lineBatch((t) => writes.push(t), 10);
  b.write('12345\n');
  b.write('67890\n');
  assert.deepEqual(writes, ['12345\n67890\n'], 'at 12 bytes queued, written at once');
  b.write('x\n');
  b.flush();
  assert.deepEqual(writes, ['12345\n67890\n', 'x\n']);
  b.flush();
  await turn();
  assert.deepEqual(writes, ['12345\n67890\n', 'x\n'], 'an empty queue writes nothing, and the scheduled flush was dropped');
});
