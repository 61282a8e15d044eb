// SPDX-License-Identifier: GPL-2.0
/*
 * ArmorGate BPF-LSM programs. One decision function (ag_decide_*), two thin
 * entry points per hook: lsm_cgroup/ (BPF_LSM_CGROUP, 1 allow / 0 deny) and
 * lsm/ (BPF_LSM_MAC, 0 / -EPERM). Which hooks and why: bpf/armorgate.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "armorgate.h"

char LICENSE[] SEC("license") = "GPL";

#define EPERM 1
#define FMODE_WRITE 0x2
#define AG_O_TRUNC 01000
#define PF_KTHREAD 0x00200000
#define AF_INET 2
#define AF_INET6 10
#define AF_PACKET 17
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define SOCK_RAW 3
#define SOCK_RDM 4
#define SOCK_SEQPACKET 5
#define SOCK_DCCP 6
#define SOCK_PACKET 10
#define SOCK_TYPE_MASK 0xf
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_DCCP 33
#define IPPROTO_ICMPV6 58
#define IPPROTO_SCTP 132

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define PATH_MASK (AG_PATH_MAX - 1)
#define NAME_MAX_LEN 256

/* ---------------------------------------------------------------- maps */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ag_uid);
	__type(value, struct ag_pod);
} pods SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ag_rule_key);
	__type(value, struct ag_rule_val);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ag_src_key);
	__type(value, struct ag_src_val);
} sources SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct ag_cgroup);
} cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct ag_exe);
} exes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct ag_exe);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct ag_rate);
} rates SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ag_config);
} agconfig SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/* per-CPU scratch: buffers too large for the 512-byte stack */
struct scratch {
	char path[AG_PATH_MAX * 2];
	char tmp[AG_PATH_MAX * 2];
	char name[128];
	__u64 hashes[AG_MAX_DEPTH];
	__u32 ends[AG_MAX_DEPTH];
	struct ag_uid uid;
	struct ag_cgroup cg;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* make the event layout part of the object's BTF (checked by test/kernel) */
struct ag_event *ag_event_btf __attribute__((unused));

/* ------------------------------------------------------------- context */
struct who {
	struct ag_pod pod;
	__u64 cgid;
	__u32 cgmask;
	__u32 src_ok;          /* source hash validated for this pod generation */
	__u64 src_hash;
	struct ag_exe *exe;    /* cached executable, may be NULL */
};

struct best {
	__u32 score;
	__u32 rule_id;
	__u8 action;
};

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch_map, &zero);
}

static __always_inline int uid_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-' || c == '_';
}

/* Pod UID from a cgroup directory name: "pod<uid>" (cgroupfs) or
 * "...-pod<uid with _>.slice" (systemd). Writes 36 chars + NUL to out. */
static __always_inline int parse_pod_name(const char *n, int len, char *out)
{
	int start = -1;
	if (len == 39 && n[0] == 'p' && n[1] == 'o' && n[2] == 'd') {
		start = 3;
	} else if (len >= 45 && len < 120) {
		int e = len - 6;
		if (n[e & 127] != '.' || n[(e + 1) & 127] != 's' || n[(e + 2) & 127] != 'l' ||
		    n[(e + 3) & 127] != 'i' || n[(e + 4) & 127] != 'c' || n[(e + 5) & 127] != 'e')
			return 0;
		int s = e - 36;
		if (n[(s - 3) & 127] != 'p' || n[(s - 2) & 127] != 'o' || n[(s - 1) & 127] != 'd')
			return 0;
		start = s;
	}
	if (start < 0)
		return 0;
	for (int i = 0; i < 36; i++) {
		char c = n[(start + i) & 127];
		if (!uid_char(c))
			return 0;
		out[i] = c == '_' ? '-' : c;
	}
	for (int i = 36; i < AG_UID_LEN; i++)
		out[i] = 0;
	return 1;
}

struct kernfs_node___old {
	struct kernfs_node *parent;
};
struct kernfs_node___new {
	struct kernfs_node *__parent;
};

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(((struct kernfs_node___new *)0)->__parent)) {
		struct kernfs_node___new *k = (void *)kn;
		return BPF_CORE_READ(k, __parent);
	}
	struct kernfs_node___old *k = (void *)kn;
	return BPF_CORE_READ(k, parent);
}

