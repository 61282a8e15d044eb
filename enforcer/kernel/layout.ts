// The userspace mirror of bpf/armorgate.h: constants, struct sizes and field offsets,
// and the encoders/decoders of map keys, values and ring-buffer events. Pure.
// test/kernel/layout.test.ts checks every size and offset here against the BTF of
// build/armorgate.bpf.o and every constant against the header.

export const AG_PATH_MAX = 512;
export const AG_UID_LEN = 40;
export const AG_MAX_ENT = 8;
export const AG_MAX_DEPTH = 64;
export const AG_SHAPE_DEPTHS = 16;

export const KIND = { process: 0, file: 1, network: 2, capabilities: 3 } as const;
export const TTYPE = { path: 1, dir: 2, execname: 3, proto: 4, cap: 5, guard: 6 } as const;
export const ACTION = { Allow: 1, Audit: 2, Block: 3 } as const;
export const FLAG = { valid: 0x01, readOnly: 0x02, ownerOnly: 0x04, recursive: 0x08 } as const;
export const PROTO: Readonly<Record<string, number>> = {
  tcp: 0, udp: 1, icmp: 2, icmpv6: 3, raw: 4, sctp: 5, stream: 6, dgram: 7,
  rdm: 8, seqpacket: 9, dccp: 10, packet: 11, all: 12,
};
export const HOOKS = [
  '', 'exec', 'open', 'create', 'mkdir', 'rmdir', 'unlink', 'rename', 'link', 'symlink',
  'truncate', 'chmod', 'chown', 'socket', 'capable', 'mount', 'mmap',
] as const;
export const EV = { decision: 1, dropped: 2, log: 3, logDropped: 4 } as const; // log*: bpf/visibility.h
/** Alerts (decision events) per container cgroup per second before the kernel drops and counts
 *  them, unless openKernel is told otherwise (ag_config.rate_per_sec). */
export const DEFAULT_EVENT_RATE = 200;
export const RULE_POSTURE = 0xffffffff;
export const AG_EVERY = 0x80000000;
export const AG_ALL_CONTAINERS = 0xffffffff;
export const AG_MAX_CONTAINERS = 31;
export const CG_FLAG = { pod: 0x1, user: 0x2 } as const;
export const EXACT = { procPath: 0x1, procName: 0x2, filePath: 0x4, guard: 0x8, procPat: 0x10, filePat: 0x20 } as const;
/** bpf/pattern.h */
export const AG_DFA = { states: 4096, cells: 16384, ents: 1024, hits: 16, lits: 1024, litLen: 8, accGuardShift: 21, abi: 2 } as const;

