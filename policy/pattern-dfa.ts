// matchPatterns → one automaton per kind: every glob of a pod's process (or file) rules
// compiled together into one deterministic automaton over the bytes of a full path, which
// the kernel walks once per check whatever the number of patterns (bpf/pattern.h).
//
// The glob grammar is policy/glob.ts's, byte for byte on UTF-8: `*` any bytes but '/', `**`
// any bytes, `?` one character (a UTF-8 sequence) but '/', `[...]` / `[!...]` one character of
// (or not of) a set and never '/', `{a,b}` alternatives, `\c` the character c. Sets hold ASCII
// characters only here (a non-ASCII set cannot be compiled: E_KERNEL_LIMIT names the pattern).
//
// Pure: patterns in, a table out (Thompson NFA, subset construction over byte classes,
// Moore minimisation). The limits are KERNEL_LIMITS' pattern* numbers (bpf/pattern.h).
import { KERNEL_LIMITS, mergeSlot, type SlotEntry } from './kernel-limits.ts';
import type { Result, RuleKind } from './types.ts';
import { err, ok } from './types.ts';

/** A compiled automaton. State 0 is dead (no pattern can match any longer). */
export interface Dfa {
  start: number;
  /** number of byte classes; class of a byte in `classOf` */
  ncls: number;
  classOf: Uint8Array;
  /** the transition table, dense: next[state * ncls + cls] (what the packed form encodes) */
  next: Uint16Array;
  /** the same table packed as the kernel holds it (see packTable): per state its default
   *  successor and the base of its other transitions in `cells`, each cell (owner << 16) | next */
  base: Uint16Array;
  dflt: Uint16Array;
  cells: Uint32Array;
  /** literal runs (see literalRuns): a walk in a state with one takes its LIT_LEN bytes at once */
  lits: LiteralRuns;
  nstates: number;
  /** per state, the indexes (into the input list) of the patterns that match a path ending there */
  accepts: number[][];
}

// ---------------------------------------------------------------- NFA
type ByteSet = Uint8Array; // 256 entries, 1 = in the set

function setOf(pred: (b: number) => boolean): ByteSet {
  const s = new Uint8Array(256);
  for (let b = 1; b < 256; b++) s[b] = pred(b) ? 1 : 0; // NUL never: paths have none
  return s;
}
const ANY = setOf(() => true);
const NOT_SLASH = setOf((b) => b !== 0x2f);
const CONT = setOf((b) => b >= 0x80 && b <= 0xbf);
const LEAD2 = setOf((b) => b >= 0xc2 && b <= 0xdf);
const LEAD3 = setOf((b) => b >= 0xe0 && b <= 0xef);
const LEAD4 = setOf((b) => b >= 0xf0 && b <= 0xf4);

class Nfa {
  eps: number[][] = [];
  edges: { set: number; to: number }[][] = [];
  sets: ByteSet[] = [];
  private setIds = new Map<string, number>();

  state(): number {
    this.eps.push([]);
    this.edges.push([]);
    return this.eps.length - 1;
  }

  edge(from: number, set: ByteSet, to: number): void {
    const key = Buffer.from(set).toString('latin1');
    let id = this.setIds.get(key);
    if (id === undefined) { id = this.sets.length; this.sets.push(set); this.setIds.set(key, id); }
    this.edges[from]!.push({ set: id, to });
  }

  /** One character but '/' whose first byte, when ASCII, is in `ascii`. */
  char(from: number, ascii: ByteSet): number {
    const end = this.state();
    this.edge(from, ascii, end);
    let a = this.state();
    this.edge(from, LEAD2, a);
    this.edge(a, CONT, end);
    a = this.state();
    this.edge(from, LEAD3, a);
    let b = this.state();
    this.edge(a, CONT, b);
    this.edge(b, CONT, end);
    a = this.state();
    this.edge(from, LEAD4, a);
    b = this.state();
    const c = this.state();
    this.edge(a, CONT, b);
    this.edge(b, CONT, c);
    this.edge(c, CONT, end);
    return end;
  }