/* Resolve the current task's cgroup to a pod by walking the cgroup names up. */
static __always_inline void resolve_cgroup(struct scratch *s, __u64 cgid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct kernfs_node *kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
	__builtin_memset(&s->cg, 0, sizeof(s->cg));
	s->cg.containers = AG_EVERY;
	for (int i = 0; i < 8 && kn; i++) {
		const char *name = BPF_CORE_READ(kn, name);
		int n = bpf_probe_read_kernel_str(s->name, sizeof(s->name), name);
		if (n > 1 && parse_pod_name(s->name, n - 1, s->cg.uid)) {
			s->cg.flags = AG_CG_POD;
			break;
		}
		kn = kn_parent(kn);
	}
	bpf_map_update_elem(&cgroups, &cgid, &s->cg, BPF_NOEXIST);
}

static __always_inline __u64 fnv_str(const char *p, int max)
{
	__u64 h = FNV_OFFSET;
	for (int i = 0; i < AG_PATH_MAX; i++) {
		if (i >= max)
			break;
		char c = p[i & PATH_MASK];
		if (!c)
			break;
		h = (h ^ (__u8)c) * FNV_PRIME;
	}
	return h;
}

/* Who is acting: pod (copied), container mask, executable. 0 when not a pod. */
static __always_inline int current_who(struct scratch *s, struct who *w, int kind)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (BPF_CORE_READ(task, flags) & PF_KTHREAD)
		return 0;
	__u64 cgid = bpf_get_current_cgroup_id();
	struct ag_cgroup *cg = bpf_map_lookup_elem(&cgroups, &cgid);
	if (!cg) {
		resolve_cgroup(s, cgid);
		cg = bpf_map_lookup_elem(&cgroups, &cgid);
		if (!cg)
			cg = &s->cg;
	}
	if (!(cg->flags & AG_CG_POD))
		return 0;
	__builtin_memcpy(s->uid.uid, cg->uid, AG_UID_LEN);
	struct ag_pod *pod = bpf_map_lookup_elem(&pods, &s->uid);
	if (!pod)
		return 0;
	__builtin_memcpy(&w->pod, pod, sizeof(w->pod));
	w->cgid = cgid;
	w->cgmask = cg->containers;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	w->exe = bpf_map_lookup_elem(&exes, &tgid);
	w->src_ok = 0;
	w->src_hash = 0;
	if (w->exe && kind >= 0 && kind < 4 && w->pod.has_source[kind & 3]) {
		struct ag_src_key sk = {};
		sk.src_hash = fnv_str(w->exe->path, AG_PATH_MAX);
		sk.pod_id = w->pod.pod_id;
		sk.gen = w->pod.gen;
		struct ag_src_val *sv = bpf_map_lookup_elem(&sources, &sk);
		if (sv) {
			int same = 1;
			for (int i = 0; i < AG_PATH_MAX; i++) {
				char a = sv->path[i];
				if (a != w->exe->path[i]) {
					same = 0;
					break;
				}
				if (!a)
					break;
			}
			if (same) {
				w->src_ok = 1;
				w->src_hash = sk.src_hash;
			}
		}
	}
	return 1;
}

/* ---------------------------------------------------------- rule match */
static __always_inline int qualifies(struct ag_rule_ent *e, int kind, int write, int owner)
{
	int restricts = e->action != AG_A_ALLOW;
	if ((e->flags & AG_F_READONLY) && kind == AG_KIND_FILE && (!!write) != restricts)
		return 0;
	if ((e->flags & AG_F_OWNERONLY) && (!!owner) == restricts)
		return 0;
	return 1;
}

/* dirmode: 0 exact/other, 1 directory where the path is a direct child or the
 * directory itself, 2 directory where the path is deeper (recursive only). */
static __always_inline void consider(struct ag_rule_val *v, struct who *w, int kind, int write, int owner,
				     __u32 rank, int dirmode, struct best *b)
{
#pragma unroll
	for (int i = 0; i < AG_MAX_ENT; i++) {
		struct ag_rule_ent *e = &v->ent[i];
		if (!(e->flags & AG_F_VALID))
			break;
		if (!(e->containers & w->cgmask))
			continue;
		if (dirmode == 2 && !(e->flags & AG_F_RECURSIVE))
			continue;
		if (!qualifies(e, kind, write, owner))
			continue;
		__u32 score = (rank << 4) | e->action;
		if (score > b->score) {
			b->score = score;
			b->rule_id = e->rule_id;
			b->action = e->action;
		}
	}
}

