/* SPDX-License-Identifier: GPL-2.0 */
/* ArmorGate: the pattern automaton's map and its walk (layout and bounds: bpf/pattern.h).
 * Included by armorgate.bpf.c after qualifies(). */
#ifndef AG_PATTERN_MATCH_H
#define AG_PATTERN_MATCH_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ag_pat_key);
	__type(value, struct ag_dfa);
} patterns SEC(".maps");

/* the walk's state between chunks (per CPU, as the scratch map) */
struct ag_pat_walk {
	__u32 st;              /* automaton state after the bytes walked */
	__u32 end;             /* 1 once the path's NUL or the dead state is reached, 2 automaton gone */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ag_pat_walk);
} pat_walk SEC(".maps");

#define AG_PAT_CHUNK 256   /* bytes one ag_pat_chunk walks: AG_PATH_BUF / AG_PAT_CHUNK calls at most */

static __always_inline struct ag_dfa *pat_dfa(struct scratch *s)
{
	struct ag_pat_key k = {};
	k.pod_id = s->pod.pod_id;
	k.gen = s->pod.gen;
	k.kind = s->kind & 1;
	return bpf_map_lookup_elem(&patterns, &k);
}

/* Walks s->path[from, from + AG_PAT_CHUNK) through automaton d from state *st: *end becomes 1 at
 * the path's NUL or in the dead state. First the literal runs: while the state has one and the
 * path holds its 8 bytes next, one load steps over them (the literal parts patterns begin with).
 * Every byte but the run's own leads to the dead state (policy/pattern-dfa.ts literalRuns), so a
 * path that differs from the run before its end (its NUL) ends the walk there, dead; one that
 * ends within the run is walked on byte by byte. Then one byte per step. Two loops, each with one
 * path forward per step, so that the verifier meets each offset of the second once whichever
 * offset the first left it at. */