  literal(from: number, ch: string): number {
    let at = from;
    for (const byte of Buffer.from(ch, 'utf8')) {
      const to = this.state();
      this.edge(at, setOf((b) => b === byte), to);
      at = to;
    }
    return at;
  }

  loop(from: number, set: ByteSet): number {
    const l = this.state();
    this.eps[from]!.push(l);
    this.edge(l, set, l);
    return l;
  }
}

/** Adds one glob to the NFA from `start`; returns its accepting state or why it cannot. */
function addGlob(nfa: Nfa, pattern: string, start: number): Result<number> {
  const chars = Array.from(pattern);
  let i = 0;
  // a sequence up to ',' or '}' at this depth
  const seq = (from: number, depth: number): Result<number> => {
    let at = from;
    while (i < chars.length) {
      const c = chars[i]!;
      if (depth > 0 && (c === ',' || c === '}')) return ok(at);
      i++;
      switch (c) {
        case '*': {
          let n = 1;
          while (chars[i] === '*') { n++; i++; }
          at = nfa.loop(at, n >= 2 ? ANY : NOT_SLASH);
          break;
        }
        case '?':
          at = nfa.char(at, setOf((b) => b < 0x80 && b !== 0x2f));
          break;
        case '\\': {
          const next = chars[i];
          if (next === undefined) return err('E_GLOB', 'pattern ends with a lone backslash');
          i++;
          at = nfa.literal(at, next);
          break;
        }
        case '[': {
          const r = charClass();
          if (!r.ok) return r;
          const { set, negate } = r.value;
          at = negate ? nfa.char(at, setOf((b) => b < 0x80 && b !== 0x2f && set[b] === 0)) : (() => {
            const to = nfa.state();
            nfa.edge(at, setOf((b) => b !== 0x2f && set[b] === 1), to);
            return to;
          })();
          break;
        }
        case '{': {
          const end = nfa.state();
          for (;;) {
            const alt = nfa.state();
            nfa.eps[at]!.push(alt);
            const r = seq(alt, depth + 1);
            if (!r.ok) return r;
            nfa.eps[r.value]!.push(end);
            const sep = chars[i];
            if (sep === undefined) return err('E_GLOB', "a '{' is never closed");
            i++;
            if (sep === '}') break;
          }
          at = end;
          break;
        }
        case '}':
          return err('E_GLOB', `'}' at character ${i} has no matching '{'`);
        default:
          at = nfa.literal(at, c);
      }
    }
    if (depth > 0) return err('E_GLOB', "a '{' is never closed");
    return ok(at);
  };
  // `[...]` after its '[' (chars[i] is the first item): the ASCII set and whether negated
  const charClass = (): Result<{ set: Uint8Array; negate: boolean }> => {
    const open = i;
    let negate = false;
    if (chars[i] === '!' || chars[i] === '^') { negate = true; i++; }
    const set = new Uint8Array(256);
    const code = (ch: string): Result<number> => {
      const n = ch.codePointAt(0) ?? 0;
      return n < 0x80 ? ok(n) : err('E_KERNEL_LIMIT', `the set at character ${open} holds the non-ASCII character '${ch}': the kernel matches sets of ASCII characters only`);
    };
    for (;;) {
      let c = chars[i];
      if (c === undefined) return err('E_GLOB', `'[' at character ${open} is never closed`);
      if (c === ']') { i++; break; }
      if (c === '\\') { i++; c = chars[i]; if (c === undefined) return err('E_GLOB', 'pattern ends with a lone backslash'); }
      const from = code(c);
      if (!from.ok) return from;
      if (chars[i + 1] === '-' && chars[i + 2] !== undefined && chars[i + 2] !== ']') {
        let to = chars[i + 2]!;
        let skip = 2;
        if (to === '\\') { to = chars[i + 3] ?? ''; skip = 3; if (to === '') return err('E_GLOB', 'pattern ends with a lone backslash'); }
        const t = code(to);
        if (!t.ok) return t;
        if (from.value > t.value) return err('E_GLOB', `range '${c}-${to}' is reversed`);
        for (let b = from.value; b <= t.value; b++) set[b] = 1;
        i += skip + 1;
        continue;
      }
      set[from.value] = 1;
      i++;
    }
    return ok({ set, negate });
  };
  return seq(start, 0);
}