/* true when v->path equals the first n bytes of p followed by extra (0 or '/') */
static __always_inline int same_prefix(struct ag_rule_val *v, const char *p, __u32 n, char extra)
{
	for (int i = 0; i < AG_PATH_MAX; i++) {
		if (i >= n)
			break;
		if (v->path[i] != p[i & PATH_MASK])
			return 0;
	}
	if (n >= AG_PATH_MAX - 1)
		return 0;
	if (extra) {
		if (v->path[n & PATH_MASK] != extra)
			return 0;
		return v->path[(n + 1) & PATH_MASK] == 0;
	}
	return v->path[n & PATH_MASK] == 0;
}

static __always_inline struct ag_rule_val *lookup_rule(struct who *w, int kind, int ttype, __u64 hash, int with_src)
{
	struct ag_rule_key k = {};
	k.hash = hash;
	k.src_hash = with_src ? w->src_hash : 0;
	k.pod_id = w->pod.pod_id;
	k.gen = w->pod.gen;
	k.kind = kind;
	k.ttype = ttype;
	return bpf_map_lookup_elem(&rules, &k);
}

/* Path rules (process and file) for one source variant. s->path holds the
 * NUL-terminated full path of length len. */
static __always_inline void match_path(struct scratch *s, struct who *w, int kind, int write, int owner,
				       int len, int with_src, struct best *b)
{
	__u32 srcbit = with_src ? (1u << 20) : 0;
	/* one pass: hash of every directory prefix (ending with '/') and of the whole path */
	__u64 h = FNV_OFFSET;
	int depth = 0;
	for (int i = 0; i < AG_PATH_MAX; i++) {
		if (i >= len)
			break;
		char c = s->path[i & PATH_MASK];
		h = (h ^ (__u8)c) * FNV_PRIME;
		if (c == '/' && depth < AG_MAX_DEPTH) {
			s->hashes[depth & (AG_MAX_DEPTH - 1)] = h;
			s->ends[depth & (AG_MAX_DEPTH - 1)] = i + 1;
			depth++;
		}
	}
	/* exact path */
	struct ag_rule_val *v = lookup_rule(w, kind, AG_T_PATH, h, with_src);
	if (v && same_prefix(v, s->path, len, 0))
		consider(v, w, kind, write, owner, srcbit | 0xffff, 0, b);
	/* execname: base name of the path */
	if (kind == AG_KIND_PROCESS && depth > 0) {
		__u32 st = s->ends[(depth - 1) & (AG_MAX_DEPTH - 1)];
		__u64 hn = fnv_str(s->path + (st & PATH_MASK), len - st);
		v = lookup_rule(w, kind, AG_T_EXECNAME, hn, with_src);
		if (v) {
			int same = 1;
			for (int i = 0; i < 256; i++) {
				if (st + i >= len) {
					same = v->path[i] == 0;
					break;
				}
				if (v->path[i] != s->path[(st + i) & PATH_MASK]) {
					same = 0;
					break;
				}
			}
			if (same)
				consider(v, w, kind, write, owner, srcbit | 0xffff, 0, b);
		}
	}
	/* the path itself as a directory ("/etc/ssl" under a rule on "/etc/ssl/") */
	if (len > 0 && len < AG_PATH_MAX - 1 && s->path[(len - 1) & PATH_MASK] != '/') {
		__u64 hd = (h ^ (__u8)'/') * FNV_PRIME;
		v = lookup_rule(w, kind, AG_T_DIR, hd, with_src);
		if (v && same_prefix(v, s->path, len, '/'))
			consider(v, w, kind, write, owner, srcbit | (__u32)(depth + 1), 1, b);
	}
	/* every directory above the path; the last one is the parent */
	for (int d = 0; d < AG_MAX_DEPTH; d++) {
		if (d >= depth)
			break;
		__u32 end = s->ends[d & (AG_MAX_DEPTH - 1)];
		/* a path ending with '/' names the directory itself at its last level */
		int parent = d == depth - 1 || (d == depth - 2 && s->path[(len - 1) & PATH_MASK] == '/');
		v = lookup_rule(w, kind, AG_T_DIR, s->hashes[d & (AG_MAX_DEPTH - 1)], with_src);
		if (v && same_prefix(v, s->path, end, 0))
			consider(v, w, kind, write, owner, srcbit | (__u32)d, parent ? 1 : 2, b);
	}
}

