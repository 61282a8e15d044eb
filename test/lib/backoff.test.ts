import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, backoffCeiling, jitteredDelay, jitterWithin, type BackoffPolicy } from '../../lib/backoff.ts';

const P: BackoffPolicy = { initialMs: 500, maxMs: 30_000 };

test('the ceiling doubles from the first delay and stops at the cap', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 100].map((a) => backoffCeiling(P, a)), [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test('every delay lies between the first delay and the ceiling, the ends included', () => {
  for (const attempt of [0, 1, 3, 6, 50]) {
    assert.equal(jitteredDelay(P, attempt, () => 0), 500);
    assert.equal(jitteredDelay(P, attempt, () => 0.999999), backoffCeiling(P, attempt));
    for (let i = 0; i < 200; i++) {
      const d = jitteredDelay(P, attempt);
      assert.ok(d >= 500 && d <= backoffCeiling(P, attempt), `attempt ${attempt}: ${d}`);
    }
  }
});

test('a thousand clients retrying after the same outage spread over the whole window, not one second', () => {
  // 1000 clients, each at its 6th retry (ceiling 30 s): count them per one-second bucket
  const buckets = new Array<number>(31).fill(0);
  for (let i = 0; i < 1000; i++) buckets[Math.floor(jitteredDelay(P, 6) / 1000)]!++;
  const busiest = Math.max(...buckets);
  // uniform over ~29.5 s: about 34 a second; no second holds even a tenth of them
  assert.ok(busiest < 100, `busiest second holds ${busiest} of 1000 retries`);
  assert.ok(buckets.filter((n) => n > 0).length >= 28, `retries land in only ${buckets.filter((n) => n > 0).length} distinct seconds`);
});

test('Backoff counts attempts and starts over after reset', () => {
  const b = new Backoff(P, () => 0.999999);
  assert.deepEqual([b.next(), b.next(), b.next()], [500, 1000, 2000]);
  assert.equal(b.attempts, 3);
  b.reset();
  assert.equal(b.next(), 500);
});

test('jitterWithin spreads a given delay between the floor and itself', () => {
  assert.equal(jitterWithin(8000, 500, () => 0), 500);
  assert.equal(jitterWithin(8000, 500, () => 0.999999), 8000);
  assert.equal(jitterWithin(200, 500, () => 0.3), 200, 'a delay below the floor is kept');
  for (let i = 0; i < 100; i++) { const d = jitterWithin(4000, 500); assert.ok(d >= 500 && d <= 4000, String(d)); }
});
