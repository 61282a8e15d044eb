// A bound on the admission bodies held at once, that slow senders cannot use to stop small
// reviews. Two kinds of body:
//
// - A large body (declaring more than `largeFrom`, 1 MiB, or no size at all) reserves its
//   declared size before it is read, and waits unread (its socket paused: TCP holds the rest)
//   until that fits; once started it is never paused, so it always finishes. Large bodies
//   together never hold more than `limit - lane`: the lane (4 MiB) is left to small bodies.
// - A small body (the API server's reviews are a few KB) starts at once and is counted as its
//   bytes arrive, so a sender that declares 1 MiB and sends one byte holds one byte. When the
//   bytes held reach the limit it is paused until bodies give some back (oldest first, as many
//   as the room can take one socket read each); it is never paused while no other body is
//   being read (that body alone goes on, past the limit by what it still sends, at most
//   `largeFrom`: a budget full of paused bodies would otherwise wait for each other).
//
// The read deadline (app.ts) ends a body that has not arrived within a few seconds, which
// gives back what it held: a slow sender holds a large reservation for seconds, not until the
// server's request timeout. So large bodies never take the lane from small reviews, and three
// connections that declare 8 MiB and send one byte hold two large reservations (and queue the
// third) for at most the deadline. Small bodies that send most of their bytes and then stall
// (24 of 1 MiB) can still fill the whole budget between them, each for at most the deadline:
// a review arriving meanwhile waits that long (not tested; the NetworkPolicy in manifests/ is
// what keeps such senders away).
import type { IncomingMessage } from 'node:http';

/** Bytes of admission bodies held at once: three full-size (8 MiB) reviews. */
export const DEFAULT_BODY_BUDGET_BYTES = 24 * 1024 * 1024;
/** A body declaring more than this is large (it reserves its size before it is read). */
export const DEFAULT_LARGE_BODY_BYTES = 1024 * 1024;
/** What large bodies may never hold: small bodies' lane. */
export const DEFAULT_SMALL_LANE_BYTES = 4 * 1024 * 1024;
/** The most a socket read hands over at once (node reads TCP 64 KiB at a time). */
const READ_BYTES = 64 * 1024;

export interface BodyBudgetOptions {
  /** Bytes held at once (default DEFAULT_BODY_BUDGET_BYTES). */
  limit?: number;
  /** Bodies declaring more are large (default DEFAULT_LARGE_BODY_BYTES). */
  largeFrom?: number;
  /** Bytes large bodies never hold (default DEFAULT_SMALL_LANE_BYTES, at most a sixth of the limit). */
  lane?: number;
}

/** One body's share of the budget. */
export interface BodyShare {
  /** Large: the body reserves its declared size before it is read. */
  readonly large: boolean;
  /** Counts `n` bytes that arrived. False: pause the reader; `resume` is called once it may go on. */
  add(n: number): boolean;
  /** Gives back everything the body holds, whatever its state (waiting, read, paused). Idempotent. */
  release(): void;
}

type State = 'waiting' | 'reading' | 'paused' | 'done';