/* ----------------------------------------------------------- reporting */
static __always_inline int rate_ok(__u64 cgid, __u64 now, __u32 *dropped_out)
{
	__u32 zero = 0;
	struct ag_config *cfg = bpf_map_lookup_elem(&agconfig, &zero);
	__u32 limit = cfg ? cfg->rate_per_sec : 0;
	if (!limit)
		return 1;
	struct ag_rate *r = bpf_map_lookup_elem(&rates, &cgid);
	if (!r) {
		struct ag_rate fresh = { .window_ns = now, .count = 1 };
		bpf_map_update_elem(&rates, &cgid, &fresh, BPF_ANY);
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

static __always_inline void fill_common(struct ag_event *e, struct who *w, struct task_struct *task, __u64 now)
{
	e->time_ns = now;
	e->cgroup_id = w->cgid;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->gen = w->pod.gen;
}

static __always_inline void report(struct scratch *s, struct who *w, int hook, int kind, int action, __u32 rule_id,
				   int denied, const char *target)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 now = bpf_ktime_get_ns();
	__u32 dropped = 0;
	int ok = rate_ok(w->cgid, now, &dropped);
	if (dropped) {
		struct ag_event *d = bpf_ringbuf_reserve(&events, sizeof(*d), 0);
		if (d) {
			fill_common(d, w, task, now);
			d->type = AG_EV_DROPPED;
			d->dropped = dropped;
			d->rule_id = AG_RULE_POSTURE;
			d->err = 0;
			d->hook = 0;
			d->kind = kind;
			d->action = 0;
			d->denied = 0;
			d->exe[0] = 0;
			d->source[0] = 0;
			d->target[0] = 0;
			__builtin_memcpy(d->pod_uid, s->uid.uid, AG_UID_LEN);
			bpf_ringbuf_submit(d, 0);
		}
	}
	if (!ok)
		return;
	struct ag_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return;
	fill_common(e, w, task, now);
	e->type = AG_EV_DECISION;
	e->rule_id = rule_id;
	e->err = denied ? -EPERM : 0;
	e->dropped = 0;
	e->hook = hook;
	e->kind = kind;
	e->action = action;
	e->denied = denied;
	__builtin_memcpy(e->pod_uid, s->uid.uid, AG_UID_LEN);
	if (w->exe) {
		bpf_probe_read_kernel_str(e->exe, AG_PATH_MAX, w->exe->path);
	} else {
		bpf_get_current_comm(e->exe, AG_COMM_LEN);
	}
	if (w->src_ok)
		bpf_probe_read_kernel_str(e->source, AG_PATH_MAX, w->exe ? w->exe->path : e->exe);
	else
		bpf_probe_read_kernel_str(e->source, AG_PATH_MAX, e->exe);
	if (target)
		bpf_probe_read_kernel_str(e->target, AG_PATH_MAX, target);
	else
		e->target[0] = 0;
	bpf_ringbuf_submit(e, 0);
}

/* Final verdict from the best match (or posture). 0 allow, -EPERM deny. */
static __always_inline int conclude(struct scratch *s, struct who *w, int hook, int kind, struct best *b,
				    const char *target)
{
	int k = kind & 3;
	if (b->score) {
		if (b->action == AG_A_ALLOW)
			return 0;
		int deny = b->action == AG_A_BLOCK;
		report(s, w, hook, kind, b->action, b->rule_id, deny, target);
		return deny ? -EPERM : 0;
	}
	if (w->pod.allowlist[k] & w->cgmask) {
		int deny = w->pod.posture[k] == AG_A_BLOCK;
		report(s, w, hook, kind, deny ? AG_A_BLOCK : AG_A_AUDIT, AG_RULE_POSTURE, deny, target);
		return deny ? -EPERM : 0;
	}
	return 0;
}

/* A path that could not be resolved: denied when the kind has Block rules or
 * is in allow-list mode; never an allow by accident. */
static __always_inline int unresolved(struct scratch *s, struct who *w, int hook, int kind)
{
	int k = kind & 3;
	if ((w->pod.allowlist[k] | w->pod.has_block[k]) & w->cgmask) {
		report(s, w, hook, kind, AG_A_BLOCK, AG_RULE_POSTURE, 1, "<unresolved path>");
		return -EPERM;
	}
	return 0;
}

/* ------------------------------------------------------ decision: paths */
static __always_inline int decide_path(struct scratch *s, struct who *w, int hook, int kind, int write, int owner,
				       long len)
{
	if (len <= 0 || len >= AG_PATH_MAX)
		return unresolved(s, w, hook, kind);
	s->path[len & PATH_MASK] = 0;
	struct best b = {};
	match_path(s, w, kind, write, owner, len, 0, &b);
	if (w->src_ok)
		match_path(s, w, kind, write, owner, len, 1, &b);
	return conclude(s, w, hook, kind, &b, s->path);
}

/* bpf_d_path result (length with NUL, or <0) to a path length */
static __always_inline long dpath_len(long n)
{
	return n > 0 ? n - 1 : -1;
}

/* dir path + '/' + name into s->path; returns the length or -1 */
static __always_inline long join_name(struct scratch *s, long dirlen, struct dentry *dentry)
{
	if (dirlen <= 0 || dirlen >= AG_PATH_MAX - 2)
		return -1;
	long pos = dirlen;
	if (!(dirlen == 1 && s->path[0] == '/')) {
		s->path[pos & PATH_MASK] = '/';
		pos++;
	}
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	long m = bpf_probe_read_kernel_str(s->path + (pos & PATH_MASK), AG_PATH_MAX, name);
	if (m <= 1)
		return -1;
	long total = pos + m - 1;
	if (total >= AG_PATH_MAX)
		return -1;
	return total;
}

/* Mount-aware walk from (vfsmount, dentry) up to the task's root, for hooks
 * where bpf_d_path is not allowed. Writes the path into s->path. */
static __always_inline long walk_path(struct scratch *s, struct vfsmount *vmnt, struct dentry *dentry)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct dentry *root_d = BPF_CORE_READ(task, fs, root.dentry);
	struct vfsmount *root_m = BPF_CORE_READ(task, fs, root.mnt);
	struct mount *mnt = container_of(vmnt, struct mount, mnt);
	long pos = AG_PATH_MAX;
	int done = 0;
	for (int i = 0; i < AG_MAX_DEPTH * 2; i++) {
		if (dentry == root_d && vmnt == root_m) {
			done = 1;
			break;
		}
		struct dentry *mroot = BPF_CORE_READ(vmnt, mnt_root);
		if (dentry == mroot) {
			struct mount *parent = BPF_CORE_READ(mnt, mnt_parent);
			if (parent == mnt) {
				done = 1;
				break;
			}
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = parent;
			vmnt = &parent->mnt;
			continue;
		}
		struct dentry *up = BPF_CORE_READ(dentry, d_parent);
		if (up == dentry) {
			done = 1;
			break;
		}
		__u32 nlen = BPF_CORE_READ(dentry, d_name.len);
		const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
		if (nlen == 0 || nlen >= NAME_MAX_LEN || pos - (long)nlen - 1 < 0)
			return -1;
		pos -= nlen;
		bpf_probe_read_kernel(s->tmp + (pos & PATH_MASK), nlen & (NAME_MAX_LEN - 1), name);
		pos -= 1;
		s->tmp[pos & PATH_MASK] = '/';
		dentry = up;
	}
	if (!done)
		return -1;
	if (pos == AG_PATH_MAX) {
		s->path[0] = '/';
		return 1;
	}
	long len = AG_PATH_MAX - pos;
	if (len >= AG_PATH_MAX || len <= 0)
		return -1;
	bpf_probe_read_kernel(s->path, len & PATH_MASK, s->tmp + (pos & PATH_MASK));
	return len;
}

