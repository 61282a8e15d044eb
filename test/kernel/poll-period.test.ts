// The ring buffer's poll period (enforcer/kernel/index.ts): the quiet period unless records come at
// a rate that would bring a quarter of the ring buffer within it, then the busy one; never a quiet
// period shorter than the busy one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IDLE_POLL_MS, nextPollMs, pollPeriods } from '../../enforcer/kernel/index.ts';

test('ring poll: quiet at 100 ms, busy at 20 ms while records come at 6,400 a second or more; the options set both', () => {
  const p = pollPeriods({});
  assert.deepEqual(p, { busy: 20, idle: IDLE_POLL_MS });
  assert.equal(IDLE_POLL_MS, 100);
  assert.equal(nextPollMs(0, 100, p), 100);
  assert.equal(nextPollMs(0, 1e9, p), 100, 'the first poll');
  assert.equal(nextPollMs(639, 100, p), 100, '6,390 a second over a quiet period: it stays quiet');
  assert.equal(nextPollMs(640, 100, p), 20);
  // a rate, not a count: 200 records in a 20 ms period would be 1,000 in a quiet one
  assert.equal(nextPollMs(200, 20, p), 20);
  assert.equal(nextPollMs(127, 20, p), 100, '6,350 a second: quiet again');
  assert.equal(nextPollMs(128, 20, p), 20);
  assert.equal(nextPollMs(100_000, 0, p), 20, 'no time passed: taken as 1 ms');
  assert.deepEqual(pollPeriods({ pollMs: 5, idlePollMs: 50 }), { busy: 5, idle: 50 });
  assert.deepEqual(pollPeriods({ pollMs: 200 }), { busy: 200, idle: 200 }, 'the quiet period is never the shorter');
});