/** Sizes and field offsets (bytes) of the shared structs, as the header lays them out. */
export const LAYOUT = {
  ag_uid: { size: 40, fields: { uid: 0 } },
  ag_pod_head: { size: 160, fields: { pod_id: 0, gen: 4, posture: 8, has_source: 12, allowlist: 16, has_block: 32, dirmask: 48, capmask: 64, protomask: 72, exactmask: 76, unknown_mask: 80, userns_level: 84, seed: 88, hashmask: 96 } },
  ag_file_shape: { size: 256, fields: { len: 0, name: 128 } },
  ag_pod: { size: 416, fields: { h: 0, shape: 160 } },
  ag_rule_key: { size: 32, fields: { hash: 0, src_hash: 8, pod_id: 16, gen: 20, kind: 24, ttype: 25, pad: 26 } },
  ag_rule_ent: { size: 12, fields: { rule_id: 0, containers: 4, action: 8, flags: 9, pad: 10 } },
  ag_rule_val: { size: 608, fields: { path: 0, ent: 512 } },
  ag_src_key: { size: 16, fields: { src_hash: 0, pod_id: 8, gen: 12 } },
  ag_src_val: { size: 512, fields: { path: 0 } },
  ag_cgroup: { size: 48, fields: { uid: 0, containers: 40, flags: 44 } },
  ag_cgcache: { size: 56, fields: { uid: 0, scope: 40, flags: 48, kp_gen: 52 } },
  ag_exe: { size: 512, fields: { path: 0 } },
  ag_rate: { size: 16, fields: { window_ns: 0, count: 8, dropped: 12 } },
  ag_pat_key: { size: 16, fields: { pod_id: 0, gen: 4, kind: 8, pad: 12 } },
  ag_pat_ent: { size: 24, fields: { src_hash: 0, e: 8, pad: 20 } },
  ag_dfa: { size: 141584, fields: { start: 0, ncls: 4, cls: 8, acc: 264, ent: 16648, base: 41224, dflt: 49416, cell: 57608, lit: 123144, litidx: 131336, litnext: 139528, abi: 141576, pad: 141580 } },
  ag_config: { size: 56, fields: { rate_per_sec: 0, fork_layout: 4, summary_valid: 8, net_protos: 12, caps: 16, net_allowlist: 24, caps_allowlist: 28, kp_id: 32, kp_gen: 48, pods_epoch: 52 } },
  ag_event: {
    size: 1632,
    fields: {
      time_ns: 0, cgroup_id: 8, type: 16, pid: 20, ppid: 24, uid: 28, rule_id: 32, gen: 36, err: 40,
      dropped: 44, hook: 48, kind: 49, action: 50, denied: 51, pad: 52, pod_uid: 56, exe: 96,
      source: 608, target: 1120,
    },
  },
} as const;

const L = LAYOUT;

function putStr(b: Buffer, off: number, max: number, s: string): void {
  const n = Buffer.byteLength(s, 'utf8');
  if (n >= max) throw new RangeError(`string of ${n} bytes does not fit in ${max}`);
  b.write(s, off, n, 'utf8');
}

/** Where a NUL-terminated field of `max` bytes at `off` ends (its NUL, or its end when full). */
function strEnd(b: Buffer, off: number, max: number): number {
  const end = b.indexOf(0, off);
  return end < 0 || end > off + max ? off + max : end;
}

function getStr(b: Buffer, off: number, max: number): string {
  return b.toString('utf8', off, strEnd(b, off, max));
}

export function encodeUid(uid: string): Buffer {
  const b = Buffer.alloc(L.ag_uid.size);
  putStr(b, 0, AG_UID_LEN, uid);
  return b;
}

export interface PodValue {
  podId: number;
  gen: number;
  posture: [number, number, number, number];
  hasSource: [number, number, number, number];
  allowlist: [number, number, number, number];
  hasBlock: [number, number, number, number];
  /** process, file: bit n when a directory rule has n '/' (bit 63: 63 or more) */
  dirmask: [bigint, bigint];
  capmask: bigint;
  protomask: number;
  exactmask: number;
  /** container mask of a scope userspace has not told (AG_EVERY until the pod's containers are
   *  all known, then AG_ALL_CONTAINERS) */
  unknownMask: number;
  /** user-namespace level of the pod's containers (0, or 1 for hostUsers: false) */
  usernsLevel: number;
  /** basis of this generation's rule and source hashes (pathHash; random per generation) */
  seed: bigint;
  /** process, file: bit (h & 255) of every exact path, base-name and directory target's hash
   *  (4 words each): the kernel makes no probe whose hash has no bit */
  hashmask: [bigint[], bigint[]];
  /** the file rules' shape (struct ag_file_shape): AG_SHAPE_DEPTHS masks each */
  shape: FileShape;
}

/** Per depth bucket: bit min(L, 63) of len, bit nameCell(L, prefix) of name (bpf/armorgate.h). */
export interface FileShape { len: bigint[]; name: bigint[] }

/** Sets the bit of hash h in a kind's hashmask words. */
export function addToHashmask(words: bigint[], h: bigint): void {
  const b = Number(h & 255n);
  words[b >> 6] = words[b >> 6]! | (1n << BigInt(b & 63));
}