static __always_inline int owner_of(struct dentry *d)
{
	struct inode *ino = BPF_CORE_READ(d, d_inode);
	if (!ino)
		return 1;
	__u32 fsuid = (__u32)bpf_get_current_uid_gid();
	return BPF_CORE_READ(ino, i_uid.val) == fsuid;
}

/* ------------------------------------------------- decision: each hook */
static __always_inline int ag_exec(struct linux_binprm *bprm)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct who w;
	if (!current_who(s, &w, AG_KIND_PROCESS))
		return 0;
	struct file *f = bprm->file;
	long len = dpath_len(bpf_d_path((struct path *)&f->f_path, s->path, AG_PATH_MAX));
	int owner = owner_of(BPF_CORE_READ(f, f_path.dentry));
	int ret = decide_path(s, &w, AG_H_EXEC, AG_KIND_PROCESS, 0, owner, len);
	if (ret == 0 && len > 0 && len < AG_PATH_MAX) {
		/* remember the new image; committed at sched_process_exec */
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		bpf_map_update_elem(&pending, &tgid, s->path, BPF_ANY);
	}
	return ret;
}

static __always_inline int ag_open(struct file *file)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct who w;
	if (!current_who(s, &w, AG_KIND_FILE))
		return 0;
	int write = (BPF_CORE_READ(file, f_mode) & FMODE_WRITE) || (BPF_CORE_READ(file, f_flags) & AG_O_TRUNC);
	long len = dpath_len(bpf_d_path((struct path *)&file->f_path, s->path, AG_PATH_MAX));
	int owner = owner_of(BPF_CORE_READ(file, f_path.dentry));
	return decide_path(s, &w, AG_H_OPEN, AG_KIND_FILE, write, owner, len);
}

