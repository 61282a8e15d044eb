// Pattern rules → the kernel's automaton (bpf/pattern.h): one struct ag_dfa per pod
// generation and kind, built from policy/pattern-dfa.ts's table. Pure.
import { patternTable, reachableBest, type PatternTable } from '../../policy/pattern-dfa.ts';
import { ruleEntry } from '../../policy/kernel-limits.ts';
import type { ProfileRule, Result } from '../../policy/types.ts';
import { ACTION, AG_DFA, FLAG, KIND, LAYOUT } from './layout.ts';

/** One pattern rule as the kernel holds it. */
export interface PatternEnt {
  rule: ProfileRule;
  ruleId: number;
  pattern: string;
  containers: number;
  action: number;
  flags: number;
  /** fromSource hash under the generation's seed, 0n when none */
  srcHash: bigint;
}

function popcount(m: number): number {
  let n = 0;
  for (let x = m >>> 0; x !== 0; x &= x - 1) n++;
  return n;
}

/** The automaton and entry lists of one kind's pattern rules, or why they do not fit. */
export function planPatterns(kind: 'process' | 'file', ents: readonly PatternEnt[]): Result<PatternTable<PatternEnt>> {
  return patternTable(kind, ents, {
    pattern: (e) => e.pattern,
    source: (e) => e.rule.fromSource,
    entry: (e) => ruleEntry(e.rule),
    covers: (b, a) => ((b.containers & a.containers) >>> 0) === (a.containers >>> 0),
    breadth: (e) => popcount(e.containers),
  });
}

/** struct ag_pat_key */
export function encodePatKey(podId: number, gen: number, kind: 'process' | 'file'): Buffer {
  const b = Buffer.alloc(LAYOUT.ag_pat_key.size);
  const f = LAYOUT.ag_pat_key.fields;
  b.writeUInt32LE(podId >>> 0, f.pod_id);
  b.writeUInt32LE(gen >>> 0, f.gen);
  b.writeUInt32LE(KIND[kind], f.kind);
  return b;
}

/** A Block entry of `list` (the first), else an Audit one, else -1: the entry a rename that
 *  would carry a name out of this state's reach reports (guardOf). */
function guardIndex(list: readonly PatternEnt[]): number {
  const b = list.findIndex((e) => e.action === ACTION.Block);
  return b >= 0 ? b : list.findIndex((e) => e.action === ACTION.Audit);
}

/**
 * Per state, the pattern entry a directory whose path + "/" ends there is guarded by: a Block
 * entry of a state reachable from it (the directory may hold, at any depth, a name some Block
 * pattern matches), else an Audit one; null when none is reachable. A rename that moves such a
 * directory to a path ending in another state is refused (bpf/armorgate.bpf.c ag_pat_moved):
 * in the same state, every name beneath keeps its verdicts.
 */
export function guardOf(t: PatternTable<PatternEnt>): (PatternEnt | null)[] {
  const score = (st: number): number => {
    const g = guardIndex(t.hits[st] ?? []);
    return g < 0 ? 0 : t.hits[st]![g]!.action === ACTION.Block ? 2 : 1;
  };
  const best = reachableBest(t.dfa, score);
  return Array.from(best, (b) => (b < 0 ? null : t.hits[b]![guardIndex(t.hits[b]!)]!));
}

/** struct ag_dfa of a table (its bounds were checked by patternTable). */
export function encodeDfa(t: PatternTable<PatternEnt>): Buffer {
  const L = LAYOUT.ag_dfa.fields;
  const E = LAYOUT.ag_pat_ent;
  const R = LAYOUT.ag_rule_ent.fields;
  const b = Buffer.alloc(LAYOUT.ag_dfa.size);
  const d = t.dfa;
  if (d.nstates > AG_DFA.states || d.cells.length > AG_DFA.cells) throw new RangeError('automaton past the kernel bounds');
  b.writeUInt32LE(d.start, L.start);
  b.writeUInt32LE(d.ncls, L.ncls);
  b.writeUInt32LE(AG_DFA.abi, L.abi);
  Buffer.from(d.classOf).copy(b, L.cls);
  const first = new Map<PatternEnt[], number>();
  const index = new Map<PatternEnt, number>();
  let n = 0;
  t.hits.forEach((list, st) => {
    if (list.length === 0) return;
    let at = first.get(list);
    if (at === undefined) {
      at = n;
      first.set(list, at);
      for (const e of list) {
        if (n >= AG_DFA.ents) throw new RangeError('pattern entries past the kernel bounds');
        const o = L.ent + n * E.size;
        b.writeBigUInt64LE(e.srcHash, o + E.fields.src_hash);
        b.writeUInt32LE(e.ruleId >>> 0, o + E.fields.e + R.rule_id);
        b.writeUInt32LE(e.containers >>> 0, o + E.fields.e + R.containers);
        b.writeUInt8(e.action, o + E.fields.e + R.action);
        b.writeUInt8(e.flags | FLAG.valid, o + E.fields.e + R.flags);
        index.set(e, n);
        n++;
      }
    }
    b.writeUInt32LE(((list.length << 16) | at) >>> 0, L.acc + 4 * st);
  });
  // bits 21-31 of acc: 1 + the entry of the state's guard (guardOf), 0 when none
  guardOf(t).forEach((g, st) => {
    if (g === null) return;
    const at = index.get(g);
    if (at === undefined) throw new RangeError('a guard entry that was not written');
    const o = L.acc + 4 * st;
    b.writeUInt32LE((b.readUInt32LE(o) | ((at + 1) << AG_DFA.accGuardShift)) >>> 0, o);
  });
  for (let st = 0; st < d.nstates; st++) {
    b.writeUInt16LE(d.base[st]!, L.base + 2 * st);
    b.writeUInt16LE(d.dflt[st]!, L.dflt + 2 * st);
  }
  for (let i = 0; i < d.cells.length; i++) b.writeUInt32LE(d.cells[i]!, L.cell + 4 * i);
  // literal runs: the 8 bytes in order (the kernel's little-endian load reads them as one value)
  const lits = d.lits;
  if (lits.count > AG_DFA.lits) throw new RangeError('literal runs past the kernel bounds');
  Buffer.from(lits.bytes.buffer, lits.bytes.byteOffset, lits.count * AG_DFA.litLen).copy(b, L.lit);
  for (let st = 0; st < d.nstates; st++) b.writeUInt16LE(lits.idx[st]!, L.litidx + 2 * st);
  for (let i = 0; i < lits.count; i++) b.writeUInt16LE(lits.next[i]!, L.litnext + 2 * i);
  return b;
}