// ---------------------------------------------------------------- DFA
export interface DfaLimits {
  states: number;
  cells: number;
  /** entries of the literal-run table (entry 0 unused); not a bound on patterns: states past
   *  it are walked byte by byte */
  lits?: number;
}

export const DFA_LIMITS: DfaLimits = { states: KERNEL_LIMITS.patternStates, cells: KERNEL_LIMITS.patternCells, lits: KERNEL_LIMITS.patternLiterals };

/**
 * One automaton for all `patterns` (full-path globs): a path ends in a state whose `accepts`
 * lists exactly the patterns that match it. Fails with E_GLOB for a glob policy/glob.ts
 * refuses, E_KERNEL_LIMIT when the automaton needs more states or (packed) table cells than the
 * kernel holds (the message says how many) or a set holds non-ASCII characters; the error's
 * `path` is the index of the pattern at fault when one is (as a string), none for the total.
 */
export function compilePatterns(patterns: readonly string[], limits: DfaLimits = DFA_LIMITS): Result<Dfa> {
  const nfa = new Nfa();
  const start = nfa.state();
  const finals: number[] = [];
  for (let p = 0; p < patterns.length; p++) {
    const pat = patterns[p]!;
    if (pat.length === 0 || pat[0] !== '/') return err('E_GLOB', "pattern must be an absolute path starting with '/'", String(p));
    const s = nfa.state();
    nfa.eps[start]!.push(s);
    const r = addGlob(nfa, pat, s);
    if (!r.ok) return err(r.error.code, r.error.message, String(p));
    finals.push(r.value);
  }
  const finalOf = new Map<number, number[]>();
  finals.forEach((f, p) => { const l = finalOf.get(f); if (l) l.push(p); else finalOf.set(f, [p]); });
  // byte classes: bytes that every set treats alike
  const sig = new Map<string, number>();
  const classOf = new Uint8Array(256);
  const reps: number[] = [];
  for (let b = 0; b < 256; b++) {
    let key = '';
    for (const s of nfa.sets) key += s[b] === 1 ? '1' : '0';
    let c = sig.get(key);
    if (c === undefined) { c = reps.length; reps.push(b); sig.set(key, c); }
    classOf[b] = c;
  }
  const ncls = reps.length;
  if (ncls > 256) return err('E_KERNEL_LIMIT', 'more than 256 byte classes');
  // subset construction; state 0 = dead (the empty set)
  const closure = (states: number[]): number[] => {
    const seen = new Set(states);
    const stack = [...states];
    while (stack.length > 0) {
      const s = stack.pop()!;
      for (const t of nfa.eps[s]!) if (!seen.has(t)) { seen.add(t); stack.push(t); }
    }
    return [...seen].sort((a, b) => a - b);
  };
  const ids = new Map<string, number>([['', 0]]);
  const subsets: number[][] = [[]];
  const rows: number[][] = [new Array<number>(ncls).fill(0)];
  const add = (set: number[]): Result<number> => {
    const key = set.join(',');
    let id = ids.get(key);
    if (id !== undefined) return ok(id);
    id = subsets.length;
    // the unminimised automaton may be somewhat larger than the final one: bounded at 8x
    if (id >= limits.states * 8) return err('E_KERNEL_LIMIT', `the patterns need more than ${limits.states * 8} automaton states before minimisation`);
    ids.set(key, id);
    subsets.push(set);
    rows.push([]);
    return ok(id);
  };
  const s0 = add(closure([start]));
  if (!s0.ok) return s0;
  for (let d = 1; d < subsets.length; d++) {
    const row = rows[d]!;
    for (let c = 0; c < ncls; c++) {
      const b = reps[c]!;
      const to: number[] = [];
      for (const s of subsets[d]!) for (const e of nfa.edges[s]!) if (nfa.sets[e.set]![b] === 1) to.push(e.to);
      if (to.length === 0) { row.push(0); continue; }
      const r = add(closure([...new Set(to)]));
      if (!r.ok) return r;
      row.push(r.value);
    }
  }
  const acceptsOf = subsets.map((set) => {
    const a: number[] = [];
    for (const s of set) { const l = finalOf.get(s); if (l) a.push(...l); }
    return a.sort((x, y) => x - y);
  });
  // Moore minimisation: states with the same accepts and the same successors' blocks merge
  let ids2 = renumber(acceptsOf.map((a, d) => (d === 0 ? 'dead' : a.join(','))));
  for (;;) {
    const r = renumber(rows.map((row, d) => `${ids2.map[d]}|${row.map((t) => ids2.map[t]).join(',')}`));
    if (r.count === ids2.count) break;
    ids2 = r;
  }
  // the dead block becomes state 0
  const deadBlock = ids2.map[0]!;
  const finalId = (b: number): number => (b === deadBlock ? 0 : b < deadBlock ? b + 1 : b);
  const nstates = ids2.count;
  if (nstates > limits.states) return err('E_KERNEL_LIMIT', `the patterns need ${nstates} automaton states, the kernel holds ${limits.states}`);
  const next = new Uint16Array(nstates * ncls);
  const accepts: number[][] = Array.from({ length: nstates }, () => []);
  for (let d = 0; d < rows.length; d++) {
    const id = finalId(ids2.map[d]!);
    accepts[id] = acceptsOf[d]!;
    const row = rows[d]!;
    for (let c = 0; c < ncls; c++) next[id * ncls + c] = finalId(ids2.map[row[c]!]!);
  }
  const packed = packTable(next, nstates, ncls);
  if (packed.cells.length > limits.cells) return err('E_KERNEL_LIMIT', `the patterns need ${nstates} states whose transitions take ${packed.cells.length} table cells, the kernel holds ${limits.cells}`);
  const startId = finalId(ids2.map[1]!);
  return ok({ start: startId, ncls, classOf, next, ...packed, lits: literalRuns(next, nstates, ncls, classOf, startId, limits.lits ?? KERNEL_LIMITS.patternLiterals), nstates, accepts });
}

