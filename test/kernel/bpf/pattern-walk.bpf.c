// SPDX-License-Identifier: GPL-2.0
/* Test object (test/kernel/pattern-walk.test.ts): the enforcer's programs with one raw
 * tracepoint program, run through BPF_PROG_TEST_RUN on a path given in a map (no LSM program is
 * loaded, so this runs on kernels that refuse them). Two modes:
 *   0: the pattern walk (bpf/pattern-match.h) of pod 1 generation 1: its best entry, and
 *      ag_pat_end's answer (the state, its rename guard);
 *   1: the whole path decision (ag_decide_path: exact paths, directories, patterns and their
 *      precedence) of the pod whose value is in the pods map under `uid`, as ag_who leaves it
 *      for a process of no told container. */
#include "../../../bpf/armorgate.bpf.c"
struct vt_in { __u32 tgid; __u32 kind; __u32 write; __u32 owner; __u32 mode; __u32 pad; struct ag_uid uid; char path[AG_PATH_BUF]; };
struct vt_out { __u32 score; __u32 rule; __u32 action; __s32 ret; __s64 end; __u32 allowlisted; __u32 pad; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct vt_in); } vt_in_map SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct vt_out); } vt_out_map SEC(".maps");
SEC("raw_tp/sys_enter")
int vt(void *ctx)
{
	__u32 zero = 0;
	struct vt_in *in = bpf_map_lookup_elem(&vt_in_map, &zero);
	struct vt_out *out = bpf_map_lookup_elem(&vt_out_map, &zero);
	struct scratch *s = get_scratch();
	if (!in || !out || !s)
		return 0;
	if ((bpf_get_current_pid_tgid() >> 32) != in->tgid)
		return 0;
	long n = bpf_probe_read_kernel_str(s->path, AG_PATH_BUF, in->path);
	if (in->mode == 1) {
		struct ag_pod *pod = bpf_map_lookup_elem(&pods, &in->uid);
		if (!pod) {
			out->ret = 1;
			return 0;
		}
		__builtin_memcpy(&s->pod, &pod->h, sizeof(s->pod));
		s->cgmask = s->pod.unknown_mask ? s->pod.unknown_mask : AG_EVERY;
		s->src_ok = 0;
		s->src_hash = 0;
		s->kind = in->kind & 1;
		out->ret = ag_decide_path(in->kind == AG_KIND_PROCESS ? AG_H_EXEC : AG_H_OPEN, in->write, in->owner, n - 1);
		out->score = s->best_score;
		out->rule = s->best_rule;
		out->action = s->best_action;
		out->allowlisted = (s->pod.allowlist[in->kind & 1] & s->cgmask) != 0;
		return 0;
	}
	s->pod.pod_id = 1;
	s->pod.gen = 1;
	s->kind = in->kind;
	s->cgmask = 0xffffffff;
	s->src_ok = 0;
	s->src_hash = 0;
	s->write = in->write;
	s->owner = in->owner;
	s->best_score = 0;
	s->best_rule = AG_RULE_POSTURE;
	s->best_action = 0;
	out->ret = ag_match_pattern(0);
	out->score = s->best_score;
	out->rule = s->best_rule;
	out->action = s->best_action;
	/* the rename guard's answer for the same path (ag_pat_end: state, guard action, rule) */
	out->end = ag_pat_end(in->kind);
	return 0;
}