/* a change below a directory path: dir + '/' + dentry name */
static __always_inline int ag_dir_change(const struct path *dir, struct dentry *dentry, int hook)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct who w;
	if (!current_who(s, &w, AG_KIND_FILE))
		return 0;
	long len = join_name(s, dpath_len(bpf_d_path((struct path *)dir, s->path, AG_PATH_MAX)), dentry);
	return decide_path(s, &w, hook, AG_KIND_FILE, 1, owner_of(dentry), len);
}

/* a change of the object at a path */
static __always_inline int ag_path_change(const struct path *path, int hook)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct who w;
	if (!current_who(s, &w, AG_KIND_FILE))
		return 0;
	long len = dpath_len(bpf_d_path((struct path *)path, s->path, AG_PATH_MAX));
	return decide_path(s, &w, hook, AG_KIND_FILE, 1, owner_of(BPF_CORE_READ(path, dentry)), len);
}

/* creation where bpf_d_path is not allowed (path_mknod), or the existing name of a link */
static __always_inline int ag_walk_change(struct vfsmount *mnt, struct dentry *dentry, int hook)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct who w;
	if (!current_who(s, &w, AG_KIND_FILE))
		return 0;
	long len = walk_path(s, mnt, dentry);
	return decide_path(s, &w, hook, AG_KIND_FILE, 1, owner_of(dentry), len);
}

static __always_inline __u32 socket_protocols(int family, int type, int protocol)
{
	__u32 m = 1u << AG_P_ALL;
	type &= SOCK_TYPE_MASK;
	if (family == AF_PACKET || type == SOCK_PACKET)
		return m | (1u << AG_P_PACKET) | (type == SOCK_RAW ? 1u << AG_P_RAW : 0) |
		       (type == SOCK_DGRAM ? 1u << AG_P_DGRAM : 0);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (type == SOCK_STREAM) {
		m |= 1u << AG_P_STREAM;
		if (protocol == 0 || protocol == IPPROTO_TCP)
			m |= 1u << AG_P_TCP;
	}
	if (type == SOCK_DGRAM) {
		m |= 1u << AG_P_DGRAM;
		if (protocol == 0 || protocol == IPPROTO_UDP)
			m |= 1u << AG_P_UDP;
	}
	if (type == SOCK_RAW)
		m |= 1u << AG_P_RAW;
	if (type == SOCK_RDM)
		m |= 1u << AG_P_RDM;
	if (type == SOCK_SEQPACKET)
		m |= 1u << AG_P_SEQPACKET;
	if (type == SOCK_DCCP || protocol == IPPROTO_DCCP)
		m |= 1u << AG_P_DCCP;
	if (protocol == IPPROTO_SCTP)
		m |= 1u << AG_P_SCTP;
	if (protocol == IPPROTO_ICMP && family == AF_INET)
		m |= 1u << AG_P_ICMP;
	if (protocol == IPPROTO_ICMPV6 && family == AF_INET6)
		m |= 1u << AG_P_ICMPV6;
	if (protocol == IPPROTO_TCP)
		m |= 1u << AG_P_TCP;
	if (protocol == IPPROTO_UDP)
		m |= 1u << AG_P_UDP;
	return m;
}

