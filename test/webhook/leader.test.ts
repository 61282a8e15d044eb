// Leader election (webhook/leader.ts) and the reconciler's pace (webhook/token-bucket.ts),
// against an in-memory Lease with resourceVersion preconditions and a hand-driven clock.
// Retries take their jitter from lib/backoff.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextTryIn, startLeaderElection } from '../../webhook/leader.ts';
import { TokenBucket } from '../../webhook/token-bucket.ts';
import type { ApiCall, ApiResult } from '../../webhook/cluster-watch-protocol.ts';
import { waitFor } from '../support/wait.ts';

/** One Lease, kept as the API server keeps it; `down` makes every call go unanswered. */
function leaseServer(): { call: (c: ApiCall) => Promise<ApiResult>; lease: () => Record<string, unknown> | null; down: boolean } {
  let stored: Record<string, unknown> | null = null;
  let rv = 0;
  const srv = {
    down: false,
    lease: () => stored,
    call: async (c: ApiCall): Promise<ApiResult> => {
      await Promise.resolve();
      if (srv.down) return { ok: false, code: 0, message: 'connection refused' };
      const body = c.body as { metadata?: { resourceVersion?: string } } | undefined;
      if (c.op === 'readLease') return stored === null ? { ok: false, code: 404 } : { ok: true, code: 200, body: structuredClone(stored) };
      if (c.op === 'createLease') {
        if (stored !== null) return { ok: false, code: 409 };
        stored = { ...structuredClone(body as object), metadata: { ...body!.metadata, resourceVersion: String(++rv) } };
        return { ok: true, code: 201, body: structuredClone(stored) };
      }
      if (c.op === 'replaceLease') {
        if (stored === null) return { ok: false, code: 404 };
        if (body?.metadata?.resourceVersion !== (stored.metadata as { resourceVersion: string }).resourceVersion) return { ok: false, code: 409 };
        stored = { ...structuredClone(body as object), metadata: { ...body.metadata, resourceVersion: String(++rv) } };
        return { ok: true, code: 200, body: structuredClone(stored) };
      }
      return { ok: false, code: 400 };
    },
  };
  return srv;
}

const holder = (l: Record<string, unknown> | null): unknown => (l?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;

test('leader election: one of two replicas leads; the other takes over once the lease is not renewed; a stopped leader releases it', async () => {
  const srv = leaseServer();
  const opts = { namespace: 'armorgate', name: 'l', call: srv.call, leaseDurationMs: 400, renewDeadlineMs: 300, retryPeriodMs: 50 };
  const a = startLeaderElection({ ...opts, identity: 'a' });
  await waitFor(() => a.isLeader(), 'a leads');
  const b = startLeaderElection({ ...opts, identity: 'b' });
  // b keeps trying and keeps failing while a renews
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(a.isLeader(), true);
  assert.equal(b.isLeader(), false);
  assert.equal(holder(srv.lease()), 'a');
  await a.stop();
  assert.equal(a.isLeader(), false);
  assert.equal(holder(srv.lease()), '', 'released');
  await waitFor(() => b.isLeader(), 'b takes the released lease');
  assert.equal(holder(srv.lease()), 'b');
  assert.equal((srv.lease()!.spec as { leaseTransitions: number }).leaseTransitions, 2);
  await b.stop();
});

test('leader election: a leader that cannot renew stops leading at its renew deadline, before the lease expires for others', async () => {
  const srv = leaseServer();
  let now = 1_000_000;
  const changes: boolean[] = [];
  const a = startLeaderElection({ namespace: 'armorgate', name: 'l', identity: 'a', call: srv.call, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 20, now: () => now, onChange: (v) => changes.push(v) });
  await waitFor(() => a.isLeader(), 'a leads');
  srv.down = true;
  now += 9_999;
  assert.equal(a.isLeader(), true, 'still within the renew deadline');
  now += 1;
  assert.equal(a.isLeader(), false, 'the renew deadline passed: not leading, at once');
  assert.deepEqual(changes, [true, false]);
  srv.down = false;
  await waitFor(() => a.isLeader(), 'leads again once it can renew (its own lease)');
  await a.stop();
});

test('token bucket: burst first, then the rate', () => {
  let t = 0;
  const b = new TokenBucket(10, 3, () => t);
  assert.deepEqual([b.take(), b.take(), b.take(), b.take()], [true, true, true, false]);
  assert.equal(b.wait(), 100);
  t += 100;
  assert.equal(b.take(), true);
  assert.equal(b.take(), false);
  t += 10_000;
  let n = 0;
  while (b.take()) n++;
  assert.equal(n, 3, 'never more than the burst saved');
});

test('leader election: the leader renews every retry period; a replica that does not lead waits a jittered period, [retry, 2.2 × retry]', async () => {
  assert.equal(nextTryIn(true, 2000, () => 0.99), 2000, 'the leader keeps the pace its renew deadline counts on');
  assert.equal(nextTryIn(false, 2000, () => 0), 2000);
  assert.equal(nextTryIn(false, 2000, () => 0.5), 3200);
  assert.equal(nextTryIn(false, 2000, () => 1), 4400);
  const spread = new Set(Array.from({ length: 50 }, () => nextTryIn(false, 2000)));
  assert.ok(spread.size > 10, 'drawn, not fixed');
  // wired: a candidate drawing the longest wait tries about half as often as one drawing none
  const srv = leaseServer();
  const a = startLeaderElection({ namespace: 'armorgate', name: 'l', identity: 'a', call: srv.call, leaseDurationMs: 60_000, renewDeadlineMs: 50_000, retryPeriodMs: 40 });
  await waitFor(() => a.isLeader(), 'a leads');
  const reads = { slow: 0, fast: 0 };
  const count = (k: 'slow' | 'fast') => async (c: ApiCall): Promise<ApiResult> => { if (c.op === 'readLease') reads[k]++; return srv.call(c); };
  const slow = startLeaderElection({ namespace: 'armorgate', name: 'l', identity: 'slow', call: count('slow'), leaseDurationMs: 60_000, renewDeadlineMs: 50_000, retryPeriodMs: 40, random: () => 1 });
  const fast = startLeaderElection({ namespace: 'armorgate', name: 'l', identity: 'fast', call: count('fast'), leaseDurationMs: 60_000, renewDeadlineMs: 50_000, retryPeriodMs: 40, random: () => 0 });
  await new Promise((r) => setTimeout(r, 900));
  await Promise.all([slow.stop(), fast.stop(), a.stop()]);
  assert.ok(reads.fast >= 1.4 * reads.slow, `tries: ${JSON.stringify(reads)} (the waits are 40 and 88 ms)`);
});
