// Answers decided in one pass of the event loop are written together, right after it.
//
// Why: writing an answer to a client that is waiting in epoll costs the writer a wake-up of
// that client; when the client's CPU is idle, the wake-up is an inter-processor interrupt,
// which under a hypervisor is a trap (a VM exit). Measured on the 2-core test VM
// (`perf record` of the webhook under `npm run bench:webhook`): 19% of the webhook's CPU was
// spent in the loopback send path waking the load driver (tcp_data_queue → sock_def_readable
// → try_to_wake_up). Written back to back, only the first answer of a pass pays for the
// wake-up: the client is already running when the others arrive. The decisions themselves
// are not delayed: each is made as soon as its body is in; only the write waits, for the
// decisions of the other requests whose bytes arrived in the same pass (the check phase
// runs after the poll phase that read them). uWebSockets corks its sockets this way.
//
// In a long pass (a burst of hundreds of ready connections), the queue is written as soon as
// an answer is queued `maxWaitMs` or more after the oldest one in it: the first answers of a
// burst wait about that long plus one decision, not for the whole burst.

/** How long the webhook lets a decided admission answer wait for the others of its pass. */
export const ANSWER_MAX_WAIT_MS = 1;

export interface CoalescerOptions<T> {
  /** Once the oldest queued answer has waited this long, the queue is written when the next
   *  answer is queued rather than at the end of the pass. */
  maxWaitMs: number;
  /** Monotonic clock in ms (tests give their own). */
  now?: () => number;
  /** Runs `flush` after the current pass of the event loop (default: setImmediate). */
  defer?: (flush: () => void) => void;
  /** Told of a write that threw, with its target (to end it: nothing else will); the
   *  answers queued after it are still written, even if this throws too. */
  onError: (error: unknown, target: T) => void;
}

/** Returns `queue(target, answer)`: `write(target, answer)` is called for every queued pair, in
 *  queue order, once the current pass of the event loop is over (or sooner, see maxWaitMs). */
export function coalesceWrites<T, A>(write: (target: T, answer: A) => void, options: CoalescerOptions<T>): (target: T, answer: A) => void {
  const now = options.now ?? performance.now.bind(performance);
  const defer = options.defer ?? ((f: () => void): void => { setImmediate(f); });
  let targets: T[] = [];
  let answers: A[] = [];
  let oldest = 0;
  let scheduled = false;
  const flush = (): void => {
    const t = targets, a = answers;
    targets = [];
    answers = [];
    for (let i = 0; i < t.length; i++) {
      try { write(t[i]!, a[i]!); } catch (e) {
        try { options.onError(e, t[i]!); } catch { /* the report failed too: the others still go */ }
      }
    }
  };
  const onPassEnd = (): void => {
    scheduled = false;
    flush();
  };
  return (target: T, answer: A): void => {
    targets.push(target);
    answers.push(answer);
    if (targets.length === 1) oldest = now();
    else if (now() - oldest >= options.maxWaitMs) { flush(); return; }
    if (!scheduled) { scheduled = true; defer(onPassEnd); }
  };
}
