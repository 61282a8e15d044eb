// One stream of records (alerts, logs or messages) fanned out to many gRPC watchers. Each
// watcher has its own bounded queue: a watcher that reads slowly (its stream refuses more
// writes until it drains) fills its own queue, then loses what does not fit, counted, while
// enforcement and every other watcher go on. Publishing never waits and never throws.

/** The part of a server-streaming call a watcher writes to (grpc-js ServerWritableStream). */
export interface WatchStream<T> {
  /** false: buffered past the stream's high-water mark; wait for 'drain' before writing more */
  write(item: T): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

export interface FeedStats {
  watchers: number;
  /** records written to watchers' streams */
  delivered: number;
  /** records a watcher's full queue could not take (every watcher counted) */
  dropped: number;
}

export class Watcher<T> {
  readonly #stream: WatchStream<T>;
  readonly #capacity: number;
  readonly #feed: Feed<T>;
  #queue: T[] = [];
  #head = 0;
  #waiting = false;
  #closed = false;
  delivered = 0;
  dropped = 0;

  constructor(feed: Feed<T>, stream: WatchStream<T>, capacity: number) {
    this.#feed = feed;
    this.#stream = stream;
    this.#capacity = capacity;
  }

  get queued(): number { return this.#queue.length - this.#head; }

  /** Takes the record, or counts it dropped when this watcher's queue is full. */
  offer(item: T): void {
    if (this.#closed) return;
    if (this.queued >= this.#capacity) {
      this.dropped++;
      this.#feed.countDropped();
      return;
    }
    this.#queue.push(item);
    this.#pump();
  }

  #pump(): void {
    while (!this.#waiting && !this.#closed && this.#head < this.#queue.length) {
      const item = this.#queue[this.#head] as T;
      this.#queue[this.#head] = undefined as T; // let it go
      this.#head++;
      let more: boolean;
      try {
        more = this.#stream.write(item);
      } catch {
        this.close(); // a stream that throws is gone
        return;
      }
      this.delivered++;
      this.#feed.countDelivered();
      if (!more) {
        this.#waiting = true;
        this.#stream.once('drain', () => { this.#waiting = false; this.#pump(); });
      }
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
    this.#feed.remove(this);
  }
}

export class Feed<T> {
  readonly #watchers = new Set<Watcher<T>>();
  readonly #capacity: number;
  #delivered = 0;
  #dropped = 0;

  /** capacity: records one watcher may have waiting (KubeArmor's feeder queues 1000). */
  constructor(capacity = 1000) {
    this.#capacity = Math.max(1, Math.floor(capacity));
  }

  watch(stream: WatchStream<T>): Watcher<T> {
    const w = new Watcher(this, stream, this.#capacity);
    this.#watchers.add(w);
    return w;
  }

  remove(w: Watcher<T>): void { this.#watchers.delete(w); }

  publish(item: T): void {
    for (const w of this.#watchers) w.offer(item);
  }

  get size(): number { return this.#watchers.size; }

  countDelivered(): void { this.#delivered++; }
  countDropped(): void { this.#dropped++; }

  stats(): FeedStats {
    return { watchers: this.#watchers.size, delivered: this.#delivered, dropped: this.#dropped };
  }

  closeAll(): void {
    for (const w of [...this.#watchers]) w.close();
  }
}