class Share implements BodyShare {
  readonly large: boolean;
  readonly reserved: number;
  held = 0;
  arrived = 0;
  state: State = 'waiting';
  /** Resumed, its next bytes not arrived yet (the room counted for them). */
  resuming = false;
  readonly start: (s: BodyShare) => void;
  readonly resume: () => void;
  readonly #budget: Ops;
  constructor(budget: Ops, large: boolean, reserved: number, start: (s: BodyShare) => void, resume: () => void) {
    this.#budget = budget; this.large = large; this.reserved = reserved; this.start = start; this.resume = resume;
  }
  add(n: number): boolean { return this.#budget.added(this, n); }
  release(): void { this.#budget.released(this); }
}

/** What a share calls back into its budget. */
interface Ops { added(s: Share, n: number): boolean; released(s: Share): void }

export class BodyBudget {
  readonly limit: number;
  readonly largeFrom: number;
  readonly lane: number;
  #used = 0;
  #largeUsed = 0;
  #peak = 0;
  #active = 0;        // bodies being read and not paused
  #resuming = 0;      // bodies resumed whose next bytes have not arrived
  #waitingLarge: Share[] = [];
  #paused: Share[] = [];
  #waited = 0;
  readonly #ops: Ops = { added: (s, n) => this.#added(s, n), released: (s) => this.#released(s) };
  constructor(o: BodyBudgetOptions | number = {}) {
    const opts = typeof o === 'number' ? { limit: o } : o;
    this.limit = Math.max(1, opts.limit ?? DEFAULT_BODY_BUDGET_BYTES);
    this.largeFrom = Math.max(0, opts.largeFrom ?? DEFAULT_LARGE_BODY_BYTES);
    this.lane = Math.min(this.limit, Math.max(0, opts.lane ?? Math.min(DEFAULT_SMALL_LANE_BYTES, Math.floor(this.limit / 6))));
  }
  /** Bytes held now (large reservations and small bodies' bytes), and the most ever held. */
  get used(): number { return this.#used; }
  get peak(): number { return this.#peak; }
  /** What large bodies hold now. */
  get largeUsed(): number { return this.#largeUsed; }
  /** Bodies waiting now: large ones not started, small ones paused. */
  get waiting(): number { return this.#waitingLarge.length + this.#paused.length; }
  /** Bodies that had to wait (large) or were paused (small), since the start. */
  get waited(): number { return this.#waited; }

  /** A body of `declared` bytes. `start` is called with its share once it may be read: at
   *  once (before `open` returns) for a small body, once its size fits for a large one.
   *  `resume` is called after `add` said to pause. */
  open(declared: number, start: (s: BodyShare) => void, resume: () => void): BodyShare {
    const size = Math.max(0, declared);
    const large = size > this.largeFrom;
    // a large body is clamped to what large bodies may hold (it waits for that to be free)
    const s = new Share(this.#ops, large, large ? Math.min(size, this.limit - this.lane) : 0, start, resume);
    if (!large) { this.#begin(s); return s; }
    if (this.#fitsLarge(s.reserved)) { this.#begin(s); return s; }
    this.#waitingLarge.push(s);
    this.#waited++;
    return s;
  }

  #added(s: Share, n: number): boolean {
    if (s.state === 'done' || n <= 0) return true;
    if (s.resuming) { s.resuming = false; this.#resuming--; }
    s.arrived += n;
    if (s.arrived > s.held) { this.#hold(s.arrived - s.held); s.held = s.arrived; }
    if (s.large || this.#used <= this.limit) {
      if (this.#paused.length > 0) this.#wake();
      return true;
    }
    // over the limit: a small body waits for room, unless no other body is being read
    if (this.#active <= 1) return true;
    s.state = 'paused';
    this.#active--;
    this.#paused.push(s);
    this.#waited++;
    return false;
  }

  #released(s: Share): void {
    const was = s.state;
    if (was === 'done') return;
    s.state = 'done';
    if (s.resuming) { s.resuming = false; this.#resuming--; }
    if (was === 'waiting') { const i = this.#waitingLarge.indexOf(s); if (i >= 0) this.#waitingLarge.splice(i, 1); return; }
    if (was === 'paused') { const i = this.#paused.indexOf(s); if (i >= 0) this.#paused.splice(i, 1); } else this.#active--;
    this.#used -= s.held;
    if (s.large) this.#largeUsed -= s.reserved;
    this.#wake();
  }

  #fitsLarge(n: number): boolean { return this.#largeUsed + n <= this.limit - this.lane && this.#used + n <= this.limit; }

  #hold(n: number): void { this.#used += n; if (this.#used > this.#peak) this.#peak = this.#used; }

  #begin(s: Share): void {
    s.state = 'reading';
    this.#active++;
    if (s.large) { this.#largeUsed += s.reserved; this.#hold(s.reserved); s.held = s.reserved; }
    s.start(s);
  }

  /** Lets through what now fits: large bodies in order (a smaller one passes a larger one that
   *  does not fit), then paused small bodies, oldest first, while the room (less a socket read
   *  for each body already resumed) lasts, and the oldest anyway when no body is being read. */
  #wake(): void {
    for (let i = 0; i < this.#waitingLarge.length;) {
      const w = this.#waitingLarge[i]!;
      if (this.#fitsLarge(w.reserved)) { this.#waitingLarge.splice(i, 1); this.#begin(w); } else i++;
    }
    while (this.#paused.length > 0 && (this.#used + this.#resuming * READ_BYTES < this.limit || (this.#active === 0 && this.#resuming === 0))) {
      const p = this.#paused.shift()!;
      p.state = 'reading';
      p.resuming = true;
      this.#resuming++;
      this.#active++;
      p.resume();
    }
  }
}

/** What a request declares: its Content-Length when it is valid and within `cap`, else `cap`
 *  (a body with no size is large: it reserves the cap). */
export function reservationOf(req: IncomingMessage, cap: number): number {
  const declared = Number(req.headers['content-length']);
  return Number.isSafeInteger(declared) && declared >= 0 && declared <= cap ? declared : cap;
}