export function emptyShape(): FileShape {
  return { len: Array.from({ length: AG_SHAPE_DEPTHS }, () => 0n), name: Array.from({ length: AG_SHAPE_DEPTHS }, () => 0n) };
}

/** ag_name_cell: 6 bits from a name's byte length and its first min(len, 4) bytes read as a
 *  little-endian u32 (the rest zero). */
export function nameCell(len: number, prefix: number): number {
  return Math.imul((prefix ^ (len << 24)) >>> 0, 0x9e3779b1) >>> 26;
}

/** Offset in the pods value of depth bucket d of the shape's len or name masks. */
function shapeOffset(part: 'len' | 'name', d: number): number {
  return L.ag_pod.fields.shape + L.ag_file_shape.fields[part] + 8 * d;
}

export function encodePod(p: PodValue): Buffer {
  const b = Buffer.alloc(L.ag_pod.size);
  const f = L.ag_pod_head.fields; // the head is at offset 0 of ag_pod
  b.writeUInt32LE(p.podId, f.pod_id);
  b.writeUInt32LE(p.gen >>> 0, f.gen);
  for (let k = 0; k < 4; k++) {
    b.writeUInt8(p.posture[k]!, f.posture + k);
    b.writeUInt8(p.hasSource[k]!, f.has_source + k);
    b.writeUInt32LE(p.allowlist[k]! >>> 0, f.allowlist + 4 * k);
    b.writeUInt32LE(p.hasBlock[k]! >>> 0, f.has_block + 4 * k);
  }
  b.writeBigUInt64LE(p.dirmask[0], f.dirmask);
  b.writeBigUInt64LE(p.dirmask[1], f.dirmask + 8);
  b.writeBigUInt64LE(p.capmask, f.capmask);
  b.writeUInt32LE(p.protomask >>> 0, f.protomask);
  b.writeUInt32LE(p.exactmask >>> 0, f.exactmask);
  b.writeUInt32LE(p.unknownMask >>> 0, f.unknown_mask);
  b.writeUInt32LE(p.usernsLevel >>> 0, f.userns_level);
  b.writeBigUInt64LE(BigInt.asUintN(64, p.seed), f.seed);
  for (let k = 0; k < 2; k++) for (let w = 0; w < 4; w++) b.writeBigUInt64LE(p.hashmask[k]![w]!, f.hashmask + 32 * k + 8 * w);
  for (let d = 0; d < AG_SHAPE_DEPTHS; d++) {
    b.writeBigUInt64LE(p.shape.len[d]!, shapeOffset('len', d));
    b.writeBigUInt64LE(p.shape.name[d]!, shapeOffset('name', d));
  }
  return b;
}

export function decodePod(b: Buffer): PodValue {
  const f = L.ag_pod_head.fields; // the head is at offset 0 of ag_pod
  const four = (fn: (k: number) => number): [number, number, number, number] => [fn(0), fn(1), fn(2), fn(3)];
  return {
    podId: b.readUInt32LE(f.pod_id),
    gen: b.readUInt32LE(f.gen),
    posture: four((k) => b.readUInt8(f.posture + k)),
    hasSource: four((k) => b.readUInt8(f.has_source + k)),
    allowlist: four((k) => b.readUInt32LE(f.allowlist + 4 * k)),
    hasBlock: four((k) => b.readUInt32LE(f.has_block + 4 * k)),
    dirmask: [b.readBigUInt64LE(f.dirmask), b.readBigUInt64LE(f.dirmask + 8)],
    capmask: b.readBigUInt64LE(f.capmask),
    protomask: b.readUInt32LE(f.protomask),
    exactmask: b.readUInt32LE(f.exactmask),
    unknownMask: b.readUInt32LE(f.unknown_mask),
    usernsLevel: b.readUInt32LE(f.userns_level),
    seed: b.readBigUInt64LE(f.seed),
    hashmask: [0, 1].map((k) => [0, 1, 2, 3].map((w) => b.readBigUInt64LE(f.hashmask + 32 * k + 8 * w))) as [bigint[], bigint[]],
    shape: {
      len: Array.from({ length: AG_SHAPE_DEPTHS }, (_, d) => b.readBigUInt64LE(shapeOffset('len', d))),
      name: Array.from({ length: AG_SHAPE_DEPTHS }, (_, d) => b.readBigUInt64LE(shapeOffset('name', d))),
    },
  };
}

