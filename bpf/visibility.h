/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * ArmorGate visibility logs (KubeArmor's `kubearmor-visibility`): an access of a kind a pod's
 * profile asks to see (process: exec, file: open, network: socket, capabilities: capable) that
 * went ahead without an alert becomes an AG_EV_LOG event. Decided here, in the kernel: a pod
 * or a kind nobody asked for never reaches the ring buffer, and no pod on the node asking for
 * a kind leaves that kind's hooks on their fast paths (agvisconfig.kinds). Rate-limited per
 * cgroup apart from alerts (visrates), with a counted AG_EV_LOG_DROPPED event.
 *
 * Included by armorgate.bpf.c after fmt_number and before ag_report (it uses the scratch,
 * the events ring buffer, fill_common and the executable cache; ag_report uses ag_sock_get).
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

/* the arguments of the socket() being decided on this CPU: family | type << 8 | protocol << 16 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sockargs SEC(".maps");

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
	__u32 id = s->pod.pod_id;
	__u32 *k = bpf_map_lookup_elem(&agvis, &id);
	return k && ((*k >> (kind & 3)) & 1);
}

static __always_inline void ag_sock_set(int family, int type, int protocol)
{
	__u32 zero = 0;
	__u32 *v = bpf_map_lookup_elem(&sockargs, &zero);
	if (v)
		*v = ((__u32)family & 0xff) | (((__u32)type & 0xff) << 8) | (((__u32)protocol & 0xffff) << 16);
}

static __always_inline __u32 ag_sock_get(void)
{
	__u32 zero = 0;
	__u32 *v = bpf_map_lookup_elem(&sockargs, &zero);
	return v ? *v : 0;
}

static __always_inline int vis_rate_ok(__u64 cgid, __u64 now, __u32 *dropped_out)
{
	struct ag_visconfig *c = get_visconfig();
	__u32 limit = c ? c->rate_per_sec : 0;
	if (!limit)
		return 1;
	struct ag_rate *r = bpf_map_lookup_elem(&visrates, &cgid);
	if (!r) {
		struct ag_rate fresh = { .window_ns = now, .count = 1 };
		bpf_map_update_elem(&visrates, &cgid, &fresh, BPF_ANY);
		return 1;
	}
	if (now - r->window_ns >= 1000000000ULL) {
		*dropped_out = r->dropped;
		r->window_ns = now;
		r->count = 1;
		r->dropped = 0;
		return 1;
	}
	if (r->count >= limit) {
		__sync_fetch_and_add(&r->dropped, 1);
		return 0;
	}
	__sync_fetch_and_add(&r->count, 1);
	return 1;
}

/* One visibility log (and, first, a "logs dropped" event when the last window lost some).
 * target: 0 s->path, 1 the number s->num (as ag_report). */
__noinline int ag_vis_report(__u32 hook, __u32 target)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u32 dropped = 0;
	int ok = vis_rate_ok(s->cgid, now, &dropped);
	if (dropped) {
		struct ag_event *d = bpf_ringbuf_reserve(&events, sizeof(*d), 0);
		if (d) {
			fill_common(d, s, now);
			d->type = AG_EV_LOG_DROPPED;
			d->dropped = dropped;
			d->rule_id = AG_RULE_POSTURE;
			d->err = 0;
			d->hook = 0;
			d->kind = s->kind;
			d->action = 0;
			d->denied = 0;
			d->exe[0] = 0;
			d->source[0] = 0;
			d->target[0] = 0;
			bpf_ringbuf_submit(d, 0);
		}
	}
	if (!ok)
		return 0;
	struct ag_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	fill_common(e, s, now);
	e->type = AG_EV_LOG;
	e->rule_id = AG_RULE_POSTURE;
	e->err = 0;
	e->dropped = hook == AG_H_SOCKET ? ag_sock_get() : 0;
	e->hook = hook;
	e->kind = s->kind;
	e->action = 0;
	e->denied = 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct ag_exe *x = ag_exe_cached(0) ? bpf_map_lookup_elem(&exes, &tgid) : 0;
	if (x)
		bpf_probe_read_kernel_str(e->exe, AG_PATH_MAX, x->path);
	else
		bpf_get_current_comm(e->exe, AG_COMM_LEN);
	bpf_probe_read_kernel_str(e->source, AG_PATH_MAX, e->exe);
	if (target == 1)
		fmt_number(e->target, s->num);
	else
		bpf_probe_read_kernel_str(e->target, AG_PATH_MAX, s->path);
	bpf_ringbuf_submit(e, 0);
	return 0;
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
