// Names of the processes alerts and logs call ParentProcessName, remembered for a moment: each
// name costs a map lookup and a readlink of /proc/PID/exe, and a busy pod's events name the same
// parent thousands of times a second (measured in the VM: the two were a third of the enforcer's
// CPU under a visibility flood; docs/alerts.md). The name is read when the event is handled, not
// when it happened, so it was never exact for a parent that execs meanwhile; remembering it for
// `ttlMs` widens that window by at most `ttlMs`.

export interface ProcessNamesOptions {
  /** How long a name is reused (ms). */
  ttlMs: number;
  /** Names kept at most; the oldest go first. */
  max: number;
  /** The clock, in ms (default Date.now), when the caller gives no time. */
  now?: () => number;
}

/** `lookup` with its answers reused for `ttlMs` per PID. `at`: the caller's time of the event in
 *  ms on the same clock (the reconciler has read it already: a clock read less per event). */
export function processNames(lookup: (pid: number) => string, o: ProcessNamesOptions): (pid: number, at?: number) => string {
  const now = o.now ?? Date.now;
  const known = new Map<number, { name: string; at: number }>();
  return (pid: number, at?: number): string => {
    const t = at ?? now();
    const hit = known.get(pid);
    // a clock stepped back (the caller's time is the wall clock's) expires the name, never extends it
    if (hit !== undefined && t >= hit.at && t - hit.at < o.ttlMs) return hit.name;
    const name = lookup(pid);
    known.delete(pid); // re-inserted last: Map order is the eviction order
    known.set(pid, { name, at: t });
    if (known.size > o.max) known.delete(known.keys().next().value!);
    return name;
  };
}
