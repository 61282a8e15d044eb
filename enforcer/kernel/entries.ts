// profile → map entries: the pure translation of a compiled profile into the
// pods/rules/sources map contents the BPF programs read (bpf/armorgate.h).
// Deterministic, no I/O; tested on the host against policy/decide.ts.
import type { Profile, ProfileRule, Result, RuleKind } from '../../policy/types.ts';
import { err, ok, RULE_KINDS } from '../../policy/types.ts';
import {
  ACTION, AG_ALL_CONTAINERS, AG_EVERY, EXACT, AG_MAX_CONTAINERS, AG_MAX_ENT, AG_PATH_MAX, AG_SHAPE_DEPTHS, FLAG, KIND, PROTO, TTYPE,
  emptyShape, encodePathVal, encodePod, encodeRuleKey, encodeRuleVal, encodeSrcKey, fnv1a64, nameCell,
  type FileShape, type PodValue, type RuleEnt, type RuleKey,
} from './layout.ts';

/** Linux capability numbers by KubeArmor's lower-case name (without CAP_). */
export const CAPABILITIES: Readonly<Record<string, number>> = {
  chown: 0, dac_override: 1, dac_read_search: 2, fowner: 3, fsetid: 4, kill: 5, setgid: 6, setuid: 7,
  setpcap: 8, linux_immutable: 9, net_bind_service: 10, net_broadcast: 11, net_admin: 12, net_raw: 13,
  ipc_lock: 14, ipc_owner: 15, sys_module: 16, sys_rawio: 17, sys_chroot: 18, sys_ptrace: 19, sys_pacct: 20,
  sys_admin: 21, sys_boot: 22, sys_nice: 23, sys_resource: 24, sys_time: 25, sys_tty_config: 26, mknod: 27,
  lease: 28, audit_write: 29, audit_control: 30, setfcap: 31, mac_override: 32, mac_admin: 33, syslog: 34,
  wake_alarm: 35, block_suspend: 36, audit_read: 37, perfmon: 38, bpf: 39, checkpoint_restore: 40,
};

/** One map slot before encoding: the rules sharing a (kind, target, source) key. */
export interface Slot {
  kind: RuleKind;
  ttype: number;
  /** The string compared in the kernel (path, 'dir/', base name) or '' for numbers. */
  text: string;
  /** The hashed value: FNV-1a 64 of text, or the protocol/capability number. */
  hash: bigint;
  source: string;
  ents: RuleEnt[];
}

export interface Unsupported {
  rule: ProfileRule;
  ruleId: number;
  reason: string;
}

export interface PodPlan {
  pod: PodValue;
  slots: Slot[];
  /** the names renames and links may not move (guardSlots) */
  guards: Slot[];
  /** distinct fromSource paths */
  sources: string[];
  /** rule_id → rule (process, file, network, capabilities order) */
  rules: ProfileRule[];
  unsupported: Unsupported[];
}

export interface EntryOptions {
  podId: number;
  gen: number;
  /** Container names in bit order (bit i = containers[i]); at most 31 get a bit. */
  containers: readonly string[];
  /** The mask of a container scope the kernel has not been told (struct ag_pod_head
   *  unknown_mask); default AG_EVERY. */
  unknownMask?: number;
  /** The user-namespace level of the pod's containers; default 0. */
  usernsLevel?: number;
}

function containerMask(rule: ProfileRule, containers: readonly string[]): number {
  if (rule.containers.length === 0) return AG_ALL_CONTAINERS;
  let m = 0;
  for (const name of rule.containers) {
    const i = containers.indexOf(name);
    if (i >= 0 && i < AG_MAX_CONTAINERS) m |= 1 << i;
  }
  return m >>> 0;
}

function flagsOf(rule: ProfileRule, recursive: boolean): number {
  return (rule.readOnly ? FLAG.readOnly : 0) | (rule.ownerOnly ? FLAG.ownerOnly : 0) | (recursive ? FLAG.recursive : 0);
}

/** The components of a path as the kernel's dentries name them: "/etc/ssl/" and "/etc/ssl"
 *  give ["etc", "ssl"], "/" gives []. */
