// Pod → cgroup, the way kubelet lays pods out, for both cgroup drivers.
//
//   systemd:  kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid, '-' → '_'>.slice
//             kubepods.slice/kubepods-pod<uid_>.slice                      (Guaranteed)
//   cgroupfs: kubepods/burstable/pod<uid>   kubepods/besteffort/pod<uid>   kubepods/pod<uid> (Guaranteed)
//
// Container scopes beneath a pod cgroup: containerd `cri-containerd-<id>.scope` (systemd) or `<id>`
// (cgroupfs); CRI-O `crio-<id>.scope` (and `crio-conmon-<id>.scope`, the monitor) or `crio-<id>`;
// docker `docker-<id>.scope`. The cgroup id the kernel reports is the cgroup directory's inode number.
// Pure name functions first; the few that touch the file system take the cgroup root explicitly.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type CgroupDriver = 'systemd' | 'cgroupfs';
export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';
export const QOS_CLASSES: readonly QosClass[] = ['Guaranteed', 'Burstable', 'BestEffort'];
export const CGROUP_DRIVERS: readonly CgroupDriver[] = ['systemd', 'cgroupfs'];

export interface CgroupRef {
  /** Absolute path of the cgroup directory. */
  path: string;
  /** The kernel's cgroup id: the directory's inode number. */
  id: bigint;
}

const UID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The QoS class from a pod's status (kubelet's own computation is what decides the layout). */
export function qosClassOf(value: unknown): QosClass | null {
  return typeof value === 'string' && (QOS_CLASSES as readonly string[]).includes(value) ? (value as QosClass) : null;
}

/** The pod cgroup's path relative to the cgroup root. */
export function podCgroupRelPath(driver: CgroupDriver, qos: QosClass, uid: string): string {
  if (driver === 'systemd') {
    const u = uid.replaceAll('-', '_');
    if (qos === 'Guaranteed') return `kubepods.slice/kubepods-pod${u}.slice`;
    const q = qos.toLowerCase();
    return `kubepods.slice/kubepods-${q}.slice/kubepods-${q}-pod${u}.slice`;
  }
  if (qos === 'Guaranteed') return `kubepods/pod${uid}`;
  return `kubepods/${qos.toLowerCase()}/pod${uid}`;
}

/** The pod UID a pod cgroup directory's name stands for, or null when the name is not a pod cgroup. */
export function podUidFromCgroupName(name: string): string | null {
  let m = /^kubepods(?:-(?:burstable|besteffort))?-pod([0-9a-f_]{36})\.slice$/.exec(name);
  if (m?.[1] !== undefined) {
    const uid = m[1].replaceAll('_', '-');
    return UID_RE.test(uid) ? uid : null;
  }
  m = /^pod([0-9a-f-]{36})$/.exec(name);
  if (m?.[1] !== undefined && UID_RE.test(m[1])) return m[1];
  return null;
}

export interface ContainerScope {
  runtime: 'containerd' | 'cri-o' | 'docker' | 'unknown';
  id: string;
  /** CRI-O's conmon monitor scope: belongs to the pod but is no container process. */
  monitor: boolean;
}

/** The container a cgroup directory beneath a pod cgroup belongs to, or null. */
export function containerFromCgroupName(name: string): ContainerScope | null {
  const m = /^(cri-containerd-|crio-conmon-|crio-|docker-)?([0-9a-f]{64})(\.scope)?$/.exec(name);
  if (m?.[2] === undefined) return null;
  const prefix = m[1] ?? '';
  const runtime = prefix === 'cri-containerd-' ? 'containerd'
    : prefix.startsWith('crio-') ? 'cri-o'
      : prefix === 'docker-' ? 'docker' : 'unknown';
  return { runtime, id: m[2], monitor: prefix === 'crio-conmon-' };
}

