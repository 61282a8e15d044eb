// What the reconciler keeps of a pod: only what binding reads (namespace, name, uid, labels,
// container names, the opt-out annotation, node), whether it has finished (phase Succeeded
// or Failed: nothing runs there to bind) and a digest of its armorgate.io/* annotations, so that 20,000 watched pods cost little memory. Pure; runs in the watch worker
// (on every listed and watched pod) and on the main thread (on the desired annotations).
import crypto from 'node:crypto';
import { ANNOTATION_PREFIX, ANN_TRACEPARENT, KUBEARMOR_OPT_OUT } from '../policy/annotations.ts';
import { KUBEARMOR_VISIBILITY } from '../policy/visibility.ts';

export interface LeanPod {
  kind: 'Pod';
  metadata: { name: string; namespace: string; uid: string; resourceVersion: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { nodeName?: string; containers: { name: string }[]; initContainers?: { name: string }[] };
  /** Kept only for a finished pod (its phase Succeeded or Failed). */
  status?: { phase: FinishedPhase };
  /** The pod's armorgate.io/* annotations: digest (traceparent left out), keys, and the
   *  bytes of its other annotations (for the 256 KiB limit). */
  ag: { digest: string; keys: string[]; otherBytes: number };
}

export type FinishedPhase = 'Succeeded' | 'Failed';

/** A pod whose containers have all ended for good: the reconciler neither patches nor counts it. */
export function finished(pod: { status?: { phase?: unknown } }): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** sha256 over the sorted armorgate.io/* entries, armorgate.io/traceparent left out ('' when none). */
export function armorgateDigest(annotations: Record<string, string> | undefined): string {
  if (annotations === undefined) return '';
  const entries = Object.keys(annotations).filter((k) => k.startsWith(ANNOTATION_PREFIX) && k !== ANN_TRACEPARENT).sort();
  if (entries.length === 0) return '';
  const h = crypto.createHash('sha256');
  for (const k of entries) h.update(`${k}\u0000${String(annotations[k])}\u0000`);
  return h.digest('base64url');
}

const names = (list: unknown): { name: string }[] =>
  Array.isArray(list) ? list.map((c: unknown) => ({ name: String((c as { name?: unknown } | null)?.name ?? '') })) : [];

type AnyPod = { metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: { nodeName?: string; containers?: unknown; initContainers?: unknown }; status?: { phase?: unknown } };

/** The lean copy of a pod object (as listed or watched). */
export function leanPod(obj: unknown): LeanPod {
  const p = (obj ?? {}) as AnyPod;
  const m = p.metadata ?? {};
  const ann = m.annotations !== null && typeof m.annotations === 'object' ? m.annotations : undefined;
  const keys: string[] = [];
  let otherBytes = 0;
  if (ann !== undefined) {
    for (const k of Object.keys(ann)) {
      if (k.startsWith(ANNOTATION_PREFIX)) keys.push(k);
      else otherBytes += Buffer.byteLength(k) + Buffer.byteLength(String(ann[k]));
    }
  }
  const optOut = ann?.[KUBEARMOR_OPT_OUT];
  const lean: LeanPod = {
    kind: 'Pod',
    metadata: { name: String(m.name ?? ''), namespace: String(m.namespace ?? ''), uid: String(m.uid ?? ''), resourceVersion: String(m.resourceVersion ?? '') },
    spec: { containers: names(p.spec?.containers) },
    ag: { digest: armorgateDigest(ann), keys: keys.sort(), otherBytes },
  };
  if (m.labels !== undefined && m.labels !== null) lean.metadata.labels = m.labels;
  // what compiling reads of the pod's annotations (webhook/decide.ts podForCompile): the opt-out
  // and the pod's visibility choice
  const visibility = ann?.[KUBEARMOR_VISIBILITY];
  if (optOut !== undefined || visibility !== undefined) {
    lean.metadata.annotations = {};
    if (optOut !== undefined) lean.metadata.annotations[KUBEARMOR_OPT_OUT] = String(optOut);
    if (visibility !== undefined) lean.metadata.annotations[KUBEARMOR_VISIBILITY] = String(visibility);
  }
  if (p.spec?.initContainers !== undefined) lean.spec.initContainers = names(p.spec.initContainers);
  if (typeof p.spec?.nodeName === 'string') lean.spec.nodeName = p.spec.nodeName;
  if (finished(p)) lean.status = { phase: p.status!.phase as FinishedPhase };
  return lean;
}
