// The kernel side's limits on what one pod's profile may hold (bpf/armorgate.h), as the policy
// core checks them: when a policy is validated (policy/validate.ts) and when a profile is
// compiled across policies (policy/compile.ts), so that what the gateway signs the enforcer
// can load. The enforcer (enforcer/kernel/entries.ts) groups and merges rule entries with
// the same functions; test/kernel/entries.test.ts checks these numbers against layout.ts.
import type { Action, ProfileRule, RuleKind, Target } from './types.ts';

export const KERNEL_LIMITS = {
  /** AG_MAX_ENT: rule entries in one map slot, i.e. rules sharing one (kind, target, fromSource) key */
  rulesPerKey: 8,
  /** The longest target string the kernel can match, in UTF-8 bytes (a directory with its
   *  trailing '/'): AG_PATH_MAX 512 less the NUL and the two bytes ag_match_path keeps free
   *  (paths of AG_PATH_MAX - 2 bytes or more are never compared) */
  pathBytes: 509,
  /** The longest fromSource path (compared against the executable's full path) */
  sourceBytes: 509,
  /** Rules in one pod's profile: what the enforcer verifies and loads in well under a second
   *  on a node (measured in the VM tests, test/vm/scenarios/kernel-limits.ts). A signed profile
   *  past it is loaded in part (the strongest rules first) and the rest reported. */
  rulesPerProfile: 512,
  /** AG_DFA_STATES: states of one kind's pattern automaton (bpf/pattern.h), dead state included */
  patternStates: 4096,
  /** AG_DFA_CELLS: its transition table, packed (policy/pattern-dfa.ts packTable): about the
   *  number of transitions other than each state's default */
  patternCells: 16384,
  /** AG_DFA_ENTS: rule entries over all of its accepting states (identical lists shared) */
  patternEntries: 1024,
  /** AG_DFA_HITS: rule entries one accepting state holds (the rules of every pattern that
   *  matches a path ending there, after merging the overruled ones) */
  patternHits: 16,
  /** AG_DFA_LITS: entries of its literal-run table (policy/pattern-dfa.ts literalRuns), entry 0
   *  unused. Not a limit on policies: states without a run are walked byte by byte. */
  patternLiterals: 1024,
} as const;

/** The string of a rule's target the kernel stores and compares, by key type; null for
 *  targets the kernel does not hold (patterns) or that do not apply to the kind. */
export function kernelTarget(kind: RuleKind, t: Target): { type: 'path' | 'dir' | 'execname' | 'protocol' | 'capability'; text: string } | null {
  if (t.type === 'path' && (kind === 'process' || kind === 'file')) return { type: 'path', text: t.path };
  if (t.type === 'directory' && (kind === 'process' || kind === 'file')) return { type: 'dir', text: t.dir.endsWith('/') ? t.dir : t.dir + '/' };
  if (t.type === 'execname' && kind === 'process') return { type: 'execname', text: t.name };
  if (t.type === 'protocol' && kind === 'network') return { type: 'protocol', text: t.protocol };
  if (t.type === 'capability' && kind === 'capabilities') return { type: 'capability', text: t.capability.toLowerCase().replace(/^cap_/, '') };
  return null;
}

/** The map slot a rule goes to: one string per (kind, target, fromSource); null when none. */
export function slotId(kind: RuleKind, rule: Pick<ProfileRule, 'target' | 'fromSource'>): string | null {
  const t = kernelTarget(kind, rule.target);
  return t === null ? null : JSON.stringify([kind, t.type, t.text, rule.fromSource]);
}

const RANK: Record<Action, number> = { Allow: 1, Audit: 2, Block: 3 };

/** What decides whether an entry of a slot wins a check (bpf: qualifies(), then the highest
 *  action at equal rank). */
export interface SlotEntry {
  action: Action;
  readOnly: boolean;
  ownerOnly: boolean;
  recursive: boolean;
}

/** Whether `a` can never decide a check while `b` is in the same slot: b applies wherever a
 *  does (`bCoversA`: b's containers include a's), qualifies exactly when a does (the same
 *  flags; with readOnly (file) or ownerOnly set, Allow and Audit/Block qualify on opposite
 *  accesses, so only entries on the same side of that line), and its action is at least a's
 *  (Block beats Audit beats Allow at equal rank). Dropping such an `a` leaves every verdict
 *  as it was: only the winning action matters. */
export function dominates(kind: RuleKind, b: SlotEntry, a: SlotEntry, bCoversA: boolean): boolean {
  if (!bCoversA || a.recursive !== b.recursive || a.ownerOnly !== b.ownerOnly) return false;
  const ro = kind === 'file';
  if (ro && a.readOnly !== b.readOnly) return false;
  if (RANK[b.action] < RANK[a.action]) return false;
  if ((a.ownerOnly || (ro && a.readOnly)) && (a.action === 'Allow') !== (b.action === 'Allow')) return false;
  return true;
}

/** The entries of one slot that can decide something, in the order they are kept: strongest
 *  action first, then widest containers (`breadth`); an entry dominated by one kept before it
 *  is dropped. Returns the indexes kept. */
export function mergeSlot<T>(kind: RuleKind, ents: readonly T[], view: (e: T) => SlotEntry, covers: (b: T, a: T) => boolean, breadth: (e: T) => number): number[] {
  const order = ents.map((_, i) => i).sort((x, y) =>
    RANK[view(ents[y]!).action] - RANK[view(ents[x]!).action] || breadth(ents[y]!) - breadth(ents[x]!) || x - y);
  const kept: number[] = [];
  for (const i of order) {
    const a = ents[i]!;
    if (kept.some((k) => dominates(kind, view(ents[k]!), view(a), covers(ents[k]!, a)))) continue;
    kept.push(i);
  }
  return kept;
}

/** A profile rule's view for mergeSlot. */
export function ruleEntry(r: ProfileRule): SlotEntry {
  return { action: r.action, readOnly: r.readOnly, ownerOnly: r.ownerOnly, recursive: r.target.type === 'directory' && r.target.recursive };
}

/** Whether rule b applies to every container rule a applies to (by name; [] = every container). */
export function containersCover(b: readonly string[], a: readonly string[]): boolean {
  if (b.length === 0) return true;
  if (a.length === 0) return false;
  return a.every((n) => b.includes(n));
}

/** Canonical form of an absolute path (`dir` false) or directory (`dir` true, kept ending in
 *  `/`) as the kernel names it: `//` → `/`, `/./` → `/`, a trailing `/.` dropped. `dotdot`:
 *  a `..` component is left in (never resolved: symlinks make it ambiguous). */
export function canonicalPath(p: string, dir: boolean): { path: string; dotdot: boolean } {
  if (!p.startsWith('/')) return { path: p, dotdot: false };
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  const body = '/' + parts.join('/');
  return { path: dir && body !== '/' ? body + '/' : body, dotdot: parts.includes('..') };
}

/** UTF-8 byte length. */
export function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
