// profile → map entries: the pure translation of a compiled profile into the
// pods/rules/sources map contents the BPF programs read (bpf/armorgate.h).
// Deterministic, no I/O; tested on the host against policy/decide.ts.
import { randomBytes } from 'node:crypto';
import { KERNEL_LIMITS, kernelTarget, mergeSlot, ruleEntry } from '../../policy/kernel-limits.ts';
import type { Profile, ProfileRule, Result, RuleKind } from '../../policy/types.ts';
import { ok, RULE_KINDS } from '../../policy/types.ts';
import {
  ACTION, AG_ALL_CONTAINERS, AG_EVERY, EXACT, LAYOUT, AG_MAX_CONTAINERS, AG_MAX_ENT, AG_SHAPE_DEPTHS, FLAG, KIND, PROTO, TTYPE,
  addToHashmask, emptyShape, encodePathVal, encodePod, encodeRuleKey, encodeRuleVal, encodeSrcKey, pathHash, nameCell,
  type FileShape, type PodValue, type RuleEnt, type RuleKey,
} from './layout.ts';
import { literalDir, type PatternTable } from '../../policy/pattern-dfa.ts';
import { encodeDfa, encodePatKey, planPatterns, type PatternEnt } from './patterns.ts';

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
  /** The hashed value: pathHash of text from the generation's seed, or the protocol/capability number. */
  hash: bigint;
  source: string;
  /** pathHash of source from the seed, 0n when none */
  srcHash: bigint;
  ents: RuleEnt[];
}

/** Why a rule of the profile is not in force:
 *  E_PATTERN     the kind's matchPatterns do not fit the kernel's automaton (bpf/pattern.h)
 *  E_TARGET      a target the kind cannot use, an unknown protocol or capability name
 *  E_TOO_LONG    a target or fromSource longer than the kernel compares
 *  E_TOO_MANY    more rules that each decide something on one slot than it holds (AG_MAX_ENT)
 *  E_HASH_COLLISION  two targets or sources hash alike under every seed tried
 *  E_MAP_FULL    the kernel map had no room for its entry (enforcer/kernel/index.ts)
 *  E_CONTAINERS  it names only containers of the pod past the 31 the kernel tells apart */
export type UnsupportedCode = 'E_PATTERN' | 'E_TARGET' | 'E_TOO_LONG' | 'E_TOO_MANY' | 'E_HASH_COLLISION' | 'E_MAP_FULL' | 'E_CONTAINERS';

export interface Unsupported {
  rule: ProfileRule;
  ruleId: number;
  code: UnsupportedCode;
  reason: string;
}

export interface PodPlan {
  pod: PodValue;
  slots: Slot[];
  /** the names renames and links may not move (guardSlots), hashed under pod.seed */
  guards: Slot[];
  /** distinct fromSource paths, with their hash under pod.seed */
  sources: { path: string; hash: bigint }[];
  /** rule_id → rule (process, file, network, capabilities order) */
  rules: ProfileRule[];
  unsupported: Unsupported[];
  /** rules left out of their slot because a stronger or equal rule of the slot decides every
   *  access they would (same flags, containers covered): enforced in effect */
  merged: number;
  /** seeds tried before one gave no collision (1: the first) */
  seedTries: number;
  /** the pattern automata (bpf/pattern.h), one per kind that has pattern rules in force */
  patterns: { kind: 'process' | 'file'; table: PatternTable<PatternEnt> }[];
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
  /** Seeds of the hash, one per try (a collision under one seed takes the next); random
   *  64-bit seeds when not given (tests pass their own). */
  seeds?: () => bigint;
  /** The hash (tests): pathHash from the seed by default. */
  hash?: (s: string, seed: bigint) => bigint;
}

/** Seeds tried before the rules that still collide are left out (each try collides with a
 *  probability of about n^2 / 2^64 for n strings: a second try is already never seen). */
export const SEED_TRIES = 4;