static __always_inline void pat_walk_bytes(struct ag_dfa *d, struct scratch *s, __u32 from, __u32 *st_io, __u32 *end)
{
	__u32 st = *st_io;
	__u32 i = 0;
	int dead = 0;
	for (int k = 0; k < AG_PAT_CHUNK / AG_DFA_LIT_LEN; k++) {
		__u32 li = d->litidx[st & (AG_DFA_STATES - 1)];
		__u32 off = (from + i) & BUF_MASK;
		if (!li || off > AG_PATH_BUF - AG_DFA_LIT_LEN)
			break;
		__u64 w = *(__u64 *)&s->path[off];
		__u64 x = w ^ d->lit[li & (AG_DFA_LITS - 1)];
		if (x) {
			/* z: 0x80 at the path's NUL (the lowest set bit is exact); x & -x: the first byte
			 * that differs, below 1 << 8j when it comes before a NUL at byte j */
			__u64 z = (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
			dead = !z || (x & -x) < ((z & -z) >> 7);
			break;
		}
		st = d->litnext[li & (AG_DFA_LITS - 1)];
		i += AG_DFA_LIT_LEN;
	}
	if (dead) {
		*st_io = 0;
		*end = 1;
		return;
	}
	for (; i < AG_PAT_CHUNK; i++) {
		__u8 c = s->path[(from + i) & BUF_MASK];
		if (!c) {
			*end = 1;
			break;
		}
		__u32 at = st & (AG_DFA_STATES - 1);
		__u32 cell = d->cell[(d->base[at] + d->cls[c]) & (AG_DFA_CELLS - 1)];
		st = (cell >> 16) == st ? (cell & 0xffff) : d->dflt[at];
		if (!st) {
			*end = 1;
			break;
		}
	}
	*st_io = st;
}

/* The walk of a path's bytes past the first AG_PAT_CHUNK, one chunk per call, from the state in
 * pat_walk. Its own (globally verified) function, so that the verifier sees a loop of
 * AG_PAT_CHUNK steps once, whatever the path's length. */
__noinline int ag_pat_chunk(__u32 from)
{
	__u32 zero = 0;
	struct scratch *s = get_scratch();
	struct ag_pat_walk *w = bpf_map_lookup_elem(&pat_walk, &zero);
	if (!s || !w)
		return 0;
	struct ag_dfa *d = pat_dfa(s);
	if (!d) {
		w->st = 0;
		w->end = 2;
		return 0;
	}
	__u32 st = w->st, end = 0;
	pat_walk_bytes(d, s, from, &st, &end);
	w->st = st;
	w->end = end;
	return 0;
}

/* The walk of s->path from chunk `from` on, from state st, one chunk per ag_pat_chunk call: the
 * state it ends in, or -1 when the automaton went missing meanwhile (end 2). */
static __always_inline long pat_walk_chunks(struct ag_pat_walk *w, __u32 st, int from)
{
	w->st = st;
	w->end = 0;
	for (int k = from; k < AG_PATH_BUF / AG_PAT_CHUNK; k++) {
		ag_pat_chunk(k * AG_PAT_CHUNK);
		if (*(volatile __u32 *)&w->end)
			break;
	}
	if (*(volatile __u32 *)&w->end == 2)
		return -1;
	return w->st;
}

/* The pattern rules of the acting pod generation and s->kind on s->path (NUL-terminated):
 * the best qualifying entry joins s->best_* at rank 0 (fromSource: bit 20). 0 when looked at,
 * -1 when the automaton is missing (the caller fails closed). The walk is bounded loops of
 * AG_PAT_CHUNK bytes (any kernel with bounded loops and global functions; no bpf_loop, which
 * 5.11-5.16 lack); it stops at the path's NUL or in the dead state. */
__noinline int ag_match_pattern(__u32 unused)
{
	if (unused)
		return 0; /* the argument is used, so callers always set it (6.1 checks) */
	__u32 zero = 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct ag_dfa *d = pat_dfa(s);
	if (!d)
		return -1;
	/* the first AG_PAT_CHUNK bytes here, with the automaton this lookup found (most paths end
	 * in them); the rest, if any, chunk by chunk */
	__u32 st = d->start, end = 0;
	pat_walk_bytes(d, s, 0, &st, &end);
	if (!end) {
		struct ag_pat_walk *w = bpf_map_lookup_elem(&pat_walk, &zero);
		if (!w)
			return -1;
		/* every lookup finds this automaton: a generation's entry is written before its pod
		 * value goes live and deleted a grace period after another replaced it; gone
		 * meanwhile, the caller fails closed */
		long r = pat_walk_chunks(w, st, 1);
		if (r < 0)
			return -1;
		st = r;
	}
	if (!st)
		return 0;
	__u32 a = d->acc[st & (AG_DFA_STATES - 1)];
	__u32 first = a & 0xffff, n = AG_DFA_ACC_COUNT(a);
	__u32 kind = s->kind, write = s->write, owner = s->owner, mask = s->cgmask;
	for (int j = 0; j < AG_DFA_HITS; j++) {
		if (j >= n)
			break;
		struct ag_pat_ent *e = &d->ent[(first + j) & (AG_DFA_ENTS - 1)];
		if (!(e->e.containers & mask))
			continue;
		__u32 srcbit = 0;
		if (e->src_hash) {
			if (!s->src_ok || e->src_hash != s->src_hash)
				continue;
			srcbit = 1u << 20;
		}
		if (!qualifies(&e->e, kind, write, owner))
			continue;
		__u32 score = (srcbit << 4) | (e->e.action & 3);
		if (score > s->best_score) {
			s->best_score = score;
			s->best_rule = e->e.rule_id;
			s->best_action = e->e.action;
		}
	}
	return 0;
}

#define AG_PAT_OWN 2 /* ag_pat_end: the state's own entries, not its guard */

/* The automaton of kind `how & 1` for the acting pod generation walked over s->path
 * (NUL-terminated): the state it ends in (0 dead), with an action at bit 16 (0 none) and its
 * rule id from bit 32: the state's guard (bpf/pattern.h), or with AG_PAT_OWN the best Block or
 * Audit entry of the state's own (a Block first). -1 when the automaton is missing. Every chunk
 * through ag_pat_chunk (renames are rare: no inline walk of its own to verify). Sets s->kind. */
__noinline long ag_pat_end(__u32 how)
{
	__u32 zero = 0;
	struct scratch *s = get_scratch();
	if (!s)
		return -1;
	s->kind = how & 1;
	struct ag_dfa *d = pat_dfa(s);
	struct ag_pat_walk *w = bpf_map_lookup_elem(&pat_walk, &zero);
	if (!d || !w)
		return -1;
	long r = pat_walk_chunks(w, d->start, 0);
	if (r < 0)
		return -1;
	__u32 st = r & (AG_DFA_STATES - 1);
	__u32 a = d->acc[st];
	struct ag_rule_ent *e = 0;
	if (how & AG_PAT_OWN) {
		__u32 first = a & 0xffff, n = AG_DFA_ACC_COUNT(a);
		for (int j = 0; j < AG_DFA_HITS; j++) {
			if (j >= n)
				break;
			struct ag_rule_ent *c = &d->ent[(first + j) & (AG_DFA_ENTS - 1)].e;
			__u32 act = c->action & 3;
			if ((act == AG_A_BLOCK || act == AG_A_AUDIT) && (!e || act > (e->action & 3)))
				e = c;
		}
	} else if (AG_DFA_ACC_GUARD(a)) {
		e = &d->ent[(AG_DFA_ACC_GUARD(a) - 1) & (AG_DFA_ENTS - 1)].e;
	}
	if (!e)
		return st;
	return st | ((long)(e->action & 3) << 16) | ((long)(e->rule_id & 0x7fffffff) << 32);
}

#endif /* AG_PATTERN_MATCH_H */