static __always_inline void match_numbers(struct who *w, int kind, int ttype, __u32 set, __u32 value, int with_src,
					  struct best *b)
{
	__u32 srcbit = with_src ? (1u << 20) : 0;
	for (int i = 0; i < AG_P_COUNT; i++) {
		__u64 key;
		if (ttype == AG_T_PROTO) {
			if (!(set & (1u << i)))
				continue;
			key = i;
		} else {
			if (i > 0)
				break;
			key = value;
		}
		struct ag_rule_val *v = lookup_rule(w, kind, ttype, key, with_src);
		if (v)
			consider(v, w, kind, 0, 1, srcbit, 0, b);
	}
}

/* decimal of a number into s->tmp (event target for sockets and capabilities) */
static __always_inline void fmt_number(struct scratch *s, __u32 n)
{
	char d[16] = {};
	int k = 0;
	for (int i = 0; i < 10; i++) {
		d[i] = '0' + n % 10;
		n /= 10;
		k = i + 1;
		if (!n)
			break;
	}
	for (int i = 0; i < 10; i++) {
		if (i >= k)
			break;
		s->tmp[i] = d[(k - 1 - i) & 15];
	}
	s->tmp[k & 15] = 0;
}

static __always_inline int ag_socket(int family, int type, int protocol, int kern)
{
	if (kern)
		return 0;
	__u32 set = socket_protocols(family, type, protocol);
	if (!set)
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct who w;
	if (!current_who(s, &w, AG_KIND_NETWORK))
		return 0;
	struct best b = {};
	match_numbers(&w, AG_KIND_NETWORK, AG_T_PROTO, set, 0, 0, &b);
	if (w.src_ok)
		match_numbers(&w, AG_KIND_NETWORK, AG_T_PROTO, set, 0, 1, &b);
	/* target: the protocol set, formatted by userspace */
	fmt_number(s, set);
	return conclude(s, &w, AG_H_SOCKET, AG_KIND_NETWORK, &b, s->tmp);
}

static __always_inline int ag_capable(int cap)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct who w;
	if (!current_who(s, &w, AG_KIND_CAPABILITIES))
		return 0;
	struct best b = {};
	match_numbers(&w, AG_KIND_CAPABILITIES, AG_T_CAP, 0, (__u32)cap, 0, &b);
	if (w.src_ok)
		match_numbers(&w, AG_KIND_CAPABILITIES, AG_T_CAP, 0, (__u32)cap, 1, &b);
	fmt_number(s, (__u32)cap);
	return conclude(s, &w, AG_H_CAPABLE, AG_KIND_CAPABILITIES, &b, s->tmp);
}

/* ---------------------------------------------------------- entry points */
#define CG(r) ((r) == 0 ? 1 : 0)

SEC("lsm_cgroup/bprm_check_security")
int BPF_PROG(ag_cg_exec, struct linux_binprm *bprm) { return CG(ag_exec(bprm)); }
SEC("lsm/bprm_check_security")
int BPF_PROG(ag_mac_exec, struct linux_binprm *bprm) { return ag_exec(bprm); }

SEC("lsm_cgroup/file_open")
int BPF_PROG(ag_cg_open, struct file *file) { return CG(ag_open(file)); }
SEC("lsm/file_open")
int BPF_PROG(ag_mac_open, struct file *file) { return ag_open(file); }

SEC("lsm_cgroup/socket_create")
int BPF_PROG(ag_cg_socket, int family, int type, int protocol, int kern) { return CG(ag_socket(family, type, protocol, kern)); }
SEC("lsm/socket_create")
int BPF_PROG(ag_mac_socket, int family, int type, int protocol, int kern) { return ag_socket(family, type, protocol, kern); }

