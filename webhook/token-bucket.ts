// A token bucket (rate tokens a second, at most `burst` saved) and a capped exponential
// backoff with jitter: the reconciler's pace and its retries. Pure but for the clock.

export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly rate: number;
  readonly burst: number;
  private readonly now: () => number;
  constructor(rate: number, burst: number, now: () => number = () => performance.now()) {
    this.rate = rate; this.burst = Math.max(1, burst); this.now = now;
    this.tokens = this.burst; this.last = now();
  }
  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }
  /** Takes a token when one is there. */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
  /** Milliseconds until a token is there (0 when one is). */
  wait(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.rate) * 1000);
  }
}

/** The delay before retry number `attempt` (1, 2, ...): base·2^(attempt-1), capped, with up
 *  to ±20 % jitter so that retries of many pods spread out. */
export function backoffMs(attempt: number, baseMs = 200, capMs = 30_000, random: () => number = Math.random): number {
  const d = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(d * (0.8 + 0.4 * random()));
}