function components(path: string): string[] {
  const parts = path.split('/');
  if (parts[0] === '') parts.shift();
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** The bucket and the two bits a component sets or tests (bpf/armorgate.h, struct ag_file_shape). */
function shapeBits(depth: number, name: string): { bucket: number; len: bigint; cell: bigint } {
  const bytes = Buffer.from(name, 'utf8');
  const head = Buffer.alloc(4);
  bytes.copy(head, 0, 0, Math.min(4, bytes.length));
  return {
    bucket: Math.min(depth, AG_SHAPE_DEPTHS - 1),
    len: 1n << BigInt(Math.min(bytes.length, 63)),
    cell: 1n << BigInt(nameCell(bytes.length, head.readUInt32LE(0))),
  };
}

/** Adds a file rule's target (exact path or directory) to the pod's file shape: its last
 *  component at its depth; a rule on "/" itself marks bucket 0 (every path may match). */
export function addToShape(shape: FileShape, target: string): void {
  const parts = components(target);
  if (parts.length === 0) { shape.len[0] = shape.len[0]! | 1n; return; }
  const b = shapeBits(parts.length, parts[parts.length - 1]!);
  shape.len[b.bucket] = shape.len[b.bucket]! | b.len;
  shape.name[b.bucket] = shape.name[b.bucket]! | b.cell;
}

/** The kernel's test (ag_shape_possible) on a resolved absolute path: false only when no
 *  component of the path matches the shape at its depth, i.e. no rule behind the shape can
 *  name the path, and the open is decided without resolving it. */
export function shapeAdmits(shape: FileShape, path: string): boolean {
  if (shape.len[0] !== 0n) return true;
  const parts = components(path);
  for (let i = 0; i < parts.length; i++) {
    const b = shapeBits(i + 1, parts[i]!);
    if ((shape.len[b.bucket]! & b.len) !== 0n && (shape.name[b.bucket]! & b.cell) !== 0n) return true;
  }
  return false;
}

/** The pod value and the slots of a profile (not yet encoded). */
export function planProfile(profile: Profile, o: EntryOptions): Result<PodPlan> {
  const pod: PodValue = {
    podId: o.podId, gen: o.gen,
    posture: [0, 0, 0, 0], hasSource: [0, 0, 0, 0], allowlist: [0, 0, 0, 0], hasBlock: [0, 0, 0, 0],
    dirmask: [0n, 0n], capmask: 0n, protomask: 0, exactmask: 0,
    unknownMask: o.unknownMask ?? AG_EVERY, usernsLevel: o.usernsLevel ?? 0, shape: emptyShape(),
  };
  const rules: ProfileRule[] = [];
  const unsupported: Unsupported[] = [];
  const slots = new Map<string, Slot>();
  const sources = new Map<bigint, string>();
  for (const kind of RULE_KINDS) {
    const k = KIND[kind];
    pod.posture[k] = profile.posture[kind] === 'block' ? ACTION.Block : ACTION.Audit;
    for (const rule of profile[kind]) {
      const ruleId = rules.length;
      rules.push(rule);
      const mask = containerMask(rule, o.containers);
      if (rule.action === 'Allow') pod.allowlist[k] = (pod.allowlist[k]! | mask) >>> 0;
      if (rule.action === 'Block') pod.hasBlock[k] = (pod.hasBlock[k]! | mask) >>> 0;
      const t = rule.target;
      let ttype: number;
      let text = '';
      let hash: bigint;
      let recursive = false;
      if (t.type === 'path' && (kind === 'process' || kind === 'file')) {
        ttype = TTYPE.path; text = t.path;
      } else if (t.type === 'directory' && (kind === 'process' || kind === 'file')) {
        ttype = TTYPE.dir; text = t.dir.endsWith('/') ? t.dir : t.dir + '/'; recursive = t.recursive;
      } else if (t.type === 'execname' && kind === 'process') {
        ttype = TTYPE.execname; text = t.name;
      } else if (t.type === 'protocol' && kind === 'network') {
        ttype = TTYPE.proto;
        const n = PROTO[t.protocol];
        if (n === undefined) { unsupported.push({ rule, ruleId, reason: `unknown protocol ${t.protocol}` }); continue; }
        hash = BigInt(n);
      } else if (t.type === 'capability' && kind === 'capabilities') {
        ttype = TTYPE.cap;
        const n = CAPABILITIES[t.capability.toLowerCase().replace(/^cap_/, '')];
        if (n === undefined) { unsupported.push({ rule, ruleId, reason: `unknown capability ${t.capability}` }); continue; }
        hash = BigInt(n);
      } else if (t.type === 'pattern') {
        unsupported.push({ rule, ruleId, reason: 'matchPatterns globs are not evaluated in the kernel' });
        continue;
      } else {
        unsupported.push({ rule, ruleId, reason: `target ${t.type} does not apply to ${kind} rules` });
        continue;
      }
      if (ttype !== TTYPE.proto && ttype !== TTYPE.cap) {
        if (Buffer.byteLength(text) >= AG_PATH_MAX - 1 || text === '') {
          unsupported.push({ rule, ruleId, reason: `target of ${Buffer.byteLength(text)} bytes does not fit the kernel's ${AG_PATH_MAX - 2}-byte path buffer` });
          continue;
        }
        hash = fnv1a64(text);
      }
      let srcHash = 0n;
      if (rule.fromSource !== '') {
        if (Buffer.byteLength(rule.fromSource) >= AG_PATH_MAX - 1) {
          unsupported.push({ rule, ruleId, reason: 'fromSource longer than the kernel path buffer' });
          continue;
        }
        srcHash = fnv1a64(rule.fromSource);
        const known = sources.get(srcHash);
        if (known !== undefined && known !== rule.fromSource) {
          return err('E_HASH_COLLISION', `fromSource ${JSON.stringify(rule.fromSource)} and ${JSON.stringify(known)} share a 64-bit hash`, `${kind}[${ruleId}]`);
        }
        sources.set(srcHash, rule.fromSource);
        pod.hasSource[k] = 1;
      }
      const id = `${k}/${ttype}/${hash!}/${srcHash}`;
      let slot = slots.get(id);
      if (slot === undefined) {
        slot = { kind, ttype, text, hash: hash!, source: rule.fromSource, ents: [] };
        slots.set(id, slot);
      } else if (slot.text !== text) {
        return err('E_HASH_COLLISION', `targets ${JSON.stringify(text)} and ${JSON.stringify(slot.text)} share a 64-bit hash`, `${kind}[${ruleId}]`);
      }
      if (slot.ents.length >= AG_MAX_ENT) {
        return err('E_TOO_MANY', `more than ${AG_MAX_ENT} ${kind} rules share the target ${JSON.stringify(text)}`, `${kind}[${ruleId}]`);
      }
      slot.ents.push({ ruleId, containers: mask, action: ACTION[rule.action], flags: flagsOf(rule, recursive) });
      // which lookups can hit (the kernel skips the others)
      if (kind === 'file' && (ttype === TTYPE.dir || ttype === TTYPE.path)) addToShape(pod.shape, text);
      if (ttype === TTYPE.dir) {
        const slashes = Math.min(63, [...text].filter((c) => c === '/').length);
        const i = kind === 'process' ? 0 : 1;
        pod.dirmask[i] = pod.dirmask[i]! | (1n << BigInt(slashes));
      } else if (ttype === TTYPE.path) {
        pod.exactmask |= kind === 'process' ? EXACT.procPath : EXACT.filePath;
      } else if (ttype === TTYPE.execname) {
        pod.exactmask |= EXACT.procName;
      } else if (ttype === TTYPE.cap) {
        if (hash! < 64n) pod.capmask |= 1n << hash!;
      } else if (ttype === TTYPE.proto) {
        pod.protomask |= 1 << Number(hash!);
      }
    }
  }
  const guards = guardSlots([...slots.values()]);
  if (guards.length > 0) pod.exactmask |= EXACT.guard;
  return ok({ pod, slots: [...slots.values()], guards, sources: [...sources.values()], rules, unsupported });
}

/**
 * The names a rename or a link may not take away from a Block or Audit rule of the pod
 * (TTYPE.guard, kind file): every directory above a process or file rule's target, and the
 * target itself. `mv /srv/data /srv/moved` would otherwise carry /srv/data/keys/k out from
 * under a rule on /srv/data/keys/, and `mv /usr/bin/apt-get /tmp/x` out from under a rule on
 * the program (a file rule's target itself is already checked by its rule). A directory is written with its trailing '/', a file without; the kernel looks
 * up the renamed (or linked) object's path both ways. One entry per name: the strongest
 * action, the containers of every rule behind it, the first rule's id for the alert.
 */
export function guardSlots(slots: readonly Slot[]): Slot[] {
  const out = new Map<string, Slot>();
  for (const s of slots) {
    if ((s.kind !== 'process' && s.kind !== 'file') || (s.ttype !== TTYPE.path && s.ttype !== TTYPE.dir)) continue;
    // a file rule's own target is a name its rule already checks on rename and link; a
    // program's is not (those are file operations)
    const names: string[] = s.kind === 'process' ? [s.text] : [];
    for (let i = s.text.indexOf('/', 1); i > 0 && i < s.text.length - 1; i = s.text.indexOf('/', i + 1)) names.push(s.text.slice(0, i + 1));
    for (const e of s.ents) {
      if (e.action === ACTION.Allow) continue;
      for (const text of names) {
        let g = out.get(text);
        if (g === undefined) {
          g = { kind: 'file', ttype: TTYPE.guard, text, hash: fnv1a64(text), source: '', ents: [{ ruleId: e.ruleId, containers: 0, action: e.action, flags: 0 }] };
          out.set(text, g);
        }
        const ent = g.ents[0]!;
        ent.containers = (ent.containers | e.containers) >>> 0;
        if (e.action > ent.action) { ent.action = e.action; ent.ruleId = e.ruleId; }
      }
    }
  }
  return [...out.values()];
}

export interface Encoded {
  key: Buffer;
  value: Buffer;
}

export interface PodEntries {
  plan: PodPlan;
  pod: Buffer;
  rules: Encoded[];
  sources: Encoded[];
}

export function slotKey(s: Slot, podId: number, gen: number): RuleKey {
  return { hash: s.hash, srcHash: s.source === '' ? 0n : fnv1a64(s.source), podId, gen, kind: KIND[s.kind], ttype: s.ttype };
}

/** The encoded map entries of a profile for one pod generation. */
export function profileEntries(profile: Profile, o: EntryOptions): Result<PodEntries> {
  const planned = planProfile(profile, o);
  if (!planned.ok) return planned;
  const plan = planned.value;
  return ok({
    plan,
    pod: encodePod(plan.pod),
    rules: [...plan.slots, ...plan.guards].map((s) => ({ key: encodeRuleKey(slotKey(s, o.podId, o.gen)), value: encodeRuleVal(s.text, s.ents) })),
    sources: plan.sources.map((src) => ({ key: encodeSrcKey(fnv1a64(src), o.podId, o.gen), value: encodePathVal(src) })),
  });
}
