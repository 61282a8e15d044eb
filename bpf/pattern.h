/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * ArmorGate: matchPatterns in the kernel. The layout shared with userspace
 * (enforcer/kernel/layout.ts; test/kernel/layout.test.ts checks it against the BTF).
 *
 * Every pattern rule of one pod generation and kind (process, file) is compiled in userspace
 * (policy/pattern-dfa.ts) into ONE deterministic automaton over the bytes of the full path:
 * the kernel walks it once per check, a few loads per byte, whatever the number of
 * patterns. Bytes every pattern treats alike share a class (cls). The table is packed (the
 * row displacement of lex's tables): a state's most frequent successor is its default (dflt);
 * each other transition is a cell at base[state] + class, tagged with the state that owns it
 * ((owner << 16) | next). A walk takes the cell's successor when it owns the cell, its default
 * otherwise: glob states have one or two transitions besides the default, so the table holds
 * about as many cells as transitions (policy/pattern-dfa.ts packTable). A state from which only
 * one 8-byte string keeps the automaton alive (the literal parts of the patterns) has a literal
 * run: at the start of each 256-byte chunk the walk compares the path's next 8 bytes with the
 * state's run in one load and, while equal, steps over them to litnext; from the first that
 * differs it walks byte by byte (policy/pattern-dfa.ts literalRuns). A path that ends in a state lists, in acc, the rule entries of every pattern
 * that matches it (fromSource entries first, overruled entries merged away in userspace);
 * the kernel checks them as it checks a map slot's (containers, fromSource, readOnly,
 * ownerOnly) at rank 0: below every exact path and directory, Block > Audit > Allow.
 *
 * Bounds (policy/kernel-limits.ts, refused at validation and at compile with E_KERNEL_LIMIT
 * naming the pattern): AG_DFA_STATES states, AG_DFA_CELLS packed cells,
 * AG_DFA_ENTS entries in all, AG_DFA_HITS per accepting state. The path is walked over all of
 * its bytes (AG_PATH_BUF - 1 at most; a longer path is unresolvable, denied under Block and
 * allow-lists as before). A pod whose pod value says it has patterns of a kind (AG_X_*_PAT)
 * but whose automaton is missing (no room in the map) denies under Block and allow-lists.
 */
#ifndef AG_PATTERN_H
#define AG_PATTERN_H

#define AG_DFA_STATES   4096   /* automaton states, dead state 0 included */
#define AG_DFA_CELLS    16384  /* packed transition cells */
#define AG_DFA_ENTS     1024   /* rule entries of all accepting states */
#define AG_DFA_HITS     16     /* rule entries of one accepting state */
#define AG_DFA_LITS     1024   /* literal runs (entry 0 unused) */
#define AG_DFA_LIT_LEN  8      /* bytes of one literal run: one 64-bit load */
/* acc[state]: bits 0-15 the state's first entry, 16-20 how many (at most AG_DFA_HITS), and from
 * bit AG_DFA_ACC_GUARD_SHIFT 1 + the entry of the state's guard, 0 when none: a Block entry
 * (else an Audit one) of a state reachable from this one. A directory whose path + "/" ends in
 * a guarded state may not be renamed to a path ending in another state (ag_pat_moved). */
#define AG_DFA_ACC_GUARD_SHIFT 21
#define AG_DFA_ACC_COUNT(a)    (((a) >> 16) & 0x1f)
#define AG_DFA_ACC_GUARD(a)    ((a) >> AG_DFA_ACC_GUARD_SHIFT)
#define AG_DFA_ABI             2      /* acc with rename guards */

/* struct ag_pod_head exactmask bits: the pod generation has pattern rules of the kind */
#define AG_X_PROC_PAT   0x10
#define AG_X_FILE_PAT   0x20

/* patterns map key: one automaton per pod generation and kind */
struct ag_pat_key {
	__u32 pod_id;
	__u32 gen;
	__u32 kind;            /* AG_KIND_PROCESS or AG_KIND_FILE */
	__u32 pad;
};

struct ag_pat_ent {
	__u64 src_hash;        /* fromSource hash (as struct ag_rule_key), 0 when none */
	struct ag_rule_ent e;
	__u32 pad;
};

struct ag_dfa {
	__u32 start;           /* start state */
	__u32 ncls;            /* byte classes (what cls maps to; the walk does not need it) */
	__u8 cls[256];         /* byte -> class */
	__u32 acc[AG_DFA_STATES];         /* per state: guard, entries and first entry (above) */
	struct ag_pat_ent ent[AG_DFA_ENTS];
	__u16 base[AG_DFA_STATES];        /* where a state's transitions start in cell */
	__u16 dflt[AG_DFA_STATES];        /* a state's successor for a class it owns no cell of */
	__u32 cell[AG_DFA_CELLS];         /* (owner state << 16) | successor; 0 where no state
					    * owns it (owner 0 is the dead state, never walked from) */
	__u64 lit[AG_DFA_LITS];           /* a literal run's 8 bytes, as a little-endian load reads them */
	__u16 litidx[AG_DFA_STATES];      /* per state: 0, or its literal run's entry */
	__u16 litnext[AG_DFA_LITS];       /* the state after a literal run */
	__u32 abi;                        /* AG_DFA_ABI: what acc holds. Also makes the value's size
					   * another than before guards (141,576 bytes), so pinned maps
					   * of an ArmorGate that reads acc otherwise are retired, never
					   * shared (enforcer/kernel/loader.ts incompatiblePins) */
	__u32 pad;
};

#endif /* AG_PATTERN_H */
