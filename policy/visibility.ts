// Visibility: which kinds of a pod's accesses are logged (KubeArmor's `kubearmor-visibility`
// annotation: `process,file,network,capabilities`, any subset, or `none`). Sources, in order:
// the pod's own annotation (KubeArmor reads it per pod), the namespace's, then the gateway's
// configured default. The result goes into the signed profile, so the enforcer only honours
// what the gateway decided. KubeArmor's other words (dns, ima) have no ArmorGate counterpart:
// they are ignored with a warning, as are unknown ones. Pure.
import type { Namespace, Pod, VisibilityKind } from './types.ts';

export const KUBEARMOR_VISIBILITY = 'kubearmor-visibility';
/** The order kinds are listed in a profile. */
export const VISIBILITY_KINDS: readonly VisibilityKind[] = ['capabilities', 'file', 'network', 'process'];

export interface ParsedVisibility { kinds: VisibilityKind[]; ignored: string[] }

/** `process,file` → ['file', 'process']; `none` or '' → []. Words are trimmed, case-insensitive. */
export function parseVisibility(text: string): ParsedVisibility {
  const seen = new Set<VisibilityKind>();
  const ignored: string[] = [];
  for (const raw of String(text).split(',')) {
    const w = raw.trim().toLowerCase();
    if (w === '' || w === 'none') continue;
    if ((VISIBILITY_KINDS as readonly string[]).includes(w)) seen.add(w as VisibilityKind);
    else ignored.push(w);
  }
  return { kinds: VISIBILITY_KINDS.filter((k) => seen.has(k)), ignored };
}

function annotation(o: { metadata?: { annotations?: unknown } } | null | undefined): string | undefined {
  const a = o?.metadata?.annotations;
  if (a === null || typeof a !== 'object') return undefined;
  const v = (a as Record<string, unknown>)[KUBEARMOR_VISIBILITY];
  return typeof v === 'string' ? v : undefined;
}

/** The pod's visibility and a warning per word ignored. */
export function podVisibility(pod: Pod, ns: Namespace | null, defaults: readonly VisibilityKind[]): { kinds: VisibilityKind[]; warnings: string[] } {
  const fromPod = annotation(pod);
  const fromNs = annotation(ns);
  const text = fromPod ?? fromNs;
  if (text === undefined) return { kinds: VISIBILITY_KINDS.filter((k) => defaults.includes(k)), warnings: [] };
  const p = parseVisibility(text);
  const where = fromPod !== undefined ? 'pod' : `namespace ${ns?.metadata?.name ?? '?'}`;
  return {
    kinds: p.kinds,
    warnings: p.ignored.map((w) => `${where}: annotation ${KUBEARMOR_VISIBILITY}: '${w}' is not one of ${VISIBILITY_KINDS.join(', ')} (or none); ignored`),
  };
}