SEC("lsm_cgroup/capable")
int BPF_PROG(ag_cg_capable, const struct cred *cred, struct user_namespace *ns, int cap, unsigned int opts)
{
	return CG(ag_capable(cap));
}
SEC("lsm/capable")
int BPF_PROG(ag_mac_capable, const struct cred *cred, struct user_namespace *ns, int cap, unsigned int opts)
{
	return ag_capable(cap);
}

/* namespace-changing hooks: BPF_LSM_MAC in both modes (see armorgate.h) */
SEC("lsm/path_mknod")
int BPF_PROG(ag_mknod, const struct path *dir, struct dentry *dentry, umode_t mode, unsigned int dev)
{
	return ag_walk_change(BPF_CORE_READ(dir, mnt), dentry, AG_H_CREATE);
}
SEC("lsm/path_mkdir")
int BPF_PROG(ag_mkdir, const struct path *dir, struct dentry *dentry, umode_t mode)
{
	return ag_dir_change(dir, dentry, AG_H_MKDIR);
}
SEC("lsm/path_rmdir")
int BPF_PROG(ag_rmdir, const struct path *dir, struct dentry *dentry) { return ag_dir_change(dir, dentry, AG_H_RMDIR); }
SEC("lsm/path_unlink")
int BPF_PROG(ag_unlink, const struct path *dir, struct dentry *dentry) { return ag_dir_change(dir, dentry, AG_H_UNLINK); }
SEC("lsm/path_symlink")
int BPF_PROG(ag_symlink, const struct path *dir, struct dentry *dentry, const char *old_name)
{
	return ag_dir_change(dir, dentry, AG_H_SYMLINK);
}
SEC("lsm/path_link")
int BPF_PROG(ag_link, struct dentry *old_dentry, const struct path *new_dir, struct dentry *new_dentry)
{
	int r = ag_dir_change(new_dir, new_dentry, AG_H_LINK);
	if (r)
		return r;
	/* the existing name too: linking a protected file elsewhere would open a way around it */
	return ag_walk_change(BPF_CORE_READ(new_dir, mnt), old_dentry, AG_H_LINK);
}
SEC("lsm/path_rename")
int BPF_PROG(ag_rename, const struct path *old_dir, struct dentry *old_dentry, const struct path *new_dir,
	     struct dentry *new_dentry)
{
	int r = ag_dir_change(old_dir, old_dentry, AG_H_RENAME);
	if (r)
		return r;
	return ag_dir_change(new_dir, new_dentry, AG_H_RENAME);
}
SEC("lsm/path_truncate")
int BPF_PROG(ag_truncate, const struct path *path) { return ag_path_change(path, AG_H_TRUNCATE); }
SEC("lsm/path_chmod")
int BPF_PROG(ag_chmod, const struct path *path) { return ag_path_change(path, AG_H_CHMOD); }
SEC("lsm/path_chown")
int BPF_PROG(ag_chown, const struct path *path) { return ag_path_change(path, AG_H_CHOWN); }

/* executable cache: commit after a successful exec, inherit across fork */
SEC("tracepoint/sched/sched_process_exec")
int ag_tp_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct ag_exe *p = bpf_map_lookup_elem(&pending, &tgid);
	if (!p)
		return 0;
	bpf_map_update_elem(&exes, &tgid, p, BPF_ANY);
	bpf_map_delete_elem(&pending, &tgid);
	return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int ag_tp_fork(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct ag_exe *p = bpf_map_lookup_elem(&exes, &tgid);
	if (!p)
		return 0;
	__u32 zero = 0;
	struct ag_config *cfg = bpf_map_lookup_elem(&agconfig, &zero);
	/* child_pid's offset in the tracepoint record: comm as char[16] (older
	 * kernels) or as __data_loc (newer); userspace reads the format file */
	__u32 child;
	if (cfg && cfg->fork_layout == 1)
		child = *(__s32 *)((char *)ctx + 20);
	else
		child = *(__s32 *)((char *)ctx + 44);
	if (child == tgid)
		return 0;
	bpf_map_update_elem(&exes, &child, p, BPF_ANY);
	return 0;
}

/* probe programs for `armorgate probe`: allow everything */
SEC("lsm_cgroup/file_open")
int BPF_PROG(ag_probe_cg, struct file *file) { return 1; }
SEC("lsm/file_open")
int BPF_PROG(ag_probe_mac, struct file *file) { return 0; }
