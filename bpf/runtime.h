/* The container runtime on its way into a pod (included by armorgate.bpf.c after ag_resolve).
 *
 * A container's first process is not the workload yet: the runtime (runc init, crun's child)
 * enters the pod's cgroup, sets the container up (namespaces, mounts, pivot_root) and only then
 * execs the container's program. runc 1.1 also re-executes itself from a memfd inside the pod's
 * cgroup ("could not ensure we are a cloned binary"), and `runc exec` does the same for every
 * kubectl exec. Judged as the pod's workload, that is an unnameable program (memfd) and host paths:
 * under a process or file allow-list the container could never start. So a process that ENTERS a
 * pod from outside is marked here until its first exec in another mount namespace than the one of
 * the runtime that let it in (the node's); while marked, it is the runtime (ag_who: not the
 * pod's), except for that exec, which is the workload's first program and judged like any.
 *
 * Marked (struct ag_entering, keyed by tgid, checked against the process's start time so that a
 * reused pid is never taken for it):
 *   - a task moved into a cgroup under kubepods by a task that is not in a pod
 *     (raw tracepoint cgroup_attach_task: runc writes the init's pid to cgroup.procs);
 *   - a process born into another cgroup than its parent's, under kubepods, from a parent not in
 *     a pod (clone3 CLONE_INTO_CGROUP: crun);
 *   - a child of a marked process (runc init's nsexec stages), with the parent's namespace.
 * Cleared at the exec that is judged (sched_process_exec in another mount namespace).
 * What a pod's own task cannot do: be moved by a task outside pods (it cannot make the node's
 * runtime move it), move itself (the writer is then in a pod), or ptrace the runtime's process
 * (runc init makes itself non-dumpable; crun's child too). The LRU map losing a mark makes the
 * runtime's process judged as the workload: the start fails, it never opens anything. */
#ifndef AG_RUNTIME_H
#define AG_RUNTIME_H

struct ag_entering {
	__u64 start_time;      /* the process's start time (group leader's), for pid reuse */
	__u32 mntns;           /* inode number of the mount namespace of the runtime that let it in */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct ag_entering);
} entering SEC(".maps");

/* One u64, bumped after every mark is made: a CPU's memo that a process had no mark (scratch
 * rt_*) holds only while it is unchanged. Marks only come with a bump, and a mark going away
 * (the judged exec, the LRU) cannot make "no mark" wrong, so the memo needs nothing else, and
 * no start time: a reused pid gets a mark only with a bump. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rtepoch SEC(".maps");

static __always_inline void rt_mark(__u32 tgid, struct ag_entering *e)
{
	bpf_map_update_elem(&entering, &tgid, e, BPF_ANY);
	ag_epoch_bump(&rtepoch);
}

static __always_inline __u32 mntns_of(struct task_struct *t)
{
	return BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
}

/* 1 when cgroup cg is beneath one of the kubepods roots userspace told */
static __always_inline int under_kubepods(struct scratch *s, struct ag_config *cfg, struct cgroup *cg)
{
	for (int r = 0; r < 2; r++) {
		__u64 kid = cfg->kp_id[r];
		if (kid && kp_chain(s, cg, kid))
			return 1;
	}
	return 0;
}

/* 1 when the current task is in a pod's cgroup (the cached answer, else resolved) */
static __always_inline int current_in_pod(struct scratch *s, struct ag_config *cfg)
{
	__u64 cgid = bpf_get_current_cgroup_id();
	s->cgid = cgid;
	struct ag_cgcache *c = bpf_map_lookup_elem(&cgcache, &cgid);
	if (c && c->kp_gen == cfg->kp_gen)
		return c->flags & AG_CG_POD;
	return ag_resolve(0);
}

/* 1 when the current process is the runtime entering a pod and this check is not the exec
 * that starts the workload (process checks in another mount namespace than the runtime that let it in) */
