// What the gateway compiled from a moment ago: the policy sets and namespace objects its store
// replaced within the grace period (30 s), so that /validate-pod can accept a pod whose
// annotations the mutating call wrote just before a policy or namespace change, or that a
// replica whose caches were a moment ahead or behind wrote (decide.ts, docs/selection.md).
// Bounded: the newest RECENT_MAX policy sets, and RECENT_MAX objects a namespace (256 in all).
import { CompileCache, type PastPolicySet, type RecentView } from './decide.ts';
import type { Namespace, Policy } from '../policy/types.ts';

/** How long a replaced policy set or namespace object is remembered. */
export const RECENT_GRACE_MS = 30_000;
/** The most policy sets, and objects of one namespace, remembered. */
export const RECENT_MAX = 4;
const NAMESPACE_ENTRIES = 256;
/** Compile results kept per remembered policy set (and for the current set with a past namespace). */
const CACHE_ENTRIES = 64;

interface Dated<T> { value: T; until: number }

export class RecentStates implements RecentView {
  readonly graceMs: number;
  readonly max: number;
  readonly cache = new CompileCache(CACHE_ENTRIES);
  readonly #now: () => number;
  readonly #sets: Dated<PastPolicySet>[] = [];                                   // newest first
  readonly #namespaces: Dated<{ name: string; ns: Namespace | null }>[] = [];   // newest first
  constructor(graceMs = RECENT_GRACE_MS, max = RECENT_MAX, now: () => number = () => performance.now()) {
    this.graceMs = graceMs; this.max = max; this.#now = now;
  }

  /** The policy set of `version` is about to be replaced. */
  replacedPolicies(version: number, policies: readonly Policy[]): void {
    if (this.#sets[0]?.value.version === version) return;
    this.#sets.unshift({ value: { version, policies, cache: new CompileCache(CACHE_ENTRIES) }, until: this.#now() + this.graceMs });
    this.#prune();
  }

  /** Namespace `name` is about to change; `ns` is its object until now (null: there was none). */
  replacedNamespace(name: string, ns: Namespace | null): void {
    this.#namespaces.unshift({ value: { name, ns }, until: this.#now() + this.graceMs });
    this.#prune();
  }

  policySets(): readonly PastPolicySet[] {
    this.#prune();
    return this.#sets.map((s) => s.value);
  }

  namespaces(name: string): readonly (Namespace | null)[] {
    this.#prune();
    const out: (Namespace | null)[] = [];
    for (const e of this.#namespaces) if (e.value.name === name && out.length < this.max) out.push(e.value.ns);
    return out;
  }

  #prune(): void {
    const now = this.#now();
    // newest first, so what is expired or past the bound is the tail: cut in place
    const cut = <T>(list: Dated<T>[], max: number): void => {
      let n = 0;
      while (n < list.length && n < max && list[n]!.until > now) n++;
      list.length = n;
    };
    cut(this.#sets, this.max);
    cut(this.#namespaces, NAMESPACE_ENTRIES);
  }
}
