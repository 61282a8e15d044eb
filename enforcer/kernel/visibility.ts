// Userspace side of bpf/visibility.h: which pods ask to see which kinds (map agvis, by pod id),
// the node-wide union of those kinds and the logs' rate limit (agvisconfig), and the raw
// arguments of a socket() an event carries. Writes are plain map updates: visibility changes no
// verdict, so it needs none of the rule maps' generation flip.
import { ok, type Result, type RuleKind, type VisibilityKind } from '../../policy/types.ts';
import { check, libbpf, type BpfError } from './libbpf.ts';
import { u32Key } from './layout.ts';

/** AG_KIND_* bit of each kind (bpf/armorgate.h). */
export const KIND_BIT: Record<RuleKind, number> = { process: 1, file: 2, network: 4, capabilities: 8 };
/** Visibility logs per cgroup per second before the kernel drops (and counts) them. */
export const DEFAULT_LOG_RATE = 1000;

export function visibilityMask(kinds: readonly VisibilityKind[] | undefined): number {
  let m = 0;
  for (const k of kinds ?? []) m |= KIND_BIT[k];
  return m;
}

/** struct ag_visconfig */
export function encodeVisConfig(ratePerSec: number, kinds: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(ratePerSec >>> 0, 0);
  b.writeUInt32LE(kinds >>> 0, 4);
  return b;
}

/** family | type << 8 | protocol << 16, as ag_sock_set packs them; null for 0 (none). */
export function decodeSockArgs(v: number): { family: number; type: number; protocol: number } | null {
  if (v === 0) return null;
  return { family: v & 0xff, type: (v >>> 8) & 0xff, protocol: v >>> 16 };
}

/** The pods' visibility masks, kept in agvis and summed up in agvisconfig. */
export class VisibilityMaps {
  readonly #vis: number;
  readonly #cfg: number;
  readonly #masks = new Map<number, number>();
  #rate = DEFAULT_LOG_RATE;

  constructor(visFd: number, cfgFd: number) {
    this.#vis = visFd;
    this.#cfg = cfgFd;
  }

  /** The masks already pinned (an enforcer restarted): kept in the union until told otherwise. */
  adopt(entries: Iterable<[Buffer, Buffer]>): void {
    for (const [k, v] of entries) this.#masks.set(k.readUInt32LE(0), v.readUInt32LE(0));
    this.#writeConfig();
  }

  set(podId: number, kinds: readonly VisibilityKind[] | undefined): Result<void, BpfError> {
    const mask = visibilityMask(kinds);
    if ((this.#masks.get(podId) ?? 0) === mask) return ok(undefined);
    const lr = libbpf();
    if (!lr.ok) return lr;
    if (mask === 0) {
      lr.value.bpf_map_delete_elem(this.#vis, u32Key(podId));
      this.#masks.delete(podId);
      return this.#writeConfig();
    }
    // the node-wide union widens before the pod's mask is there, narrows after it is gone
    this.#masks.set(podId, mask);
    const c = this.#writeConfig();
    if (!c.ok) return c;
    const r = check('update agvis', lr.value.bpf_map_update_elem(this.#vis, u32Key(podId), u32Key(mask), 0n));
    return r.ok ? ok(undefined) : r;
  }

  remove(podId: number): void {
    if (!this.#masks.has(podId)) return;
    const lr = libbpf();
    if (lr.ok) lr.value.bpf_map_delete_elem(this.#vis, u32Key(podId));
    this.#masks.delete(podId);
    this.#writeConfig();
  }

  setRate(perSec: number): Result<void, BpfError> {
    if (!Number.isInteger(perSec) || perSec < 0) return { ok: false, error: { code: 'E_RATE', message: `log rate must be a whole number >= 0, not ${perSec}`, errno: 22 } };
    this.#rate = perSec;
    return this.#writeConfig();
  }

  #writeConfig(): Result<void, BpfError> {
    const lr = libbpf();
    if (!lr.ok) return lr;
    let kinds = 0;
    for (const m of this.#masks.values()) kinds |= m;
    const r = check('update agvisconfig', lr.value.bpf_map_update_elem(this.#cfg, Buffer.alloc(4), encodeVisConfig(this.#rate, kinds), 0n));
    return r.ok ? ok(undefined) : r;
  }
}
