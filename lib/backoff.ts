// The one retry delay of the project: exponential, capped, with full jitter. Every retry loop
// (the enforcer's pod watch, the webhook's watch caches and its watch worker's restarts, the
// reconciler's pod retries, the leader election's waits) takes its delays from here, so that
// a thousand clients that lost the API server at the same moment do not come back in the same
// second: each delay is drawn uniformly between the first delay and the current ceiling
// (first × 2^attempt, capped), not the ceiling itself.

export interface BackoffPolicy {
  /** First delay, and the floor of every delay (ms). */
  initialMs: number;
  /** Largest ceiling (ms). */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000 };

/** The ceiling of retry number `attempt` (0-based): initial × 2^attempt, capped at maxMs. */
export function backoffCeiling(p: BackoffPolicy, attempt: number): number {
  const n = Math.max(0, Math.min(Math.floor(attempt), 40));
  return Math.max(p.initialMs, Math.min(p.maxMs, p.initialMs * 2 ** n));
}

/** The delay of retry number `attempt`: uniform in [initialMs, ceiling]. `random` is in [0, 1). */
export function jitteredDelay(p: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = backoffCeiling(p, attempt);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(p.initialMs + r * (ceiling - p.initialMs));
}

/** A retry counter: `next()` gives the next delay, `reset()` after a success. */
export class Backoff {
  readonly policy: BackoffPolicy;
  readonly #random: () => number;
  #attempt = 0;
  constructor(policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random) {
    this.policy = policy;
    this.#random = random;
  }
  get attempts(): number { return this.#attempt; }
  next(): number { return jitteredDelay(this.policy, this.#attempt++, this.#random); }
  reset(): void { this.#attempt = 0; }
}

/** A delay drawn uniformly in [min(floorMs, ms), ms]: for a delay some other code chose
 *  (client-node's ListWatch reconnect delay), spread the same way. */
export function jitterWithin(ms: number, floorMs: number, random: () => number = Math.random): number {
  const lo = Math.min(Math.max(0, floorMs), ms);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(lo + r * (ms - lo));
}