export interface RuleKey { hash: bigint; srcHash: bigint; podId: number; gen: number; kind: number; ttype: number }

/** Encodes into `b` (zeroed) at `off`, or a new buffer: a profile's keys and values are
 *  written into one buffer each (no 600-byte allocation per rule). */
export function encodeRuleKey(k: RuleKey, b: Buffer = Buffer.alloc(L.ag_rule_key.size), off = 0): Buffer {
  const f = L.ag_rule_key.fields;
  b.writeBigUInt64LE(k.hash, off + f.hash);
  b.writeBigUInt64LE(k.srcHash, off + f.src_hash);
  b.writeUInt32LE(k.podId, off + f.pod_id);
  b.writeUInt32LE(k.gen >>> 0, off + f.gen);
  b.writeUInt8(k.kind, off + f.kind);
  b.writeUInt8(k.ttype, off + f.ttype);
  return b;
}

export function decodeRuleKey(b: Buffer): RuleKey {
  const f = L.ag_rule_key.fields;
  return {
    hash: b.readBigUInt64LE(f.hash), srcHash: b.readBigUInt64LE(f.src_hash), podId: b.readUInt32LE(f.pod_id),
    gen: b.readUInt32LE(f.gen), kind: b.readUInt8(f.kind), ttype: b.readUInt8(f.ttype),
  };
}

export interface RuleEnt { ruleId: number; containers: number; action: number; flags: number }

export function encodeRuleVal(path: string, ents: readonly RuleEnt[], b: Buffer = Buffer.alloc(L.ag_rule_val.size), off = 0): Buffer {
  if (ents.length > AG_MAX_ENT) throw new RangeError(`${ents.length} rules share one target (at most ${AG_MAX_ENT})`);
  putStr(b, off + L.ag_rule_val.fields.path, AG_PATH_MAX, path);
  const ef = L.ag_rule_ent.fields;
  ents.forEach((e, i) => {
    const o = off + L.ag_rule_val.fields.ent + i * L.ag_rule_ent.size;
    b.writeUInt32LE(e.ruleId >>> 0, o + ef.rule_id);
    b.writeUInt32LE(e.containers >>> 0, o + ef.containers);
    b.writeUInt8(e.action, o + ef.action);
    b.writeUInt8(e.flags | FLAG.valid, o + ef.flags);
  });
  return b;
}

export function decodeRuleVal(b: Buffer): { path: string; ents: RuleEnt[] } {
  const ents: RuleEnt[] = [];
  const ef = L.ag_rule_ent.fields;
  for (let i = 0; i < AG_MAX_ENT; i++) {
    const o = L.ag_rule_val.fields.ent + i * L.ag_rule_ent.size;
    const flags = b.readUInt8(o + ef.flags);
    if (!(flags & FLAG.valid)) break;
    ents.push({ ruleId: b.readUInt32LE(o + ef.rule_id), containers: b.readUInt32LE(o + ef.containers), action: b.readUInt8(o + ef.action), flags: flags & ~FLAG.valid });
  }
  return { path: getStr(b, 0, AG_PATH_MAX), ents };
}

export function encodeSrcKey(srcHash: bigint, podId: number, gen: number): Buffer {
  const b = Buffer.alloc(L.ag_src_key.size);
  b.writeBigUInt64LE(srcHash, L.ag_src_key.fields.src_hash);
  b.writeUInt32LE(podId, L.ag_src_key.fields.pod_id);
  b.writeUInt32LE(gen >>> 0, L.ag_src_key.fields.gen);
  return b;
}

export function decodeSrcKey(b: Buffer): { srcHash: bigint; podId: number; gen: number } {
  return { srcHash: b.readBigUInt64LE(0), podId: b.readUInt32LE(8), gen: b.readUInt32LE(12) };
}

