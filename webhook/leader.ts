// Leader election through a coordination.k8s.io/v1 Lease, as client-go's leaderelection
// does it: every retry period the lease is read; a free or expired lease (no renewal seen
// for its duration, measured on this replica's clock from when its record last changed) is
// taken, a held one renewed, with the Lease's resourceVersion as a precondition so that two
// replicas never both win. The leader that has not renewed within the renew deadline stops
// leading at once (`isLeader()` turns false before the lease can expire for the others).
// A replica that does not lead tries again after a jittered wait (lib/backoff.ts), so that
// replicas started together do not try in step.
import { jitterWithin } from '../lib/backoff.ts';
import type { ApiCall, ApiResult } from './cluster-watch-protocol.ts';

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  call: (c: ApiCall) => Promise<ApiResult>;
  leaseDurationMs?: number;   // 15 s (client-go's default)
  renewDeadlineMs?: number;   // 10 s
  retryPeriodMs?: number;     // 2 s
  onChange?: (leading: boolean) => void;
  onError?: (message: string) => void;
  now?: () => number;
  /** In [0, 1): draws the jitter of the retry period (tests). */
  random?: () => number;
}

interface LeaseSpec { holderIdentity?: string | null; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number }
interface Lease { metadata?: { name?: string; namespace?: string; resourceVersion?: string }; spec?: LeaseSpec }

export interface LeaderElector {
  isLeader(): boolean;
  /** Stops the loop; a leader releases the lease (holder emptied) so another takes it at once. */
  stop(): Promise<void>;
}

const microTime = (ms: number): string => new Date(ms).toISOString().replace('Z', '000Z');

/** client-go's jitter factor for acquiring: a waiting candidate's period is drawn in
 *  [retry, retry × (1 + 1.2)]. */
export const RETRY_JITTER_FACTOR = 1.2;

/** The wait before the next try. The leader renews every retry period, as client-go's renew
 *  loop does (its pace is what the renew deadline counts on; alone, it has nobody to fall in
 *  step with); a replica that does not lead waits a jittered period (lib/backoff.ts's
 *  jitterWithin), drawn in [retry, retry × (1 + RETRY_JITTER_FACTOR)]. */
export function nextTryIn(leading: boolean, retryMs: number, random: () => number = Math.random): number {
  return leading ? retryMs : jitterWithin(retryMs * (1 + RETRY_JITTER_FACTOR), retryMs, random);
}

export function startLeaderElection(o: LeaderOptions): LeaderElector {
  const now = o.now ?? (() => Date.now());
  const duration = o.leaseDurationMs ?? 15_000, deadline = o.renewDeadlineMs ?? 10_000, retry = o.retryPeriodMs ?? 2_000;
  let leading = false;
  let lastRenew = 0;              // when this replica last renewed (or took) the lease
  let observed = '';              // the holder record last seen
  let observedAt = 0;             // when it was first seen (this replica's clock)
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const setLeading = (v: boolean): void => {
    if (v === leading) return;
    leading = v;
    o.onChange?.(v);
  };
  const isLeader = (): boolean => {
    if (leading && now() - lastRenew >= deadline) setLeading(false); // the renew deadline passed
    return leading;
  };
  const spec = (prev: LeaseSpec | undefined, t: number): LeaseSpec => {
    const mine = prev?.holderIdentity === o.identity;
    return {
      holderIdentity: o.identity,
      leaseDurationSeconds: Math.max(1, Math.round(duration / 1000)),
      acquireTime: mine && prev?.acquireTime ? prev.acquireTime : microTime(t),
      renewTime: microTime(t),
      leaseTransitions: (prev?.leaseTransitions ?? 0) + (mine ? 0 : 1),
    };
  };

  const attempt = async (): Promise<void> => {
    const t = now();
    const got = await o.call({ op: 'readLease', namespace: o.namespace, name: o.name });
    if (!got.ok && got.code === 404) {
      const made = await o.call({ op: 'createLease', namespace: o.namespace, name: o.name, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: o.name, namespace: o.namespace }, spec: spec(undefined, t) } });
      if (made.ok) { lastRenew = t; setLeading(true); } else if (made.code !== 409) o.onError?.(`lease ${o.namespace}/${o.name}: create failed (${made.code}): ${made.message ?? ''}`);
      return;
    }
    if (!got.ok) { o.onError?.(`lease ${o.namespace}/${o.name}: read failed (${got.code}): ${got.message ?? ''}`); return; }
    const lease = got.body as Lease;
    const record = JSON.stringify([lease.spec?.holderIdentity ?? '', lease.spec?.renewTime ?? '']);
    if (record !== observed) { observed = record; observedAt = t; }
    const holder = lease.spec?.holderIdentity ?? '';
    const heldDuration = (lease.spec?.leaseDurationSeconds ?? Math.round(duration / 1000)) * 1000;
    if (holder !== '' && holder !== o.identity && t - observedAt < heldDuration) { setLeading(false); return; }
    const body = { ...lease, spec: spec(lease.spec, t) };
    const put = await o.call({ op: 'replaceLease', namespace: o.namespace, name: o.name, body });
    if (put.ok) {
      lastRenew = t;
      const b = put.body as Lease;
      observed = JSON.stringify([b.spec?.holderIdentity ?? '', b.spec?.renewTime ?? '']);
      observedAt = t;
      setLeading(true);
    } else if (put.code !== 409) o.onError?.(`lease ${o.namespace}/${o.name}: renew failed (${put.code}): ${put.message ?? ''}`);
  };

  const loop = (): void => {
    if (stopped) return;
    running = attempt().catch((e: unknown) => o.onError?.(e instanceof Error ? e.message : String(e))).then(() => {
      isLeader(); // a deadline passed while the call waited
      if (!stopped) { timer = setTimeout(loop, nextTryIn(leading, retry, o.random)); timer.unref(); }
    });
  };
  loop();

  return {
    isLeader,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
      if (!leading) return;
      setLeading(false);
      const got = await o.call({ op: 'readLease', namespace: o.namespace, name: o.name });
      const lease = got.body as Lease | undefined;
      if (!got.ok || lease?.spec?.holderIdentity !== o.identity) return;
      await o.call({ op: 'replaceLease', namespace: o.namespace, name: o.name, body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } } });
    },
  };
}
