/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * ArmorGate visibility logs (KubeArmor's `kubearmor-visibility`): an access of a kind a pod's
 * profile asks to see (process: exec, file: open, network: socket, capabilities: capable) that
 * went ahead without an alert becomes an AG_EV_LOG event. Decided here, in the kernel: a pod
 * or a kind nobody asked for never reaches the ring buffer, and no pod on the node asking for
 * a kind leaves that kind's hooks on their fast paths (agvisconfig.kinds). Rate-limited per
 * cgroup apart from alerts (visrates), with a counted AG_EV_LOG_DROPPED event.
 *
 * Included by armorgate.bpf.c after the reporting helpers (rate_take, emit_dropped, fill_common,
 * fill_subject) and before ag_report, whose shape ag_vis_report follows.
 * Userspace mirror: enforcer/kernel/visibility.ts.
 */
#ifndef ARMORGATE_VISIBILITY_H
#define ARMORGATE_VISIBILITY_H

#define AG_EV_LOG          3
#define AG_EV_LOG_DROPPED  4
#define AG_VIS_PODS_MAX    8192

/* agvisconfig, one element (userspace writes it whole) */
struct ag_visconfig {
	__u32 rate_per_sec;    /* logs per cgroup per second; 0 = unlimited */
	__u32 kinds;           /* bit AG_KIND_*: some pod of the node asks for that kind */
};

/* agvis: pod_id -> bit AG_KIND_* per kind the pod's profile asks to see */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AG_VIS_PODS_MAX);
	__type(key, __u32);
	__type(value, __u32);
} agvis SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ag_visconfig);
} agvisconfig SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AG_RATES_MAX);
	__type(key, __u64);
	__type(value, struct ag_rate);
} visrates SEC(".maps");

struct ag_visconfig *ag_visconfig_btf __attribute__((unused));

static __always_inline struct ag_visconfig *get_visconfig(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&agvisconfig, &zero);
}

/* some pod of the node asks to see this kind */
static __always_inline int ag_vis_node(__u32 kind)
{
	struct ag_visconfig *c = get_visconfig();
	return c && ((c->kinds >> (kind & 3)) & 1);
}

/* the acting pod (ag_who filled s->pod) asks to see this kind */
static __always_inline int ag_vis_wants(struct scratch *s, __u32 kind)
{
	if (!ag_vis_node(kind))
		return 0;
	/* the pod's bits, kept with ag_who's memo of the pod (the same epoch covers agvis: userspace
	 * writes it only with the pod's profile, and bumps the epoch after) */
	__u32 bits;
	if (s->wm_state == 1 && s->wm_visok && s->wm_cgid == s->cgid) {
		bits = s->wm_vis;
	} else {
		__u32 id = s->pod.pod_id;
		__u32 *k = bpf_map_lookup_elem(&agvis, &id);
		bits = k ? *k : 0;
		if (s->wm_state == 1 && s->wm_cgid == s->cgid) {
			s->wm_vis = bits;
			s->wm_visok = 1;
		}
	}
	return (bits >> (kind & 3)) & 1;
}

/* The cgroup's visibility-log rate window: 1 when a log may go (and, first, a "logs dropped"
 * event when the last window lost some); 0 when it is over the rate, the log counted as
 * dropped. */
__noinline int ag_vis_take(__u32 unused)
{
	if (unused)
		return 0; /* the argument is used, so callers always set it (6.1 checks) */
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u32 dropped = 0;
	struct ag_visconfig *c = get_visconfig();
	int ok = rate_take(&visrates, c ? c->rate_per_sec : 0, s->cgid, now, &dropped);
	if (dropped)
		emit_dropped(&visrates, s, now, AG_EV_LOG_DROPPED, dropped);
	return ok;
}

/* One visibility log that ag_vis_take let through. target: 0 s->path, 1 the number s->num
 * (as fill_subject). */
__noinline int ag_vis_emit(__u32 hook, __u32 target)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct ag_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		rate_lost(&visrates, s->cgid, 1);
		return 0;
	}
	fill_common(e, s, bpf_ktime_get_ns());
	e->type = AG_EV_LOG;
	e->rule_id = AG_RULE_POSTURE;
	e->err = 0;
	e->hook = hook;
	e->kind = s->kind;
	e->action = 0;
	e->denied = 0;
	fill_subject(e, s, hook, target);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* One visibility log, within the rate. */
static __always_inline void ag_vis_report(__u32 hook, __u32 target)
{
	if (ag_vis_take(0))
		ag_vis_emit(hook, target);
}

/* After a decision (ret: its verdict): a log when the access went ahead and no alert told of
 * it (an Allow rule matched, or nothing matched outside an allow-list), as conclude() decides. */
static __always_inline void ag_vis_after(struct scratch *s, __u32 hook, __u32 target, int ret)
{
	if (ret)
		return;
	__u32 k = s->kind & 3;
	if (s->best_score ? s->best_action != AG_A_ALLOW : (s->pod.allowlist[k] & s->cgmask) != 0)
		return;
	ag_vis_report(hook, target);
}

#endif /* ARMORGATE_VISIBILITY_H */