export function encodePathVal(path: string): Buffer {
  const b = Buffer.alloc(AG_PATH_MAX);
  putStr(b, 0, AG_PATH_MAX, path);
  return b;
}

export function decodePathVal(b: Buffer): string {
  return getStr(b, 0, AG_PATH_MAX);
}

export function encodeCgroup(uid: string, containers: number, flags: number): Buffer {
  const b = Buffer.alloc(L.ag_cgroup.size);
  putStr(b, 0, AG_UID_LEN, uid);
  b.writeUInt32LE(containers >>> 0, L.ag_cgroup.fields.containers);
  b.writeUInt32LE(flags >>> 0, L.ag_cgroup.fields.flags);
  return b;
}

export function decodeCgroup(b: Buffer): { uid: string; containers: number; flags: number } {
  return { uid: getStr(b, 0, AG_UID_LEN), containers: b.readUInt32LE(40), flags: b.readUInt32LE(44) };
}

/** What the node's pods together may decide on sockets and capabilities (struct ag_config). */
export interface NodeSummary { netProtos: number; caps: bigint; netAllowlist: boolean; capsAllowlist: boolean }

/** The kubepods roots the programs find pods under (struct ag_config kp_id, kp_gen): cgroup
 *  ids (inode numbers of the cgroup2 directories), at most two, and a generation that changes
 *  whenever they do (the programs' cgroup cache is valid for one generation). */
export interface KubepodsRoots { ids: bigint[]; gen: number }

/** The config value; `summary` null leaves the node summary unused (summary_valid 0), as does
 *  `valid` false (the masks written, the flag not yet). `podsEpoch`: the value ag_who's per-CPU
 *  memo of a cgroup's pod is valid for; every write of pods or cgroups changes it (bumpPodsEpoch). */
export function encodeConfig(ratePerSec: number, forkLayout: number, summary: NodeSummary | null = null, valid = true, kubepods: KubepodsRoots = { ids: [], gen: 0 }, podsEpoch = 0): Buffer {
  const b = Buffer.alloc(L.ag_config.size);
  const f = L.ag_config.fields;
  b.writeUInt32LE(podsEpoch >>> 0, f.pods_epoch);
  b.writeUInt32LE(ratePerSec >>> 0, f.rate_per_sec);
  b.writeUInt32LE(forkLayout >>> 0, f.fork_layout);
  kubepods.ids.slice(0, 2).forEach((id, i) => b.writeBigUInt64LE(id, f.kp_id + 8 * i));
  b.writeUInt32LE(kubepods.gen >>> 0, f.kp_gen);
  if (summary !== null) {
    b.writeUInt32LE(valid ? 1 : 0, f.summary_valid);
    b.writeUInt32LE(summary.netProtos >>> 0, f.net_protos);
    b.writeBigUInt64LE(BigInt.asUintN(64, summary.caps), f.caps);
    b.writeUInt32LE(summary.netAllowlist ? 1 : 0, f.net_allowlist);
    b.writeUInt32LE(summary.capsAllowlist ? 1 : 0, f.caps_allowlist);
  }
  return b;
}

export function decodeConfig(b: Buffer): { ratePerSec: number; forkLayout: number; summary: NodeSummary | null; kubepods: KubepodsRoots; podsEpoch: number } {
  const f = L.ag_config.fields;
  return {
    podsEpoch: b.readUInt32LE(f.pods_epoch),
    ratePerSec: b.readUInt32LE(f.rate_per_sec),
    forkLayout: b.readUInt32LE(f.fork_layout),
    kubepods: { ids: [b.readBigUInt64LE(f.kp_id), b.readBigUInt64LE(f.kp_id + 8)].filter((id) => id !== 0n), gen: b.readUInt32LE(f.kp_gen) },
    summary: b.readUInt32LE(f.summary_valid) === 0 ? null : {
      netProtos: b.readUInt32LE(f.net_protos), caps: b.readBigUInt64LE(f.caps),
      netAllowlist: b.readUInt32LE(f.net_allowlist) !== 0, capsAllowlist: b.readUInt32LE(f.caps_allowlist) !== 0,
    },
  };
}