static __always_inline int runtime_entering(struct scratch *s, struct task_struct *task, __u32 kind)
{
	__u32 tgid = task->tgid; /* the current task's (a BTF pointer): a plain load, no helper call */
	__u32 zero = 0;
	__u64 *ep = bpf_map_lookup_elem(&rtepoch, &zero);
	if (!ep)
		return 0;
	/* the epoch before the lookup (a mark made after it moves the epoch): seqlock-like, as the
	 * open cache reads its sequences */
	__u64 epoch = *(volatile __u64 *)ep;
	if (s->rt_valid && s->rt_tgid == tgid && s->rt_epoch == epoch)
		return 0;
	oc_fence(&s->fence);
	struct ag_entering *e = bpf_map_lookup_elem(&entering, &tgid);
	if (!e) {
		s->rt_tgid = tgid;
		s->rt_epoch = epoch;
		s->rt_valid = 1;
		return 0;
	}
	if (e->start_time != BPF_CORE_READ(task, group_leader, start_time))
		return 0;
	if (kind == AG_KIND_PROCESS && mntns_of(task) != e->mntns)
		return 0;
	return 1;
}

SEC("raw_tp/cgroup_attach_task")
int ag_rt_attach(struct bpf_raw_tracepoint_args *ctx)
{
	/* TP_PROTO(struct cgroup *dst_cgrp, const char *path, struct task_struct *task, bool threadgroup) */
	struct cgroup *dst = (struct cgroup *)ctx->args[0];
	struct task_struct *t = (struct task_struct *)ctx->args[2];
	struct scratch *s = get_scratch();
	struct ag_config *cfg = get_config();
	if (!s || !cfg || !t || !dst)
		return 0;
	if (!under_kubepods(s, cfg, dst) || current_in_pod(s, cfg))
		return 0;
	struct ag_entering e = {};
	e.start_time = BPF_CORE_READ(t, group_leader, start_time);
	/* the namespace of the runtime doing the move (the node's): runc exec moves its init only
	 * once that has joined the container's namespaces, right before the exec of the command */
	e.mntns = mntns_of(bpf_get_current_task_btf());
	__u32 tgid = BPF_CORE_READ(t, tgid);
	rt_mark(tgid, &e);
	return 0;
}

SEC("raw_tp/sched_process_fork")
int ag_rt_fork(struct bpf_raw_tracepoint_args *ctx)
{
	/* TP_PROTO(struct task_struct *parent, struct task_struct *child); parent is current */
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	if (!parent || !child)
		return 0;
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	if (ptgid == ctgid)
		return 0; /* a thread */
	struct ag_entering e = {};
	e.start_time = BPF_CORE_READ(child, start_time);
	struct ag_entering *pe = bpf_map_lookup_elem(&entering, &ptgid);
	if (pe && pe->start_time == BPF_CORE_READ(parent, group_leader, start_time)) {
		e.mntns = pe->mntns;
	} else {
		struct cgroup *cc = BPF_CORE_READ(child, cgroups, dfl_cgrp);
		struct cgroup *pc = BPF_CORE_READ(parent, cgroups, dfl_cgrp);
		if (!cc || cc == pc)
			return 0;
		struct scratch *s = get_scratch();
		struct ag_config *cfg = get_config();
		if (!s || !cfg || !under_kubepods(s, cfg, cc) || current_in_pod(s, cfg))
			return 0;
		e.mntns = mntns_of(parent);
	}
	rt_mark(ctgid, &e);
	return 0;
}

/* at sched_process_exec: an exec in another mount namespace than the runtime that let it in was the
 * workload's first (judged by ag_exec): from now on the process is the pod's */
static __always_inline void runtime_exec_done(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct ag_entering *e = bpf_map_lookup_elem(&entering, &tgid);
	if (e && mntns_of(bpf_get_current_task_btf()) != e->mntns)
		bpf_map_delete_elem(&entering, &tgid);
}

#endif
