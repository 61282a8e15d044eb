// What KubeArmor's alerts and logs say about a pod that the pod object itself tells, without
// another API call: its owner (KubeArmor's Podowner), each container's image, and which container
// an unnamed container cgroup must be. Pure; reads untrusted pod JSON defensively (a manifest of
// --pods-dir may hold anything) and never throws.
import type { Pod } from '../policy/types.ts';

/** KubeArmor's Podowner: the pod's top-level controller. */
export interface PodOwner { Ref: string; Name: string; Namespace: string }

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const list = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : []);
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The pod's owner as KubeArmor names it: the controlling ownerReference's kind and name; a
 *  ReplicaSet made by a Deployment (its name is the Deployment's, a dash and the pod's
 *  `pod-template-hash` label) is named as that Deployment; a pod with no controller owns itself
 *  (`Ref: Pod`). Owners further up (a Job's CronJob) are not looked up: that takes API reads. */
export function podOwner(pod: Pod): PodOwner {
  const meta: Json = isObject(pod.metadata) ? pod.metadata as Json : {};
  const namespace = text(meta.namespace) || 'default';
  const ref = list(meta.ownerReferences).find((r) => r.controller === true && text(r.kind) !== '' && text(r.name) !== '');
  if (ref === undefined) return { Ref: 'Pod', Name: text(meta.name), Namespace: namespace };
  const kind = text(ref.kind), name = text(ref.name);
  const hash = isObject(meta.labels) ? text(meta.labels['pod-template-hash']) : '';
  if (kind === 'ReplicaSet' && hash !== '' && name.endsWith(`-${hash}`) && name.length > hash.length + 1) {
    return { Ref: 'Deployment', Name: name.slice(0, -(hash.length + 1)), Namespace: namespace };
  }
  return { Ref: kind, Name: name, Namespace: namespace };
}

const SPEC_LISTS = ['containers', 'initContainers', 'ephemeralContainers'] as const;
const STATUS_LISTS = ['containerStatuses', 'initContainerStatuses', 'ephemeralContainerStatuses'] as const;

/** Each container's image as KubeArmor writes ContainerImage: the status's image followed by the
 *  `@sha256:…` digest of its imageID (when the image does not carry one already); the spec's
 *  image while the status does not list the container yet. */
export function containerImages(pod: Pod): Map<string, string> {
  const out = new Map<string, string>();
  const spec: Json = isObject(pod.spec) ? pod.spec as Json : {};
  const status: Json = isObject(pod.status) ? pod.status as Json : {};
  for (const k of SPEC_LISTS) for (const c of list(spec[k])) if (text(c.name) !== '' && text(c.image) !== '') out.set(text(c.name), text(c.image));
  for (const k of STATUS_LISTS) {
    for (const s of list(status[k])) {
      const image = text(s.image);
      if (text(s.name) === '' || image === '') continue;
      const id = text(s.imageID);
      const at = id.indexOf('@');
      out.set(text(s.name), image.includes('@') || at < 0 ? image : `${image}${id.slice(at)}`);
    }
  }
  return out;
}

/** The container a process of the pod must be in when its cgroup is a container the status does
 *  not name yet: the pod's one container, when it has exactly one, no ephemeral container, and
 *  every init container has finished (the status says so; a restartable "sidecar" init container
 *  never does). null otherwise: the process might be in any of several. */
export function soleContainer(pod: Pod): string | null {
  const spec: Json = isObject(pod.spec) ? pod.spec as Json : {};
  const containers = list(spec.containers);
  if (containers.length !== 1 || text(containers[0]!.name) === '' || list(spec.ephemeralContainers).length > 0) return null;
  const status: Json = isObject(pod.status) ? pod.status as Json : {};
  const done = new Set(list(status.initContainerStatuses).filter((s) => isObject(s.state) && isObject(s.state.terminated)).map((s) => text(s.name)));
  for (const c of list(spec.initContainers)) if (c.restartPolicy === 'Always' || !done.has(text(c.name))) return null;
  return text(containers[0]!.name);
}
