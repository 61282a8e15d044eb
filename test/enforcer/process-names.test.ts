import assert from 'node:assert/strict';
import test from 'node:test';
import { processNames } from '../../enforcer/process-names.ts';

test('process names: reused within the TTL, looked up again after it; the oldest go past the bound', () => {
  let t = 0;
  const calls: number[] = [];
  let suffix = 'a';
  const names = processNames((pid) => { calls.push(pid); return `/bin/p${pid}${suffix}`; }, { ttlMs: 100, max: 2, now: () => t });
  assert.equal(names(1), '/bin/p1a');
  suffix = 'b'; // the process exec'd
  t = 99;
  assert.equal(names(1), '/bin/p1a', 'within the TTL: the remembered name');
  t = 100;
  assert.equal(names(1), '/bin/p1b', 'at the TTL: looked up again');
  assert.deepEqual(calls, [1, 1]);
  names(2);
  names(3); // past max 2: pid 1 (the oldest) goes
  assert.deepEqual(calls, [1, 1, 2, 3]);
  t = 150;
  names(2);
  assert.deepEqual(calls, [1, 1, 2, 3], 'pid 2 still remembered');
  names(1);
  assert.deepEqual(calls, [1, 1, 2, 3, 1], 'pid 1 was evicted');
});

test('process names: an empty answer (a process gone) is remembered too, for the TTL only', () => {
  let t = 0;
  let n = 0;
  const names = processNames(() => { n++; return ''; }, { ttlMs: 10, max: 8, now: () => t });
  names(7); names(7);
  assert.equal(n, 1);
  t = 10;
  names(7);
  assert.equal(n, 2);
});

test('process names: the caller\'s time of the event, when given, is the clock', () => {
  let n = 0;
  const names = processNames(() => { n++; return '/bin/sh'; }, { ttlMs: 10, max: 8, now: () => { throw new Error('the clock is not read when a time is given'); } });
  names(7, 1000); names(7, 1009);
  assert.equal(n, 1);
  names(7, 1010);
  assert.equal(n, 2);
});

test('process names: a clock stepped back expires a remembered name instead of keeping it longer', () => {
  let n = 0;
  const names = processNames(() => { n++; return '/bin/sh'; }, { ttlMs: 250, max: 8 });
  names(7, 10_000);
  names(7, 10_100);
  assert.equal(n, 1);
  names(7, 4_000); // NTP stepped the clock back 6 s
  assert.equal(n, 2, 'looked up again');
  names(7, 4_100);
  assert.equal(n, 2, 'and remembered from then on');
});