/** One pod's part of the node summary: its protocol and capability masks, and whether any
 *  container of it has a network or capabilities allow-list. */
export function summaryOf(p: PodValue): NodeSummary {
  return { netProtos: p.protomask, caps: p.capmask, netAllowlist: p.allowlist[KIND.network] !== 0, capsAllowlist: p.allowlist[KIND.capabilities] !== 0 };
}

/** The union of pod summaries (what any of them may decide). */
export function unionSummaries(parts: Iterable<NodeSummary>): NodeSummary {
  const u: NodeSummary = { netProtos: 0, caps: 0n, netAllowlist: false, capsAllowlist: false };
  for (const p of parts) {
    u.netProtos = (u.netProtos | p.netProtos) >>> 0;
    u.caps |= p.caps;
    u.netAllowlist ||= p.netAllowlist;
    u.capsAllowlist ||= p.capsAllowlist;
  }
  return u;
}

export function u32Key(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

export function u64Key(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}

export interface RawEvent {
  timeNs: number; cgroupId: bigint; type: number; pid: number; ppid: number; uid: number; ruleId: number;
  gen: number; err: number; dropped: number; hook: number; kind: number; action: number; denied: number;
  podUid: string; exe: string; source: string; target: string;
}

/** A u64 as a number (no BigInt made): exact below 2^53. */
function u64Number(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readUInt32LE(off + 4) * 0x100000000;
}

/** A record's fields around the four the two decoders make their own way. */
function rawEvent(b: Buffer, cgroupId: bigint, podUid: string, exe: string, source: string): RawEvent {
  const f = L.ag_event.fields;
  return {
    timeNs: u64Number(b, f.time_ns), cgroupId, type: b.readUInt32LE(f.type),
    pid: b.readUInt32LE(f.pid), ppid: b.readUInt32LE(f.ppid), uid: b.readUInt32LE(f.uid), ruleId: b.readUInt32LE(f.rule_id),
    gen: b.readUInt32LE(f.gen), err: b.readInt32LE(f.err), dropped: b.readUInt32LE(f.dropped), hook: b[f.hook]!,
    kind: b[f.kind]!, action: b[f.action]!, denied: b[f.denied]!,
    podUid, exe, source, target: getStr(b, f.target, AG_PATH_MAX),
  };
}

/** One record, every field decoded (the enforcer's consumer uses eventDecoder). */
export function decodeEvent(b: Buffer): RawEvent | null {
  if (b.length < L.ag_event.size) return null;
  const f = L.ag_event.fields;
  return rawEvent(b, b.readBigUInt64LE(f.cgroup_id), getStr(b, f.pod_uid, AG_UID_LEN), getStr(b, f.exe, AG_PATH_MAX), getStr(b, f.source, AG_PATH_MAX));
}

/** A string field as the last two records that differed in it had it: bytes (copies) and texts,
 *  the most recent first (a shell and the program it runs alternate in a busy pod's records). */
interface FieldMemo { bytes: [Uint8Array, Uint8Array]; text: [string, string] }

const fieldMemo = (): FieldMemo => ({ bytes: [new Uint8Array(0), new Uint8Array(0)], text: ['', ''] });

/** Whether the field at `off` holds exactly `prev` (compared in place, no copy). */
function holds(b: Buffer, off: number, max: number, prev: Uint8Array): boolean {
  const n = prev.length;
  if (n < max ? b[off + n] !== 0 : n !== max) return false;
  for (let i = 0; i < n; i++) if (b[off + i] !== prev[i]) return false;
  return true;
}

/** The field's text: a remembered one when the record holds the same bytes, else decoded and
 *  remembered. */
function memoStr(b: Buffer, off: number, max: number, m: FieldMemo): string {
  if (holds(b, off, max, m.bytes[0])) return m.text[0];
  if (holds(b, off, max, m.bytes[1])) {
    m.bytes.reverse();
    m.text.reverse();
    return m.text[0];
  }
  const stop = strEnd(b, off, max);
  // a copy: the record is a view of a reused slot
  m.bytes[1] = m.bytes[0];
  m.text[1] = m.text[0];
  m.bytes[0] = new Uint8Array(b.subarray(off, stop));
  m.text[0] = b.toString('utf8', off, stop);
  return m.text[0];
}

/** A decoder of ring-buffer events that remembers, from the records before, what a busy pod's
 *  records repeat: the cgroup id (a BigInt made once), the pod UID, the program and the source
 *  (the last two of each, compared byte for byte, decoded only when neither matches). A record's
 *  target is decoded each time. Measured by `npm run bench:log-path`. */
export function eventDecoder(): (b: Buffer) => RawEvent | null {
  const f = L.ag_event.fields;
  let cgLo = -1;
  let cgHi = -1;
  let cg = 0n;
  const uid = fieldMemo();
  const exe = fieldMemo();
  const src = fieldMemo();
  return (b: Buffer): RawEvent | null => {
    if (b.length < L.ag_event.size) return null;
    const lo = b.readUInt32LE(f.cgroup_id);
    const hi = b.readUInt32LE(f.cgroup_id + 4);
    if (lo !== cgLo || hi !== cgHi) {
      cgLo = lo;
      cgHi = hi;
      cg = (BigInt(hi) << 32n) | BigInt(lo);
    }
    return rawEvent(b, cg, memoStr(b, f.pod_uid, AG_UID_LEN, uid), memoStr(b, f.exe, AG_PATH_MAX, exe), memoStr(b, f.source, AG_PATH_MAX, src));
  };
}

// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

/** FNV-1a 64's standard offset basis: the seed of pathHash when none is given. */
export const FNV_OFFSET = 0xcbf29ce484222325n;

/** The hash of rule targets, sources and paths, as the BPF side computes it (bpf/armorgate.bpf.c
 *  ag_hash, pass 1): the UTF-8 bytes as 64-bit little-endian words, the last one zero past the end,
 *  each mixed in from `seed` (the pod generation's random seed) by h = (h ^ w) * FNV prime (2^40 +
 *  0x1b3), h ^= h >> 32. A word at a time, so that the kernel hashes an open's path in an eighth
 *  of the steps of a byte at a time. In two 32-bit halves: a hostile profile's thousands of paths
 *  hash in milliseconds, not BigInt's hundreds. */
export function pathHash(s: string | Uint8Array, seed: bigint = FNV_OFFSET): bigint {
  // ASCII strings are their own UTF-8 bytes: read in place
  const bytes = typeof s === 'string' ? (ASCII.test(s) ? null : Buffer.from(s, 'utf8')) : s;
  const n = bytes === null ? (s as string).length : bytes.length;
  const at = (i: number): number => (i >= n ? 0 : bytes === null ? (s as string).charCodeAt(i) : bytes[i]!);
  const sd = BigInt.asUintN(64, seed);
  let hi = Number(sd >> 32n);
  let lo = Number(sd & 0xffffffffn);
  for (let i = 0; i < n; i += 8) {
    lo = (lo ^ (at(i) | (at(i + 1) << 8) | (at(i + 2) << 16) | (at(i + 3) << 24))) >>> 0;
    hi = (hi ^ (at(i + 4) | (at(i + 5) << 8) | (at(i + 6) << 16) | (at(i + 7) << 24))) >>> 0;
    // (hi:lo) * (2^40 + 0x1b3) mod 2^64
    const m = lo * 0x1b3; // < 2^41: exact
    hi = (Math.imul(hi, 0x1b3) + Math.floor(m / 0x100000000) + (lo << 8)) >>> 0;
    lo = m >>> 0;
    // h ^= h >> 32
    lo = (lo ^ hi) >>> 0;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}
