// Pattern rules → the kernel's automaton (bpf/pattern.h): one struct ag_dfa per pod
// generation and kind, built from policy/pattern-dfa.ts's table. Pure.
import { patternTable, type PatternTable } from '../../policy/pattern-dfa.ts';
import { ruleEntry } from '../../policy/kernel-limits.ts';
import type { ProfileRule, Result } from '../../policy/types.ts';
import { AG_DFA, FLAG, KIND, LAYOUT } from './layout.ts';

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
  Buffer.from(d.classOf).copy(b, L.cls);
  const first = new Map<PatternEnt[], number>();
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
        n++;
      }
    }
    b.writeUInt32LE(((list.length << 16) | at) >>> 0, L.acc + 4 * st);
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

