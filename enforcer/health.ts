// The enforcer's /healthz and /readyz answers, from what the daemon knows of its start.
//   live:  the event loop answers (a wedged loop gets no answer, and the probe fails).
//   ready: the node's pods are listed and the verdict on them is known: either the node enforces,
//          or it cannot (logged, node-labelled `unavailable`, every pod reported) -- a node that can
//          never enforce would otherwise hold up every rollout of the DaemonSet. Not ready while
//          starting or while waiting for kubelet's kubepods cgroup (transient).
import type { Health } from '../telemetry/prometheus.ts';

export interface StartState {
  /** The pod source's first listing went through the reconciler. */
  sourceStarted: boolean;
  /** null: the kernel enforces or will; else why this node cannot enforce. */
  unavailable: string | null;
  /** Why the kernel waits (no kubepods cgroup yet), or null. */
  waiting: string | null;
}

export function enforcerHealth(state: () => StartState): Health {
  return {
    live: () => null,
    ready: () => {
      const s = state();
      if (!s.sourceStarted) return 'starting: the node\'s pods are not listed yet';
      if (s.unavailable !== null) return null;
      if (s.waiting !== null) return `not enforcing yet: ${s.waiting}`;
      return null;
    },
    detail: () => {
      const s = state();
      return s.unavailable === null ? { enforcing: s.waiting === null } : { enforcing: false, reason: s.unavailable };
    },
  };
}
