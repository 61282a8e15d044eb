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

/* The pattern rules of the acting pod generation and s->kind on s->path (NUL-terminated):
 * the best qualifying entry joins s->best_* at rank 0 (fromSource: bit 20). 0 when looked at,
 * -1 when the automaton is missing (the caller fails closed). The walk is a bounded loop
 * (any kernel with bounded loops, 5.3+: no bpf_loop, which 5.11-5.16 lack); it stops at the
 * path's NUL or in the dead state. */
__noinline int ag_match_pattern(__u32 unused)
{
	if (unused)
		return 0; /* the argument is used, so callers always set it (6.1 checks) */
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct ag_pat_key k = {};
	k.pod_id = s->pod.pod_id;
	k.gen = s->pod.gen;
	k.kind = s->kind & 1;
	struct ag_dfa *d = bpf_map_lookup_elem(&patterns, &k);
	if (!d)
		return -1;
	__u32 ncls = d->ncls;
	__u32 st = d->start;
	for (int i = 0; i < AG_PATH_BUF; i++) {
		__u8 c = s->path[i & BUF_MASK];
		if (!c)
			break;
		st = d->next[(st * ncls + d->cls[c]) & (AG_DFA_CELLS - 1)];
		if (!st)
			break;
	}
	if (!st)
		return 0;
	__u32 a = d->acc[st & (AG_DFA_STATES - 1)];
	__u32 first = a & 0xffff, n = a >> 16;
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

#endif /* AG_PATTERN_MATCH_H */
