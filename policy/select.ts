// Which policies bind to a pod, with Kubernetes and KubeArmor selector semantics.
// See docs/selection.md for the rules and where they differ from KubeArmor.
import { CONTAINER_NAME_LABEL } from './annotations.ts';
import type { Namespace, Pod, Policy } from './types.ts';

export interface Selected {
  policy: Policy;
  /** Container names the policy is limited to (sorted, deduplicated); empty = every container. */
  containers: string[];
}

/** Namespace a namespaced object lives in when its manifest names none (as kubectl does). */
export const DEFAULT_NAMESPACE = 'default';

/** The namespace of a pod: its own metadata, else the Namespace object's name, else 'default'. */
export function podNamespace(pod: Pod, namespace: Namespace | null): string {
  return nonEmpty(pod.metadata?.namespace) ?? nonEmpty(namespace?.metadata?.name) ?? DEFAULT_NAMESPACE;
}

/** `NAMESPACE/NAME` for a KubeArmorPolicy, `NAME` for cluster and host policies. */
export function policyId(policy: Policy): string {
  const name = String(policy?.metadata?.name ?? '');
  return policy?.kind === 'KubeArmorPolicy' ? `${nonEmpty(policy.metadata?.namespace) ?? DEFAULT_NAMESPACE}/${name}` : name;
}

/** Parses the value of the `kubearmor.io/container.name` selector label: "[a, b]" or a
 *  bare "a" or "a,b". Brackets are stripped, entries split on commas and trimmed, empty
 *  entries dropped ("[]", "" and "[a,,]" are all accepted). Sorted and deduplicated. */
export function parseContainerNames(value: string): string[] {
  let v = value.trim();
  if (v.startsWith('[') && v.endsWith(']') && v.length >= 2) v = v.slice(1, -1);
  const names = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return [...new Set(names)].sort(compareStrings);
}

/** The policies that bind to `pod` (in `namespace`, whose Namespace object may be unknown),
 *  in the order given, each with its container filter.
 *  - KubeArmorHostPolicy never binds a pod.
 *  - KubeArmorPolicy binds only pods of its own namespace.
 *  - matchLabels: every label must be on the pod with that value (the container-name label
 *    is a container filter instead, never compared with pod labels).
 *  - matchExpressions, all of which must hold: key `label` with values `k=v` (In: the pod
 *    has at least one of them; NotIn: it has none); key `namespace` with namespace names
 *    (In: the pod's namespace is listed; NotIn: it is not). NotIn is honoured wherever it
 *    appears. An unknown key or operator makes the selector match nothing (fail closed).
 *  - A policy whose container filter names none of the pod's containers does not bind. */
export function selectPolicies(pod: Pod, namespace: Namespace | null, policies: readonly Policy[]): Selected[] {
  const ns = podNamespace(pod, namespace);
  const labels = stringRecord(pod.metadata?.labels);
  const podContainers = containerNames(pod);
  const out: Selected[] = [];
  for (const policy of policies) {
    const sel = selectOne(policy, ns, labels, podContainers);
    if (sel !== null) out.push(sel);
  }
  return out;
}

function selectOne(policy: Policy, ns: string, labels: Record<string, string>, podContainers: Set<string> | null): Selected | null {
  if (policy === null || typeof policy !== 'object') return null;
  if (policy.kind === 'KubeArmorPolicy') {
    if ((nonEmpty(policy.metadata?.namespace) ?? DEFAULT_NAMESPACE) !== ns) return null;
  } else if (policy.kind !== 'KubeArmorClusterPolicy') {
    return null; // host policies (and anything else) never bind pods
  }
  const spec = isRecord(policy.spec) ? policy.spec : {};
  const selector = isRecord(spec['selector']) ? spec['selector'] : {};
  let containers: string[] = [];

  const matchLabels = selector['matchLabels'];
  if (isRecord(matchLabels)) {
    for (const [k, v] of Object.entries(matchLabels)) {
      if (k === CONTAINER_NAME_LABEL) {
        containers = parseContainerNames(typeof v === 'string' ? v : '');
        continue;
      }
      if (typeof v !== 'string' || labels[k] !== v) return null;
    }
  }

  const exprs = selector['matchExpressions'];
  if (Array.isArray(exprs)) {
    for (const e of exprs) {
      if (!expressionHolds(e, ns, labels)) return null;
    }
  }

  if (containers.length > 0 && podContainers !== null) {
    containers = containers.filter((c) => podContainers.has(c));
    if (containers.length === 0) return null;
  }
  return { policy, containers };
}

function expressionHolds(e: unknown, ns: string, labels: Record<string, string>): boolean {
  if (!isRecord(e)) return false;
  const values = Array.isArray(e['values']) ? e['values'].filter((v): v is string => typeof v === 'string') : [];
  let present: boolean;
  if (e['key'] === 'label') {
    present = values.some((kv) => {
      const eq = kv.indexOf('=');
      if (eq < 0) return false; // KubeArmor compares whole "k=v" identities: a bare key matches nothing
      const k = kv.slice(0, eq);
      return Object.hasOwn(labels, k) && labels[k] === kv.slice(eq + 1);
    });
  } else if (e['key'] === 'namespace') {
    present = values.includes(ns);
  } else {
    return false;
  }
  if (e['operator'] === 'In') return present;
  if (e['operator'] === 'NotIn') return !present;
  return false;
}

function containerNames(pod: Pod): Set<string> | null {
  const spec = pod.spec;
  if (!isRecord(spec)) return null;
  const names = new Set<string>();
  for (const list of [spec.containers, spec.initContainers]) {
    if (!Array.isArray(list)) continue;
    for (const c of list) if (isRecord(c) && typeof c['name'] === 'string') names.add(c['name']);
  }
  return names.size > 0 ? names : null;
}

function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (isRecord(v)) for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

function nonEmpty(s: unknown): string | undefined {
  return typeof s === 'string' && s !== '' ? s : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Code-unit order, independent of locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
