// A bound on the admission bodies held at once. Each review reserves its declared size (the cap
// when it declares none) before its body is read, and gives it back once it is answered; a
// review that does not fit waits, unread (its socket paused: TCP holds the rest), until enough is
// given back. So a flood of 8 MiB reviews costs at most the budget in bodies, not memory without
// bound; a small review is let through as soon as it fits, ahead of larger ones that wait (the API
// server's reviews are small; a review nobody answers in time fails on the API server's timeout).
import type { IncomingMessage } from 'node:http';

/** Bytes of admission bodies held at once: three full-size (8 MiB) reviews. */
export const DEFAULT_BODY_BUDGET_BYTES = 24 * 1024 * 1024;

interface Waiter { size: number; go: () => void }

export class BodyBudget {
  readonly limit: number;
  #used = 0;
  #peak = 0;
  #waiting: Waiter[] = [];
  #waited = 0;
  constructor(limit = DEFAULT_BODY_BUDGET_BYTES) { this.limit = limit; }
  /** Bytes reserved now, the most ever reserved at once, and reviews waiting. */
  get used(): number { return this.#used; }
  get peak(): number { return this.#peak; }
  get waiting(): number { return this.#waiting.length; }
  /** Reviews that had to wait, since the start. */
  get waited(): number { return this.#waited; }

  /** Calls `go` once `size` bytes are reserved (at once when they fit). Returns a cancel function
   *  for a review that goes away while it waits (nothing is reserved then). */
  reserve(size: number, go: () => void): () => void {
    const n = Math.min(Math.max(0, size), this.limit);
    if (this.#fits(n)) { this.#take(n); go(); return () => {}; }
    const w: Waiter = { size: n, go };
    this.#waiting.push(w);
    this.#waited++;
    return () => { const i = this.#waiting.indexOf(w); if (i >= 0) this.#waiting.splice(i, 1); };
  }

  /** Gives back what `reserve` took, and lets waiting reviews through, in order, that now fit. */
  release(size: number): void {
    this.#used -= Math.min(Math.max(0, size), this.limit);
    if (this.#used < 0) this.#used = 0;
    for (let i = 0; i < this.#waiting.length;) {
      const w = this.#waiting[i]!;
      if (this.#fits(w.size)) { this.#waiting.splice(i, 1); this.#take(w.size); w.go(); } else i++;
    }
  }

  #fits(n: number): boolean { return this.#used + n <= this.limit; }
  #take(n: number): void { this.#used += n; if (this.#used > this.#peak) this.#peak = this.#used; }
}

/** What a request reserves: its Content-Length when it declares a valid one within `cap`, else `cap`. */
export function reservationOf(req: IncomingMessage, cap: number): number {
  const declared = Number(req.headers['content-length']);
  return Number.isSafeInteger(declared) && declared >= 0 && declared <= cap ? declared : cap;
}
