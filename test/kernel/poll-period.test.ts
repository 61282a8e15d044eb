// The ring buffer's poll period (enforcer/kernel/index.ts): the quiet period unless the polls since
// the last timer found a quarter of the ring buffer, then the busy one; never a quiet period
// shorter than the busy one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IDLE_POLL_MS, nextPollMs, pollPeriods } from '../../enforcer/kernel/index.ts';

test('ring poll: quiet at 100 ms, busy at 20 ms from a quarter of the ring buffer found; the options set both', () => {
  const p = pollPeriods({});
  assert.deepEqual(p, { busy: 20, idle: IDLE_POLL_MS });
  assert.equal(IDLE_POLL_MS, 100);
  assert.equal(nextPollMs(0, p), 100);
  assert.equal(nextPollMs(639, p), 100, 'about 6,400 events a second at the quiet period: it stays');
  assert.equal(nextPollMs(640, p), 20);
  assert.equal(nextPollMs(100_000, p), 20);
  assert.deepEqual(pollPeriods({ pollMs: 5, idlePollMs: 50 }), { busy: 5, idle: 50 });
  assert.deepEqual(pollPeriods({ pollMs: 200 }), { busy: 200, idle: 200 }, 'the quiet period is never the shorter');
});
