// A token bucket (rate tokens a second, at most `burst` saved): the reconciler's pace. Pure but
// for the clock. (Its retries take their delays from lib/backoff.ts, the project's one backoff.)

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