/** A cell of the packed table no state owns: owner 0 is the dead state, which no walk steps
 *  from (the kernel's table is zeroed past the cells in use too). */
export const FREE_CELL = 0;

/**
 * The dense table packed as a comb (the row-displacement scheme of lex's tables): each state
 * keeps its most frequent successor as its default, and only its other transitions go to
 * `cells`, at base[state] + class, each cell tagged with its owner. A walk reads the cell at
 * base + class and takes its successor when the owner is the state, the default otherwise. A
 * glob automaton's states have one or two such transitions (a literal byte; `*` loops on itself
 * by default), so the table is about the size of the transitions, not states x classes: 200
 * patterns of five shapes, 2,173 states x 41 classes = 89,093 dense cells, pack into 5,521.
 * States with the most transitions are placed first, each at the lowest base that fits.
 */
export function packTable(next: Uint16Array, nstates: number, ncls: number): { base: Uint16Array; dflt: Uint16Array; cells: Uint32Array } {
  const base = new Uint16Array(nstates);
  const dflt = new Uint16Array(nstates);
  const others: number[][] = [[]];
  const count = new Uint32Array(nstates);
  for (let s = 1; s < nstates; s++) {
    const row = next.subarray(s * ncls, (s + 1) * ncls);
    for (const t of row) count[t]!++;
    let best = 0;
    for (const t of row) if (count[t]! > count[best]! || (count[t] === count[best] && t < best)) best = t;
    for (const t of row) count[t] = 0;
    dflt[s] = best;
    const o: number[] = [];
    row.forEach((t, c) => { if (t !== best) o.push(c); });
    others.push(o);
  }
  const order = Array.from({ length: nstates }, (_, s) => s).filter((s) => s > 0 && others[s]!.length > 0)
    .sort((a, b) => others[b]!.length - others[a]!.length || a - b);
  const owner: number[] = [];
  let low = 0; // below it every cell is taken
  let top = 0;
  for (const s of order) {
    const o = others[s]!;
    let b = Math.max(0, low - o[0]!);
    while (o.some((c) => owner[b + c] !== undefined)) b++;
    for (const c of o) owner[b + c] = s;
    while (owner[low] !== undefined) low++;
    base[s] = b;
    top = Math.max(top, b + o[o.length - 1]! + 1);
  }
  const cells = new Uint32Array(top).fill(FREE_CELL);
  for (let i = 0; i < top; i++) {
    const s = owner[i];
    if (s !== undefined) { const c = i - base[s]!; cells[i] = ((s << 16) | next[s * ncls + c]!) >>> 0; }
  }
  return { base, dflt, cells };
}