/** `containerd://<id>`, `cri-o://<id>`, `docker://<id>` from a pod's containerStatuses[].containerID. */
export function parseContainerId(value: unknown): { runtime: string; id: string } | null {
  if (typeof value !== 'string') return null;
  const m = /^([a-z0-9-]+):\/\/([0-9a-f]{64})$/.exec(value);
  return m?.[1] !== undefined && m[2] !== undefined ? { runtime: m[1], id: m[2] } : null;
}

/** The cgroup id of a cgroup directory (its inode number), or null when it does not exist. */
export function cgroupIdOf(path: string): bigint | null {
  try {
    const st = statSync(path, { bigint: true });
    return st.isDirectory() ? st.ino : null;
  } catch {
    return null;
  }
}

function subdirs(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

export interface LivePod {
  uid: string;
  cgroup: CgroupRef;
  containers: (ContainerScope & { cgroup: CgroupRef })[];
}

/** Finds pod cgroups under one cgroup root, whichever driver kubelet uses. */
export class CgroupResolver {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
  }

  /** The pod's cgroup if it exists now. With an unknown QoS class every class is tried. */
  podCgroup(uid: string, qos: QosClass | null): CgroupRef | null {
    const classes = qos === null ? QOS_CLASSES : [qos];
    for (const driver of CGROUP_DRIVERS) {
      for (const q of classes) {
        const path = join(this.root, podCgroupRelPath(driver, q, uid));
        const id = cgroupIdOf(path);
        if (id !== null) return { path, id };
      }
    }
    return null;
  }

  /** A container's cgroup beneath its pod's cgroup, by container ID (the monitor scope is never it). */
  containerCgroup(podPath: string, containerId: string): CgroupRef | null {
    for (const name of subdirs(podPath)) {
      const c = containerFromCgroupName(name);
      if (c !== null && !c.monitor && c.id === containerId) {
        const path = join(podPath, name);
        const id = cgroupIdOf(path);
        if (id !== null) return { path, id };
      }
    }
    return null;
  }

  /** The container ID in the name of the pod cgroup's child whose cgroup id is `cgroupId` (a
   *  container the pod's status does not name yet), or null. */
  containerIdOfCgroup(podPath: string, cgroupId: bigint): string | null {
    for (const name of subdirs(podPath)) {
      const c = containerFromCgroupName(name);
      if (c !== null && !c.monitor && cgroupIdOf(join(podPath, name)) === cgroupId) return c.id;
    }
    return null;
  }

  /** Every pod cgroup that exists under the kubepods hierarchy now, with its container scopes. */
  livePods(): LivePod[] {
    const out: LivePod[] = [];
    const visit = (dir: string, depth: number): void => {
      for (const name of subdirs(dir)) {
        const path = join(dir, name);
        const uid = podUidFromCgroupName(name);
        if (uid !== null) {
          const id = cgroupIdOf(path);
          if (id === null) continue;
          const containers: LivePod['containers'] = [];
          for (const child of subdirs(path)) {
            const c = containerFromCgroupName(child);
            const cid = c === null ? null : cgroupIdOf(join(path, child));
            if (c !== null && cid !== null) containers.push({ ...c, cgroup: { path: join(path, child), id: cid } });
          }
          out.push({ uid, cgroup: { path, id }, containers });
        } else if (depth < 1 && /^kubepods(-burstable|-besteffort)?\.slice$|^(burstable|besteffort)$/.test(name)) {
          visit(path, depth + 1);
        }
      }
    };
    for (const top of ['kubepods.slice', 'kubepods']) {
      if (cgroupIdOf(join(this.root, top)) !== null) visit(join(this.root, top), 0);
    }
    return out;
  }

  /** Ids of every pod and container cgroup that exists now (what the periodic sweep keeps). */
  liveIds(): Set<bigint> {
    const ids = new Set<bigint>();
    for (const p of this.livePods()) {
      ids.add(p.cgroup.id);
      for (const c of p.containers) ids.add(c.cgroup.id);
    }
    return ids;
  }
}