export function randomSeed(): bigint {
  return randomBytes(8).readBigUInt64LE(0);
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

/** A rule before it is given its slot. */
interface Planned {
  rule: ProfileRule;
  ruleId: number;
  kind: RuleKind;
  ttype: number;
  text: string;
  /** protocol or capability number; -1 for strings */
  num: number;
  mask: number;
  recursive: boolean;
}

function popcount(m: number): number {
  let n = 0;
  for (let x = m >>> 0; x !== 0; x &= x - 1) n++;
  return n;
}

/** The pod value and the slots of a profile (not yet encoded). Never fails: what cannot be
 *  loaded is listed in `unsupported` with its code, and the rest is planned. */
export function planProfile(profile: Profile, o: EntryOptions): Result<PodPlan> {
  const pod: PodValue = {
    podId: o.podId, gen: o.gen,
    posture: [0, 0, 0, 0], hasSource: [0, 0, 0, 0], allowlist: [0, 0, 0, 0], hasBlock: [0, 0, 0, 0],
    dirmask: [0n, 0n], capmask: 0n, protomask: 0, exactmask: 0, hashmask: [[0n, 0n, 0n, 0n], [0n, 0n, 0n, 0n]],
    unknownMask: o.unknownMask ?? AG_EVERY, usernsLevel: o.usernsLevel ?? 0, seed: 0n, shape: emptyShape(),
  };
  const rules: ProfileRule[] = [];
  const unsupported: Unsupported[] = [];
  const planned: Planned[] = [];
  const patternRules: Planned[] = [];
  for (const kind of RULE_KINDS) {
    const k = KIND[kind];
    pod.posture[k] = profile.posture[kind] === 'block' ? ACTION.Block : ACTION.Audit;
    for (const rule of profile[kind]) {
      const ruleId = rules.length;
      rules.push(rule);
      const mask = containerMask(rule, o.containers);
      // every rule counts here, loaded or not: an Allow that cannot load keeps the kind an
      // allow-list (fail-closed), a Block that cannot load still denies unresolvable paths
      if (rule.action === 'Allow') pod.allowlist[k] = (pod.allowlist[k]! | mask) >>> 0;
      if (rule.action === 'Block') pod.hasBlock[k] = (pod.hasBlock[k]! | mask) >>> 0;
      const no = (code: UnsupportedCode, reason: string): void => { unsupported.push({ rule, ruleId, code, reason }); };
      if (mask === 0 && rule.containers.some((c) => o.containers.indexOf(c) >= AG_MAX_CONTAINERS)) {
        no('E_CONTAINERS', `names only containers past the first ${AG_MAX_CONTAINERS} of the pod, which the kernel does not tell apart`);
        continue;
      }
      const t = rule.target;
      if (t.type === 'pattern' && (kind === 'process' || kind === 'file')) {
        if (rule.fromSource !== '' && Buffer.byteLength(rule.fromSource) > KERNEL_LIMITS.sourceBytes) {
          no('E_TOO_LONG', `fromSource of ${Buffer.byteLength(rule.fromSource)} bytes: the kernel compares at most ${KERNEL_LIMITS.sourceBytes}`);
          continue;
        }
        patternRules.push({ rule, ruleId, kind, ttype: 0, text: t.pattern, num: -1, mask, recursive: false });
        continue;
      }
      const kt = kernelTarget(kind, t);
      if (kt === null) { no('E_TARGET', `target ${t.type} does not apply to ${kind} rules`); continue; }
      let ttype: number;
      let num = -1;
      if (kt.type === 'protocol') {
        ttype = TTYPE.proto;
        const n = PROTO[kt.text];
        if (n === undefined) { no('E_TARGET', `unknown protocol ${kt.text}`); continue; }
        num = n;
      } else if (kt.type === 'capability') {
        ttype = TTYPE.cap;
        const n = CAPABILITIES[kt.text];
        if (n === undefined) { no('E_TARGET', `unknown capability ${kt.text}`); continue; }
        num = n;
      } else {
        ttype = kt.type === 'path' ? TTYPE.path : kt.type === 'dir' ? TTYPE.dir : TTYPE.execname;
        const n = Buffer.byteLength(kt.text);
        if (n > KERNEL_LIMITS.pathBytes || kt.text === '') { no('E_TOO_LONG', `target of ${n} bytes: the kernel compares at most ${KERNEL_LIMITS.pathBytes}`); continue; }
      }
      if (rule.fromSource !== '' && Buffer.byteLength(rule.fromSource) > KERNEL_LIMITS.sourceBytes) {
        no('E_TOO_LONG', `fromSource of ${Buffer.byteLength(rule.fromSource)} bytes: the kernel compares at most ${KERNEL_LIMITS.sourceBytes}`);
        continue;
      }
      planned.push({ rule, ruleId, kind, ttype, text: num >= 0 ? '' : kt.text, num, mask, recursive: t.type === 'directory' && t.recursive });
    }
  }
  // a signed profile past the rules a profile may hold (the compiler refuses such profiles): the
  // strongest load (Block, then Audit, then Allow: an Allow left out keeps its allow-list), the
  // rest is reported, so the load stays bounded
  if (planned.length > KERNEL_LIMITS.rulesPerProfile) {
    const rank = { Block: 0, Audit: 1, Allow: 2 } as const;
    planned.sort((a, b) => rank[a.rule.action] - rank[b.rule.action] || a.ruleId - b.ruleId);
    for (const p of planned.splice(KERNEL_LIMITS.rulesPerProfile)) {
      unsupported.push({ rule: p.rule, ruleId: p.ruleId, code: 'E_TOO_MANY', reason: `the profile has more rules than a pod's profile may hold (${KERNEL_LIMITS.rulesPerProfile}): the weakest are left out` });
    }
  }
  // slots by string: the seed only decides the hashes
  // (nested maps: the strings' own cached hashes, no concatenated key per rule)
  const byId = new Map<string, Map<string, Planned[]>>();
  const groups: Planned[][] = [];
  for (const p of planned) {
    const id = `${p.kind}/${p.ttype}/${p.rule.fromSource}`;
    let byText = byId.get(id);
    if (byText === undefined) byId.set(id, (byText = new Map()));
    const text = p.num >= 0 ? String(p.num) : p.text;
    let list = byText.get(text);
    if (list === undefined) { byText.set(text, (list = [])); groups.push(list); }
    list.push(p);
  }
  // seeds: the first without a collision; after SEED_TRIES, the colliding slots are left out
  const hash = o.hash ?? pathHash;
  const nextSeed = o.seeds ?? randomSeed;
  let seed: bigint;
  let tries = 0;
  let c: Hashed;
  for (;;) {
    seed = BigInt.asUintN(64, nextSeed());
    tries++;
    c = collisions(groups, seed, hash);
    if (c.bad.size === 0 || tries >= SEED_TRIES) break;
  }
  const bad = c.bad;
  pod.seed = seed;
  const slots: Slot[] = [];
  const sources = new Map<string, bigint>();
  let merged = 0;
  for (const g of groups) {
    const first = g[0]!;
    if (bad.has(g)) {
      for (const p of g) unsupported.push({ rule: p.rule, ruleId: p.ruleId, code: 'E_HASH_COLLISION', reason: `its target or fromSource hashes like another under ${SEED_TRIES} random seeds` });
      continue;
    }
    const k = KIND[first.kind];
    // only the winning action matters: entries dominated by another of the slot go; what is
    // still more than the slot holds is left out weakest first (a Block stays in force)
    const kept = mergeSlot(first.kind, g, (p) => ruleEntry(p.rule), (b, a) => ((b.mask & a.mask) >>> 0) === (a.mask >>> 0), (p) => popcount(p.mask));
    merged += g.length - kept.length;
    for (const i of kept.slice(AG_MAX_ENT)) {
      const p = g[i]!;
      unsupported.push({ rule: p.rule, ruleId: p.ruleId, code: 'E_TOO_MANY', reason: `${kept.length} rules that each decide something share the ${first.kind} target ${JSON.stringify(first.text || String(first.num))}${first.rule.fromSource === '' ? '' : ` from ${JSON.stringify(first.rule.fromSource)}`}: the kernel holds ${AG_MAX_ENT}, the weakest are left out` });
    }
    const ents = kept.slice(0, AG_MAX_ENT).map((i) => g[i]!);
    const src = first.rule.fromSource;
    const srcHash = src === '' ? 0n : c.src.get(src)!;
    if (src !== '') { sources.set(src, srcHash); pod.hasSource[k] = 1; }
    const h = first.num >= 0 ? BigInt(first.num) : c.target.get(g)!;
    slots.push({
      kind: first.kind, ttype: first.ttype, text: first.text, hash: h, source: src, srcHash,
      ents: ents.map((p) => ({ ruleId: p.ruleId, containers: p.mask, action: ACTION[p.rule.action], flags: flagsOf(p.rule, p.recursive) })),
    });
    // which lookups can hit (the kernel skips the others)
    const text = first.text;
    if (first.kind === 'file' && (first.ttype === TTYPE.dir || first.ttype === TTYPE.path)) addToShape(pod.shape, text);
    if (first.ttype === TTYPE.dir || first.ttype === TTYPE.path || first.ttype === TTYPE.execname) addToHashmask(pod.hashmask[first.kind === 'process' ? 0 : 1]!, h);
    if (first.ttype === TTYPE.dir) {
      let slashes = 0;
      for (let i = text.indexOf('/'); i >= 0 && slashes < 63; i = text.indexOf('/', i + 1)) slashes++;
      const i = first.kind === 'process' ? 0 : 1;
      pod.dirmask[i] = pod.dirmask[i]! | (1n << BigInt(slashes));
    } else if (first.ttype === TTYPE.path) {
      pod.exactmask |= first.kind === 'process' ? EXACT.procPath : EXACT.filePath;
    } else if (first.ttype === TTYPE.execname) {
      pod.exactmask |= EXACT.procName;
    } else if (first.ttype === TTYPE.cap) {
      if (first.num < 64) pod.capmask |= 1n << BigInt(first.num);
    } else if (first.ttype === TTYPE.proto) {
      pod.protomask |= 1 << first.num;
    }
  }
  const patterns = planPatternKinds(patternRules, seed, hash, c.src, sources, pod, unsupported);
  // a Block or Audit pattern's literal directory (and those above it) may not be renamed away
  // either: written as a process path slot, whose own text guardSlots guards too
  const patGuards: Slot[] = patterns.flatMap((p) => p.table.hits.flat()).filter((e) => e.action !== ACTION.Allow && literalDir(e.pattern) !== '/')
    .map((e) => ({ kind: 'process', ttype: TTYPE.path, text: literalDir(e.pattern), hash: 0n, source: '', srcHash: 0n, ents: [{ ruleId: e.ruleId, containers: e.containers, action: e.action, flags: 0 }] }));
  const guards = guardSlots(patGuards.length === 0 ? slots : [...slots, ...patGuards], seed, hash, unsupported, rules);
  if (guards.length > 0) pod.exactmask |= EXACT.guard;
  unsupported.sort((a, b) => a.ruleId - b.ruleId);
  return ok({ pod, slots, guards, sources: [...sources].map(([path, h]) => ({ path, hash: h })), rules, unsupported, merged, seedTries: tries, patterns });
}

/** The automaton of each kind's pattern rules (bpf/pattern.h). Their sources join the
 *  generation's (a source hashing like another one is left out, E_HASH_COLLISION); a kind whose
 *  patterns do not fit has them all reported (E_PATTERN) and keeps its allow-list and Block
 *  marks, so that it fails closed. The file shape gets each pattern's literal directory. */
function planPatternKinds(list: readonly Planned[], seed: bigint, hash: (s: string, seed: bigint) => bigint, known: ReadonlyMap<string, bigint>,
  sources: Map<string, bigint>, pod: PodValue, unsupported: Unsupported[]): { kind: 'process' | 'file'; table: PatternTable<PatternEnt> }[] {
  const out: { kind: 'process' | 'file'; table: PatternTable<PatternEnt> }[] = [];
  const srcByHash = new Map<bigint, string>();
  for (const [src, h] of known) srcByHash.set(h, src);
  for (const kind of ['process', 'file'] as const) {
    const ents: PatternEnt[] = [];
    for (const p of list) {
      if (p.kind !== kind) continue;
      const src = p.rule.fromSource;
      let srcHash = 0n;
      if (src !== '') {
        srcHash = sources.get(src) ?? hash(src, seed);
        const other = srcByHash.get(srcHash);
        if (other !== undefined && other !== src) {
          unsupported.push({ rule: p.rule, ruleId: p.ruleId, code: 'E_HASH_COLLISION', reason: `its fromSource hashes like ${JSON.stringify(other)}` });
          continue;
        }
        srcByHash.set(srcHash, src);
      }
      ents.push({ rule: p.rule, ruleId: p.ruleId, pattern: p.text, containers: p.mask, action: ACTION[p.rule.action], flags: flagsOf(p.rule, false), srcHash });
    }
    if (ents.length === 0) continue;
    const t = planPatterns(kind, ents);
    if (!t.ok) {
      for (const e of ents) unsupported.push({ rule: e.rule, ruleId: e.ruleId, code: 'E_PATTERN', reason: `the ${kind} patterns do not fit the kernel's automaton: ${t.error.message}` });
      continue;
    }
    const k = KIND[kind];
    for (const e of ents) {
      if (e.srcHash !== 0n) { sources.set(e.rule.fromSource, e.srcHash); pod.hasSource[k] = 1; }
      if (kind === 'file') addToShape(pod.shape, literalDir(e.pattern));
    }
    pod.exactmask |= kind === 'process' ? EXACT.procPat : EXACT.filePat;
    out.push({ kind, table: t.value });
  }
  return out;
}

/**
 * The names a rename or a link may not take away from a Block or Audit rule of the pod
 * (TTYPE.guard, kind file): every directory above a process or file rule's target, and a
 * process rule's target itself. `mv /srv/data /srv/moved` would otherwise carry
 * /srv/data/keys/k out from under a rule on /srv/data/keys/, and `mv /usr/bin/apt-get /tmp/x`
 * out from under a rule on the program (a file rule's own target is already checked by its
 * rule on rename and link). A directory is written with its trailing '/', a file without; the
 * kernel looks the renamed (or linked) object's path up both ways. One entry per name: the
 * strongest action, the containers of every rule behind it, that action's first rule's id for
 * the alert. Two names that hash alike under the seed (about 2^-64 a pair) are both left out
 * and their rules reported (E_HASH_COLLISION).
 */
export function guardSlots(slots: readonly Slot[], seed: bigint, hash: (s: string, seed: bigint) => bigint = pathHash,
  unsupported: Unsupported[] = [], rules: readonly ProfileRule[] = []): Slot[] {
  const out = new Map<string, Slot>();
  for (const s of slots) {
    if ((s.kind !== 'process' && s.kind !== 'file') || (s.ttype !== TTYPE.path && s.ttype !== TTYPE.dir)) continue;
    const names: string[] = s.kind === 'process' ? [s.text] : [];
    for (let i = s.text.indexOf('/', 1); i > 0 && i < s.text.length - 1; i = s.text.indexOf('/', i + 1)) names.push(s.text.slice(0, i + 1));
    for (const e of s.ents) {
      if (e.action === ACTION.Allow) continue;
      for (const text of names) {
        let g = out.get(text);
        if (g === undefined) {
          g = { kind: 'file', ttype: TTYPE.guard, text, hash: 0n, source: '', srcHash: 0n, ents: [{ ruleId: e.ruleId, containers: 0, action: e.action, flags: 0 }] };
          out.set(text, g);
        }
        const ent = g.ents[0]!;
        ent.containers = (ent.containers | e.containers) >>> 0;
        if (e.action > ent.action) { ent.action = e.action; ent.ruleId = e.ruleId; }
      }
    }
  }
  const byHash = new Map<bigint, Slot>();
  const bad = new Set<Slot>();
  for (const g of out.values()) {
    g.hash = hash(g.text, seed);
    const other = byHash.get(g.hash);
    if (other !== undefined) { bad.add(g); bad.add(other); } else byHash.set(g.hash, g);
  }
  for (const g of bad) {
    const ruleId = g.ents[0]!.ruleId;
    unsupported.push({ rule: rules[ruleId]!, ruleId, code: 'E_HASH_COLLISION', reason: `the guard of ${JSON.stringify(g.text)} (renames may not move it) hashes like another` });
  }
  return [...out.values()].filter((g) => !bad.has(g));
}

/** The slot groups whose key collides with another's under `seed`: the same (kind, type,
 *  hash, source hash) for different strings, or two sources of the same hash. Collisions
 *  between a slot and its own kind are all that matter (the kind and type are in the key). */
interface Hashed {
  bad: Set<Planned[]>;
  /** hash of each source, each group's target */
  src: Map<string, bigint>;
  target: Map<Planned[], bigint>;
}

function collisions(groups: readonly Planned[][], seed: bigint, hash: (s: string, seed: bigint) => bigint): Hashed {
  const bad = new Set<Planned[]>();
  const target = new Map<Planned[], bigint>();
  const srcOf = new Map<bigint, string>();
  const srcHash = new Map<string, bigint>();
  for (const g of groups) {
    const s = g[0]!.rule.fromSource;
    if (s === '' || srcHash.has(s)) continue;
    const h = hash(s, seed);
    srcHash.set(s, h);
    const known = srcOf.get(h);
    if (known !== undefined && known !== s) {
      for (const x of groups) if (x[0]!.rule.fromSource === s || x[0]!.rule.fromSource === known) bad.add(x);
    } else srcOf.set(h, s);
  }
  const seen = new Map<string, Planned[]>();
  for (const g of groups) {
    const p = g[0]!;
    if (p.num >= 0) continue;
    const h = hash(p.text, seed);
    target.set(g, h);
    const id = `${p.kind}/${p.ttype}/${h}/${p.rule.fromSource === '' ? 0n : srcHash.get(p.rule.fromSource)}`;
    const other = seen.get(id);
    if (other !== undefined) { bad.add(g); bad.add(other); } else seen.set(id, g);
  }
  return { bad, src: srcHash, target };
}

export interface Encoded {
  key: Buffer;
  value: Buffer;
}

export interface PodEntries {
  plan: PodPlan;
  pod: Buffer;
  rules: Encoded[];
  /** the slot of each rules entry (same order) */
  slots: Slot[];
  sources: Encoded[];
  /** the fromSource path of each sources entry (same order) */
  sourcePaths: string[];
  /** the pattern automata (patterns map), one per kind with pattern rules in force */
  patterns: (Encoded & { kind: 'process' | 'file' })[];
}

export function slotKey(s: Slot, podId: number, gen: number): RuleKey {
  return { hash: s.hash, srcHash: s.srcHash, podId, gen, kind: KIND[s.kind], ttype: s.ttype };
}

/** The encoded map entries of a profile for one pod generation. */
export function profileEntries(profile: Profile, o: EntryOptions): Result<PodEntries> {
  const planned = planProfile(profile, o);
  if (!planned.ok) return planned;
  const plan = planned.value;
  // keys and values in one buffer each; the entries are views into them
  const all = plan.guards.length === 0 ? plan.slots : [...plan.slots, ...plan.guards];
  const n = all.length;
  const ks = LAYOUT.ag_rule_key.size;
  const vs = LAYOUT.ag_rule_val.size;
  const keys = Buffer.alloc(n * ks);
  const vals = Buffer.alloc(n * vs);
  const rules: Encoded[] = new Array<Encoded>(n);
  for (let i = 0; i < n; i++) {
    const s = all[i]!;
    encodeRuleKey(slotKey(s, o.podId, o.gen), keys, i * ks);
    encodeRuleVal(s.text, s.ents, vals, i * vs);
    rules[i] = { key: keys.subarray(i * ks, (i + 1) * ks), value: vals.subarray(i * vs, (i + 1) * vs) };
  }
  return ok({
    plan,
    pod: encodePod(plan.pod),
    rules,
    slots: all,
    sources: plan.sources.map((src) => ({ key: encodeSrcKey(src.hash, o.podId, o.gen), value: encodePathVal(src.path) })),
    sourcePaths: plan.sources.map((src) => src.path),
    patterns: plan.patterns.map((p) => ({ kind: p.kind, key: encodePatKey(o.podId, o.gen, p.kind), value: encodeDfa(p.table) })),
  });
}