/** Bytes a literal run holds: one 64-bit load in the kernel. */
export const LIT_LEN = 8;

/** Literal runs: `idx[state]` is 0, or the entry (1 up to the bound, entry 0 unused) whose
 *  `bytes` (LIT_LEN at entry * LIT_LEN) a path must hold next for the automaton to stay alive,
 *  and `next` the state after them. */
export interface LiteralRuns { idx: Uint16Array; bytes: Uint8Array; next: Uint16Array; count: number }

/**
 * The states from which the automaton stays alive on one byte string only, for LIT_LEN bytes:
 * each step has one class that does not lead to the dead state, and that class is one byte (the
 * literal parts of the patterns: "/srv/bench/app/" of `/srv/bench/app/*.bin`). The kernel
 * compares such a run with one 64-bit load and steps over it, where a byte at a time costs about
 * 30 instructions (the compiled loop of bpf/pattern-match.h). A path that differs from it before
 * the path's end dies there (every other byte leads to the dead state), and one that ends within
 * it is walked byte by byte, so the answer never depends on the runs. At most `max - 1`
 * runs, nearest the start first (breadth-first), where every walk begins.
 */
export function literalRuns(next: Uint16Array, nstates: number, ncls: number, classOf: Uint8Array, start: number, max: number): LiteralRuns {
  const idx = new Uint16Array(nstates);
  const bytes = new Uint8Array(max * LIT_LEN);
  const nxt = new Uint16Array(max);
  // the one byte of each class that has exactly one (-2: none, -1: several)
  const only = new Int16Array(ncls).fill(-2);
  for (let b = 1; b < 256; b++) { const c = classOf[b]!; only[c] = only[c] === -2 ? b : -1; }
  // per state: the one byte it stays alive on, -1 when not exactly one
  const single = new Int16Array(nstates).fill(-1);
  for (let st = 1; st < nstates; st++) {
    let live = -1;
    for (let c = 0; c < ncls; c++) {
      if (next[st * ncls + c] === 0) continue;
      if (live !== -1) { live = -2; break; }
      live = c;
    }
    if (live >= 0 && only[live]! > 0) single[st] = only[live]!;
  }
  let count = 1;
  const seen = new Uint8Array(nstates);
  const queue = [start];
  seen[start] = 1;
  for (let q = 0; q < queue.length && count < max; q++) {
    const st = queue[q]!;
    let at = st;
    let k = 0;
    for (; k < LIT_LEN && single[at]! > 0; k++) {
      bytes[count * LIT_LEN + k] = single[at]!;
      at = next[at * ncls + classOf[single[at]!]!]!;
    }
    // a run cut short leaves bytes in entry `count`, unused: the next run there writes all 8
    if (k === LIT_LEN) { idx[st] = count; nxt[count] = at; count++; }
    for (let c = 0; c < ncls; c++) {
      const t = next[st * ncls + c]!;
      if (t !== 0 && !seen[t]) { seen[t] = 1; queue.push(t); }
    }
  }
  return { idx, bytes, next: nxt, count };
}

