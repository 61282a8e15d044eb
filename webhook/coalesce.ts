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
// A queued answer waits at most `maxWaitMs` (then the queue is written at once), so a
// burst of hundreds of ready connections cannot hold the first answers for the whole burst.

export interface CoalescerOptions {
  /** Longest a decided answer waits for the end of the pass; past it, the queue is written
   *  when the next answer is queued. */
  maxWaitMs: number;
  /** Monotonic clock in ms (tests give their own). */
  now?: () => number;
  /** Runs `flush` after the current pass of the event loop (default: setImmediate). */
  defer?: (flush: () => void) => void;
  /** Told of a write that threw; the answers queued after it are still written. */
  onError: (error: unknown) => void;
}

/** Returns `queue(target, answer)`: `write(target, answer)` is called for every queued pair, in
 *  queue order, once the current pass of the event loop is over (or sooner, see maxWaitMs). */
export function coalesceWrites<T, A>(write: (target: T, answer: A) => void, options: CoalescerOptions): (target: T, answer: A) => void {
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
      try { write(t[i]!, a[i]!); } catch (e) { options.onError(e); }
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