/** One step of the packed table, as bpf/pattern-match.h takes it. */
export function stepPacked(dfa: Pick<Dfa, 'base' | 'dflt' | 'cells' | 'classOf'>, st: number, byte: number): number {
  const i = dfa.base[st]! + dfa.classOf[byte]!;
  const cell = i < dfa.cells.length ? dfa.cells[i]! : FREE_CELL;
  return cell >>> 16 === st ? cell & 0xffff : dfa.dflt[st]!;
}

function renumber(keys: readonly string[]): { map: number[]; count: number } {
  const ids = new Map<string, number>();
  const map = keys.map((k) => { let id = ids.get(k); if (id === undefined) { id = ids.size; ids.set(k, id); } return id; });
  return { map, count: ids.size };
}

/** Walks `path` (its UTF-8 bytes) through the packed automaton as the kernel does: the patterns that match.
 *  It takes a literal run wherever one applies (the kernel: at the start of each 256-byte chunk);
 *  the answer is the same either way. */
export function runDfa(dfa: Dfa, path: string): number[] {
  let st = dfa.start;
  const bytes = Buffer.from(path, 'utf8');
  for (let i = 0; i < bytes.length;) {
    const li = dfa.lits.idx[st]!;
    if (li !== 0 && i + LIT_LEN <= bytes.length && bytes.compare(dfa.lits.bytes, li * LIT_LEN, (li + 1) * LIT_LEN, i, i + LIT_LEN) === 0) {
      st = dfa.lits.next[li]!;
      i += LIT_LEN;
      continue;
    }
    const b = bytes[i++]!;
    if (b === 0) return [];
    st = stepPacked(dfa, st, b);
    if (st === 0) return [];
  }
  return dfa.accepts[st]!;
}

/** The state a walk of `path` ends in (0: dead), as runDfa walks. */
export function endState(dfa: Dfa, path: string): number {
  let st = dfa.start;
  for (const b of Buffer.from(path, 'utf8')) {
    if (b === 0) return 0;
    st = stepPacked(dfa, st, b);
    if (st === 0) return 0;
  }
  return st;
}

/**
 * Per state, the best `score` of a state reachable from it (itself included) and which state
 * that is: `best[st]` is -1 when every reachable state scores 0. Scores are small positive
 * integers (a rule action); the search runs backwards from the states of each score, highest
 * first, so each state is settled once, in time linear in the transitions.
 */
export function reachableBest(dfa: Pick<Dfa, 'next' | 'nstates' | 'ncls'>, score: (st: number) => number): Int32Array {
  const { next, nstates, ncls } = dfa;
  const rev: number[][] = Array.from({ length: nstates }, () => []);
  for (let st = 1; st < nstates; st++) {
    for (let c = 0; c < ncls; c++) {
      const t = next[st * ncls + c]!;
      if (t !== 0) rev[t]!.push(st);
    }
  }
  const best = new Int32Array(nstates).fill(-1);
  const levels = [...new Set(Array.from({ length: nstates }, (_, st) => (st === 0 ? 0 : score(st))))].filter((x) => x > 0).sort((a, b) => b - a);
  for (const level of levels) {
    const queue: number[] = [];
    for (let st = 1; st < nstates; st++) {
      if (best[st] === -1 && score(st) === level) { best[st] = st; queue.push(st); }
    }
    for (let i = 0; i < queue.length; i++) {
      const t = queue[i]!;
      for (const from of rev[t]!) {
        if (best[from] === -1) { best[from] = best[t]!; queue.push(from); }
      }
    }
  }
  return best;
}

/** The components a path matching `pattern` surely has, from the root up to the first one
 *  holding a glob character: "/etc/ssl/*.pem" → "/etc/ssl/"; "/" when the first component
 *  already has one (any path may match). */
export function literalDir(pattern: string): string {
  const meta = pattern.search(/[*?[{\\]/);
  const head = meta < 0 ? pattern : pattern.slice(0, meta);
  return head.slice(0, head.lastIndexOf('/') + 1) || '/';
}

// ------------------------------------------------- rules per accepting state
export interface PatternTable<T> {
  dfa: Dfa;
  /** per state, the rule entries the kernel checks when a path ends there: fromSource rules
   *  first, each source's entries merged as one slot's are (mergeSlot) */
  hits: T[][];
  /** entries over all distinct lists (what AG_DFA_ENTS bounds) */
  entries: number;
}

export interface PatternView<T> {
  pattern: (t: T) => string;
  source: (t: T) => string;
  entry: (t: T) => SlotEntry;
  covers: (b: T, a: T) => boolean;
  breadth: (t: T) => number;
}

/**
 * The automaton of one kind's pattern rules (`items`) and the entries of each accepting
 * state, within KERNEL_LIMITS (patternHits, patternEntries, and the automaton's). An error
 * names the pattern at fault: one that alone does not fit, else the count of them together.
 */
export function patternTable<T>(kind: RuleKind, items: readonly T[], v: PatternView<T>, limits: DfaLimits = DFA_LIMITS): Result<PatternTable<T>> {
  const patterns: string[] = [];
  const byPattern = new Map<string, T[]>();
  for (const it of items) {
    const p = v.pattern(it);
    let l = byPattern.get(p);
    if (l === undefined) { byPattern.set(p, (l = [])); patterns.push(p); }
    l.push(it);
  }
  const r = compilePatterns(patterns, limits);
  if (!r.ok) {
    if (r.error.path !== undefined) return err(r.error.code, `pattern ${JSON.stringify(patterns[Number(r.error.path)])}: ${r.error.message}`);
    const alone = patterns.find((p) => !compilePatterns([p], limits).ok);
    return err(r.error.code, alone !== undefined ? `pattern ${JSON.stringify(alone)}: ${r.error.message}` : `${patterns.length} ${kind} patterns together: ${r.error.message}`);
  }
  const dfa = r.value;
  const lists = new Map<string, T[]>();
  const hits: T[][] = [];
  let entries = 0;
  for (let st = 0; st < dfa.nstates; st++) {
    const key = dfa.accepts[st]!.join(',');
    let list = lists.get(key);
    if (list === undefined) {
      const all = dfa.accepts[st]!.flatMap((i) => byPattern.get(patterns[i]!)!);
      const bySource = new Map<string, T[]>();
      for (const it of all) { const s = v.source(it); const l = bySource.get(s); if (l) l.push(it); else bySource.set(s, [it]); }
      list = [];
      for (const [src, group] of [...bySource].sort((a, b) => (a[0] === '' ? 1 : 0) - (b[0] === '' ? 1 : 0) || (a[0] < b[0] ? -1 : 1))) {
        void src;
        for (const i of mergeSlot(kind, group, v.entry, v.covers, v.breadth)) list.push(group[i]!);
      }
      if (list.length > KERNEL_LIMITS.patternHits) {
        const names = [...new Set(list.map(v.pattern))];
        return err('E_KERNEL_LIMIT', `${list.length} ${kind} pattern rules match one path (patterns ${names.slice(0, 4).map((n) => JSON.stringify(n)).join(', ')}${names.length > 4 ? ', ...' : ''}), none overruled by another: the kernel checks at most ${KERNEL_LIMITS.patternHits} (AG_DFA_HITS)`);
      }
      lists.set(key, list);
      entries += list.length;
    }
    hits.push(list);
  }
  if (entries > KERNEL_LIMITS.patternEntries) return err('E_KERNEL_LIMIT', `${patterns.length} ${kind} patterns together need ${entries} rule entries, the kernel holds ${KERNEL_LIMITS.patternEntries} (AG_DFA_ENTS)`);
  return ok({ dfa, hits, entries });
}
