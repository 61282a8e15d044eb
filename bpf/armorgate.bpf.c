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
#include "pattern.h"
#include "kread.h"
#include "opencache.h"

char LICENSE[] SEC("license") = "GPL";

#define EPERM 1
#define FMODE_WRITE 0x2
#define AG_O_TRUNC 01000
/* FMODE_NOACCOUNT (bit 29 from 5.x to 6.12): files the kernel opens for itself, overlayfs's
 * files of a layer among them (open_with_fake_path before 6.6, backing files since). The
 * process's own open of the overlay file has been checked, by the path it used; judging the
 * inner one again by the layer's path would deny an allow-listed read of the container's image. */
#define AG_FMODE_NOACCOUNT 0x20000000
#define PF_KTHREAD 0x00200000
#define AF_UNIX 1
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
#define IPPROTO_MPTCP 262

#define FNV_PRIME 0x100000001b3ULL
#define PATH_MASK (AG_PATH_MAX - 1)
/* a whole path as the kernel can name it (PATH_MAX): resolved into s->path, of which the rule
 * lookups read at most the first AG_PATH_MAX bytes (a target is at most AG_TARGET_MAX long) */
#define AG_PATH_BUF 4096
#define BUF_MASK (AG_PATH_BUF - 1)
#define AG_TARGET_MAX (AG_PATH_MAX - 2)
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
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct ag_cgroup);
} cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct ag_cgcache);
} cgcache SEC(".maps");

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

/* A one-u64 epoch map (exepoch here, rtepoch in runtime.h) moved on after the write it covers */
static __always_inline void ag_epoch_bump(void *map)
{
	__u32 zero = 0;
	__u64 *ep = bpf_map_lookup_elem(map, &zero);
	if (ep)
		__sync_fetch_and_add(ep, 1);
}

/* One u64, bumped after every write of exes (exes_put) and every removal (exes_drop): ag_who's
 * memo of a process's source check holds only while it is unchanged. An entry the LRU drops is
 * written again, with a bump, before anything reads it (ag_exe_cached), and it holds the same
 * executable. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} exepoch SEC(".maps");

static __always_inline void exes_put(__u32 tgid, const void *path)
{
	bpf_map_update_elem(&exes, &tgid, path, BPF_ANY);
	ag_epoch_bump(&exepoch);
}

/* The process's executable is not what exes holds for it (an exec nothing recorded, a child of
 * a process with none recorded): the entry, if any, goes, with a bump, so that the next reader
 * walks the executable (ag_exe_cached) instead of taking an earlier process's or image's. */
static __always_inline void exes_drop(__u32 tgid)
{
	if (!bpf_map_delete_elem(&exes, &tgid))
		ag_epoch_bump(&exepoch);
}

static __always_inline __u64 exes_epoch(void)
{
	__u32 zero = 0;
	__u64 *ep = bpf_map_lookup_elem(&exepoch, &zero);
	return ep ? *(volatile __u64 *)ep : 0;
}

/* loaders (LRU), key: tgid -> the inode of the dynamic loader that process just exec'd as a
 * command (`ld.so PROGRAM`): the next file it maps for execution is the program it runs, judged
 * as an exec (ag_mmap) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} loaders SEC(".maps");

/* build/armorgate-variant.bpf.o (scripts/build-bpf.sh) is this object with another map layout,
 * the rates map one entry smaller: what the VM tests load as "an earlier ArmorGate" to check an
 * upgrade across layouts */
#ifdef AG_LAYOUT_VARIANT
#define AG_RATES_MAX 16383
#else
#define AG_RATES_MAX 16384
#endif
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AG_RATES_MAX);
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

/* per-CPU scratch: buffers too large for the 512-byte stack, and the state of
 * one decision. Everything the global (separately verified) functions need is
 * here, so they take this one pointer. */
struct scratch {
	char path[AG_PATH_BUF];
	char tmp[AG_PATH_BUF * 2]; /* ag_walk's work buffer (twice: a masked offset plus a masked
	                            * length stay inside it, as the verifier must see) */
	__u64 w_mnt;               /* ag_walk's start: vfsmount and dentry */
	__u32 wpos;                /* ag_walk's write position in tmp */
	__u64 w_dentry;
	char exe[AG_PATH_MAX];
	char name[128];
	/* pass 1: the '/' whose depth has directory rules, in path order: position
	 * and running hash up to and including it (a path has at most 255 '/') */
	__u64 dirhash[AG_PATH_MAX / 2];
	__u64 hk[AG_PATH_MAX / 8]; /* pass 1: the hash before each word of s->path (and after the last) */
	__u32 dirpos[AG_PATH_MAX / 2];
	__u32 ndirs;
	__u32 num;             /* event target of sockets and capabilities, formatted by ag_report */
	struct ag_uid uid;
	struct ag_cgcache cg;
	__u64 kp[3];           /* kp_chain: the cgroups below a kubepods root on the task's path */
	struct ag_pod_head pod;  /* the acting pod's (ag_who) */
	struct ag_file_shape shape; /* and its file shape, copied with it */
	__u64 cgid;
	/* ag_who's memo: uid, pod and wm_mask hold what ag_who found for cgroup wm_cgid under
	 * kp_gen wm_kpgen and pods_epoch wm_epoch, at wm_time; wm_state 0 none, 1 a
	 * pod, 2 not a pod (the cgroup cache says so, or no pod of that UID) */
	__u64 wm_cgid;
	__u64 wm_time;             /* jiffies */
	__u32 wm_kpgen;
	__u32 wm_epoch;
	__u32 wm_mask;
	__u32 wm_state;
	__u32 wm_vis;              /* the pod's agvis bits (visibility.h), when wm_visok */
	__u32 wm_visok;
	__u64 src_hash;
	__u32 cgmask;
	__u32 src_ok;
	__u32 kind;
	__u32 write;
	__u32 owner;
	__u32 len;
	__u32 longp;           /* s->path is longer than any target (AG_TARGET_MAX) */
	/* one slot probe (ag_probe_slot) */
	__u64 q_hash;
	__u32 q_ttype;
	__u32 q_src;
	__u32 q_start;
	__u32 q_n;
	__u32 q_rank;
	__u32 q_dirmode;
	__u32 q_last;
	__u32 q_found;
	__u32 q_selfdir;
	__u32 q_scanned;       /* pass 1 looked for the '/' (the kind has directory rules) */
	__u64 q_h;
	__u64 q_hn;
	/* best match so far */
	__u32 best_score;
	__u32 best_rule;
	__u32 best_action;
	/* shape_walk: the opened file's path components, leaf first (length, name pointer); at
	 * the end, so that the fields every hook touches keep their place (and pages) */
	__u32 wn;
	__u32 wtotal;
	__u64 wname[AG_MAX_DEPTH];
	__u16 wlen[AG_MAX_DEPTH]; /* d_name.len: past 255 bytes on FUSE, SMB, ... */
	__u8 wcopy[AG_MAX_DEPTH]; /* 1: wtext holds the name (inline, kread.h), read without a helper */
	__u64 wtext[AG_MAX_DEPTH][AG_WTEXT / 8];
	/* the open cache (opencache.h): this open's key, and the slots */
	struct ag_oc_ent ocq;
	struct ag_oc_ent oc[AG_OC_SLOTS];
	__u64 fence;           /* oc_fence's word */
	/* runtime_entering's memo: process rt_tgid had no mark at rtepoch rt_epoch (runtime.h) */
	__u64 rt_epoch;
	__u32 rt_tgid;
	__u32 rt_valid;
	__u32 reported;        /* ag_report ran since reset_best */
	__u64 rnow;            /* ag_alert_take's time, for the alert it let go */
	/* ag_who's memo of the source check: process sm_tgid with address space sm_mm (an exec
	 * always gives a new one), its executable as exes held it at exepoch sm_epoch, checked
	 * against the sources of pod generation (sm_pod, sm_gen): sm_state 0 none, 1 a validated
	 * source (hash sm_hash), 2 not one of them */
	__u64 sm_mm;
	__u64 sm_epoch;
	__u64 sm_hash;
	__u32 sm_tgid;
	__u32 sm_pod;
	__u32 sm_gen;
	__u32 sm_state;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* make the event layout part of the object's BTF (checked by test/kernel) */
struct ag_event *ag_event_btf __attribute__((unused));

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch_map, &zero);
}

static __always_inline struct ag_config *get_config(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&agconfig, &zero);
}

/* The pod value read at pod is still the generation s->pod was copied from: the pods map is
 * preallocated, so an update may reuse the element a reader holds at once (bpf/armorgate.h). */
static __always_inline int pod_unchanged(struct ag_pod *pod, struct scratch *s)
{
	return *(volatile __u32 *)&pod->h.gen == s->pod.gen && *(volatile __u32 *)&pod->h.pod_id == s->pod.pod_id;
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

/* The cgroups on the task's path below the kubepods root kid: s->kp[0] its child, s->kp[1]
 * the grandchild, s->kp[2] the next (0 where the path ends). 1 when kid is an ancestor of cg.
 * From the top with the ancestors array (6.0+: kubepods is within the first 16 levels, the
 * depth below it does not matter); walking up at most 64 levels on older kernels. */
static __always_inline int kp_chain(struct scratch *s, struct cgroup *cg, __u64 kid)
{
	s->kp[0] = s->kp[1] = s->kp[2] = 0;
	if (bpf_core_field_exists(cg->ancestors)) {
		int level = BPF_CORE_READ(cg, level);
		__u64 off = bpf_core_field_offset(cg->ancestors);
		for (int i = 0; i < 16; i++) {
			if (i >= level)
				return 0;
			struct cgroup *a = 0;
			bpf_probe_read_kernel(&a, sizeof(a), (char *)cg + off + i * sizeof(a));
			if (!a || BPF_CORE_READ(a, kn, id) != kid)
				continue;
			for (int j = 0; j < 3; j++) {
				if (i + 1 + j > level)
					break;
				bpf_probe_read_kernel(&s->kp[j], sizeof(a), (char *)cg + off + ((i + 1 + j) & 1023) * sizeof(a));
			}
			return 1;
		}
		return 0;
	}
	__u64 c1 = 0, c2 = 0, c3 = 0;
	struct cgroup *c = cg;
	for (int i = 0; i < 64; i++) {
		if (!c)
			return 0;
		if (BPF_CORE_READ(c, kn, id) == kid) {
			s->kp[0] = c1;
			s->kp[1] = c2;
			s->kp[2] = c3;
			return 1;
		}
		c3 = c2;
		c2 = c1;
		c1 = (__u64)c;
		c = (struct cgroup *)BPF_CORE_READ(c, self.parent);
	}
	return 0;
}

/* A pod UID from the name of cgroup cg into s->cg.uid: 1 when the name is a pod's. */
static __always_inline int pod_of(struct scratch *s, __u64 cgp)
{
	struct cgroup *cg = (struct cgroup *)cgp;
	if (!cg)
		return 0;
	const char *name = BPF_CORE_READ(cg, kn, name);
	int n = bpf_probe_read_kernel_str(s->name, sizeof(s->name), name);
	return n > 1 && parse_pod_name(s->name, n - 1, s->cg.uid);
}

/* Resolve the current task's cgroup to a pod by its place in the tree (struct ag_cgcache)
 * and cache the answer (positive or negative) by cgroup id. */
__noinline int ag_resolve(__u32 unused)
{
	if (unused)
		return 0; /* the argument is used, so callers always set it (6.1 checks) */
	struct scratch *s = get_scratch();
	struct ag_config *cfg = get_config();
	if (!s || !cfg)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct cgroup *cg = BPF_CORE_READ(task, cgroups, dfl_cgrp);
	__builtin_memset(&s->cg, 0, sizeof(s->cg));
	s->cg.kp_gen = cfg->kp_gen;
	for (int r = 0; r < 2; r++) {
		__u64 kid = cfg->kp_id[r];
		if (!kid || !kp_chain(s, cg, kid))
			continue;
		/* Guaranteed pods sit right under kubepods, the others under their QoS class; the
		 * container scope is the pod cgroup's child */
		__u64 scope = s->kp[1];
		if (!pod_of(s, s->kp[0])) {
			if (!pod_of(s, s->kp[1]))
				break;
			scope = s->kp[2];
		}
		s->cg.flags = AG_CG_POD;
		s->cg.scope = scope ? BPF_CORE_READ((struct cgroup *)scope, kn, id) : 0;
		break;
	}
	/* cached under the id of the cgroup resolved: a task moved between the caller's
	 * bpf_get_current_cgroup_id() and the read of dfl_cgrp above gets this answer once, and
	 * neither cgroup gets the other's */
	__u64 cgid = s->cgid;
	if (cg && BPF_CORE_READ(cg, kn, id) == cgid)
		bpf_map_update_elem(&cgcache, &cgid, &s->cg, BPF_ANY);
	return s->cg.flags & AG_CG_POD;
}

#include "runtime.h"

/* ------------------------------------------------------------- hashing */
/* The hash of rule targets, sources and paths (enforcer/kernel/layout.ts pathHash): the bytes as
 * 64-bit little-endian words, the last one zero past the end, mixed in from the generation's seed
 * by h = (h ^ w) * FNV_PRIME, h ^= h >> 32. A word at a time: pass 1 hashed every open's path
 * byte by byte, the largest share of the decision after the walk. */
static __always_inline __u64 ag_mix(__u64 h, __u64 w)
{
	h = (h ^ w) * FNV_PRIME;
	return h ^ (h >> 32);
}

/* the first r bytes of w (r 1 to 8) */
static __always_inline __u64 ag_lowx(__u64 w, __u32 r)
{
	return w & (~0ULL >> ((64 - r * 8) & 63));
}

/* n bytes (at most AG_PATH_MAX) at buf, a buffer in map memory with room for a whole word past
 * them, from h. hk (AG_PATH_MAX / 8 words, or 0): the hash before each word, and after the last
 * one while there is room (ag_prefix_hash reads them). */
static __always_inline __u64 ag_hash(const char *buf, __u32 n, __u64 h, __u64 *hk)
{
	if (!n || n > AG_PATH_MAX)
		return h;
	__u32 nw = (n + 7) / 8;
	for (int k = 0; k < AG_PATH_MAX / 8; k++) {
		if (k + 1 >= nw)
			break;
		if (hk)
			hk[k] = h;
		h = ag_mix(h, *(const __u64 *)(buf + k * 8));
	}
	__u32 lw = (nw - 1) & (AG_PATH_MAX / 8 - 1);
	if (hk)
		hk[lw] = h;
	h = ag_mix(h, ag_lowx(*(const __u64 *)(buf + lw * 8), n - lw * 8));
	/* the whole string's too, for the string + '/' of a string of whole words */
	if (hk && lw + 1 < AG_PATH_MAX / 8)
		hk[lw + 1] = h;
	return h;
}

/* The root of the acting task's mount namespace. Paths are judged from there, never from the
 * task's own root, which a chroot moves (bpf/armorgate.h: "paths"). */
static __always_inline struct mount *ns_root(struct task_struct *task)
{
	return BPF_CORE_READ(task, nsproxy, mnt_ns, root);
}

/* 1 when the task's root names the same place as its mount namespace's root, so that
 * bpf_d_path (which resolves up to the task's root) gives the path from the namespace's root:
 * every step up from the task's root is a mount's own root, mounted at its parent's root (a
 * container's pivot_root'ed root is mounted at "/" of the namespace's first mount). 0 when the
 * task's root has moved below that (chroot), or the chain is longer than we look. */
static __always_inline int ag_rooted(struct task_struct *task)
{
	/* the task, its fs and namespaces and the vfsmount are BTF pointers: plain loads (every open
	 * pays for this check, and a probe read is a helper call); struct mount, reached back from
	 * a vfsmount, is read with probe reads */
	struct mount *top = task->nsproxy->mnt_ns->root;
	struct vfsmount *m = task->fs->root.mnt;
	if (task->fs->root.dentry != m->mnt_root)
		return 0;
	__u64 mnt = (__u64)m - bpf_core_field_offset(struct mount, mnt);
	/* one read per step (kread.h): a mount's parent and mountpoint, and with the next step's
	 * read, the parent's own root, which the mountpoint must be; the top's root is a plain load */
	__u64 want = 0;
	struct ag_mlink l = {};
	for (int i = 0; i < 8; i++) {
		if (mnt == (__u64)top)
			return !want || want == (__u64)top->mnt.mnt_root;
		if (ag_read_mlink(mnt, &l))
			return 0;
		if (want && want != l.root)
			return 0;
		if (l.parent == mnt)
			return 0;
		want = l.mountpoint;
		mnt = l.parent;
	}
	return 0;
}

/* Mount-aware walk from (s->w_mnt, s->w_dentry) up to the root of the task's mount namespace,
 * for hooks where bpf_d_path is not allowed, for a task whose root has moved (chroot), and for
 * the executable of a task exec'd before we saw it. Writes the NUL-terminated path into s->exe
 * (to_exe; at most AG_PATH_MAX bytes) or s->path (at most AG_PATH_BUF). Returns its length,
 * or -1 when it cannot be named from that root: deeper than AG_MAX_DEPTH * 2 steps, longer
 * than the buffer, or on a mount that is not in the namespace's tree (detached, another
 * namespace's, the kernel's internal ones). */
__noinline long ag_walk(__u32 to_exe)
{
	struct scratch *s = get_scratch();
	if (!s)
		return -1;
	struct task_struct *task = bpf_get_current_task_btf();
	struct mount *top = ns_root(task);
	__u64 root_d = (__u64)BPF_CORE_READ(top, mnt.mnt_root);
	__u64 dentry = s->w_dentry;
	__u64 mnt = s->w_mnt - bpf_core_field_offset(struct mount, mnt);
	/* one read per step (kread.h): the mount's links (its parent, mountpoint and own root) at
	 * each mount, the dentry's parent and name at each component */
	struct ag_mlink ml = {};
	struct ag_dlink dl = {};
	if (ag_read_mlink(mnt, &ml))
		return -1;
	/* the write position lives in scratch memory, never in a register: the verifier then sees
	 * an unknown number at each step, not one range per path through the loop, and its states
	 * converge */
	volatile __u32 *wp = &s->wpos;
	*wp = AG_PATH_BUF;
	int done = 0;
	for (int i = 0; i < AG_MAX_DEPTH * 2; i++) {
		if (dentry == root_d && mnt == (__u64)top) {
			done = 1;
			break;
		}
		if (dentry == ml.root) {
			if (ml.parent == mnt)
				return -1; /* the top of a tree that is not the namespace's */
			dentry = ml.mountpoint;
			mnt = ml.parent;
			if (ag_read_mlink(mnt, &ml))
				return -1;
			continue;
		}
		if (ag_read_dlink(dentry, &dl))
			return -1;
		__u64 up = dl.parent;
		if (up == dentry)
			return -1;
		__u32 nlen = dl.len;
		const unsigned char *name = (const unsigned char *)dl.name;
		__u32 pos = *wp;
		if (nlen == 0 || nlen >= NAME_MAX_LEN || pos < nlen + 1 || pos > AG_PATH_BUF)
			return -1;
		pos -= nlen;
		bpf_probe_read_kernel(s->tmp + (pos & BUF_MASK), nlen & (NAME_MAX_LEN - 1), name);
		pos -= 1;
		s->tmp[pos & BUF_MASK] = '/';
		*wp = pos;
		dentry = up;
	}
	if (!done)
		return -1;
	__u32 pos = *wp;
	if (pos > AG_PATH_BUF)
		return -1;
	long len = AG_PATH_BUF - pos;
	if (to_exe) {
		if (len == 0) {
			s->exe[0] = '/';
			s->exe[1] = 0;
			return 1;
		}
		if (len >= AG_PATH_MAX || len < 0)
			return -1;
		bpf_probe_read_kernel(s->exe, len & PATH_MASK, s->tmp + (pos & BUF_MASK));
		s->exe[len & PATH_MASK] = 0;
		return len;
	}
	if (len == 0) {
		s->path[0] = '/';
		s->path[1] = 0;
		return 1;
	}
	if (len >= AG_PATH_BUF || len < 0)
		return -1;
	bpf_probe_read_kernel(s->path, len & BUF_MASK, s->tmp + (pos & BUF_MASK));
	s->path[len & BUF_MASK] = 0;
	return len;
}

static __always_inline long walk_path(struct scratch *s, struct vfsmount *vmnt, struct dentry *dentry, __u32 to_exe)
{
	s->w_mnt = (__u64)vmnt;
	s->w_dentry = (__u64)dentry;
	return ag_walk(to_exe);
}

/* The acting task's executable is cached (map exes, key tgid): 1 when it is,
 * after walking its executable's path once when it was not (a task exec'd before
 * it entered the pod's cgroup, or before we loaded), 0 when that walk fails.
 * Called only when a fromSource rule or an event needs the executable; the walk
 * uses s->tmp as its work buffer and s->exe as its result. */
__noinline int ag_exe_cached(__u32 unused)
{
	if (unused)
		return 0; /* the argument is used, so callers always set it (6.1 checks) */
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (bpf_map_lookup_elem(&exes, &tgid))
		return 1;
	struct task_struct *task = bpf_get_current_task_btf();
	struct file *xf = BPF_CORE_READ(task, mm, exe_file);
	if (!xf)
		return 0;
	struct vfsmount *xm = BPF_CORE_READ(xf, f_path.mnt);
	struct dentry *xd = BPF_CORE_READ(xf, f_path.dentry);
	if (walk_path(s, xm, xd, 1) <= 0)
		return 0;
	exes_put(tgid, s->exe);
	return bpf_map_lookup_elem(&exes, &tgid) != 0;
}

/* Who is acting: fills s->pod, s->cgmask and, when the pod has fromSource rules
 * of this kind, the validated source. 1 when a known pod, 0 otherwise (not a
 * pod, or a pod the enforcer has no profile for).
 *
 * The pod found for a cgroup is memoised per CPU (s->wm_*): the next call from the same cgroup
 * takes it back without the three hash lookups and the copy, as long as the kubepods roots
 * (kp_gen) and the pods, cgroups and agvis maps (pods_epoch, which userspace changes after every
 * write of them; ag_vis_wants keeps the pod's agvis bits with the memo) are unchanged, for less
 * than AG_WHO_MEMO_TICKS jiffies: a writer that does not change the epoch
 * (an earlier version of the enforcer over the same maps) is then seen within that time, well
 * inside the second for which a replaced generation's rules stay in the maps. The epoch is read
 * before the lookups it covers, so a write that comes between leaves a memo that never matches. */
/* ticks: 10 to 100 ms (CONFIG_HZ 1000 to 100); bpf_ktime_get_coarse_ns is not for LSM programs */
#define AG_WHO_MEMO_TICKS 10

__noinline int ag_who(__u32 kind)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->flags & PF_KTHREAD)
		return 0;
	/* bpf_get_current_cgroup_id's answer (the task's default-hierarchy cgroup's kernfs id), read
	 * through the task's BTF pointer with plain loads: no helper call (the program runs under
	 * RCU, which keeps the css_set) */
	__u64 cgid = task->cgroups->dfl_cgrp->kn->id;
	s->cgid = cgid;
	struct ag_config *cfg = get_config();
	__u32 kp_gen = cfg ? cfg->kp_gen : 0;
	__u32 epoch = cfg ? *(volatile __u32 *)&cfg->pods_epoch : 0;
	__u64 now = bpf_jiffies64();
	__u32 mask;
	if (s->wm_state && s->wm_cgid == cgid && s->wm_kpgen == kp_gen && s->wm_epoch == epoch && now - s->wm_time < AG_WHO_MEMO_TICKS) {
		if (s->wm_state != 1)
			return 0;
		mask = s->wm_mask;
		goto found;
	}
	s->wm_state = 0;
	s->wm_visok = 0;
	oc_count(AG_WHO_LOOKUPS);
	s->wm_cgid = cgid;
	s->wm_kpgen = kp_gen;
	s->wm_epoch = epoch;
	s->wm_time = now;
	__u64 scope;
	struct ag_cgcache *cg = bpf_map_lookup_elem(&cgcache, &cgid);
	if (cg && cg->kp_gen == kp_gen) {
		if (!(cg->flags & AG_CG_POD)) {
			s->wm_state = 2;
			return 0;
		}
		__builtin_memcpy(s->uid.uid, cg->uid, AG_UID_LEN);
		scope = cg->scope;
	} else {
		if (!ag_resolve(0))
			return 0;
		__builtin_memcpy(s->uid.uid, s->cg.uid, AG_UID_LEN);
		scope = s->cg.scope;
	}
	/* the copy counts only when the head is unchanged after it (pod_unchanged); three tears
	 * in a row would need three pairs of updates within three copies (the last is used then,
	 * as before, but not memoised) */
	int steady = 0;
	for (int try = 0; try < 3; try++) {
		struct ag_pod *pod = bpf_map_lookup_elem(&pods, &s->uid);
		if (!pod) {
			s->wm_state = 2;
			return 0;
		}
		__builtin_memcpy(&s->pod, &pod->h, sizeof(s->pod));
		__builtin_memcpy(&s->shape, &pod->shape, sizeof(s->shape));
		if (pod_unchanged(pod, s)) {
			steady = 1;
			break;
		}
	}
	/* the container: as userspace told it for the scope (the same pod's), else the pod's
	 * answer for a container it does not know */
	mask = s->pod.unknown_mask ? s->pod.unknown_mask : AG_EVERY;
	if (scope) {
		struct ag_cgroup *told = bpf_map_lookup_elem(&cgroups, &scope);
		if (told) {
			__u64 *a = (__u64 *)told->uid, *b = (__u64 *)s->uid.uid;
			if (a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4])
				mask = told->containers;
		}
	}
	s->wm_mask = mask;
	/* memoised only when the memo is still this call's: where a program can be preempted (not
	 * handled: see DESIGN.md) another task's call may have begun its own since */
	if (steady && s->wm_cgid == cgid && s->wm_time == now)
		s->wm_state = 1;
found:
	/* the container runtime on its way in is not the pod's workload (runtime.h): asked on every
	 * hook, not kept in the pod's memo (a process is moved into the pod's cgroup before the
	 * tracepoint that makes its entry runs); runtime_entering keeps "no entry" for the process
	 * until the next mark anywhere */
	if (runtime_entering(s, task, kind))
		return 0;
	s->cgmask = mask;
	s->src_ok = 0;
	s->src_hash = 0;
	if (!s->pod.has_source[kind & 3])
		return 1;
	/* the source check of this process for this generation, as memoised while no executable
	 * changed anywhere (exepoch: read before what it covers, so a write meanwhile leaves a memo
	 * that never matches) and the process has not exec'd since (its mm: also when an earlier
	 * object's programs, beside ours during an upgrade, wrote exes without the bump) */
	__u32 tgid = task->tgid;
	__u64 mm = (__u64)task->mm;
	__u64 xepoch = exes_epoch();
	if (s->sm_state && s->sm_tgid == tgid && s->sm_mm == mm && s->sm_epoch == xepoch && s->sm_pod == s->pod.pod_id &&
	    s->sm_gen == s->pod.gen) {
		if (s->sm_state == 1) {
			s->src_ok = 1;
			s->src_hash = s->sm_hash;
		}
		return 1;
	}
	s->sm_state = 0;
	if (!ag_exe_cached(0))
		return 1;
	/* ag_exe_cached may have written exes (a bump): the memo takes the epoch after it */
	xepoch = exes_epoch();
	struct ag_exe *exe = bpf_map_lookup_elem(&exes, &tgid);
	long xn = exe ? bpf_probe_read_kernel_str(s->exe, AG_PATH_MAX, exe->path) : 0;
	s->sm_tgid = tgid;
	s->sm_mm = mm;
	s->sm_epoch = xepoch;
	s->sm_pod = s->pod.pod_id;
	s->sm_gen = s->pod.gen;
	s->sm_state = 2;
	if (xn > 1) {
		struct ag_src_key sk = {};
		sk.src_hash = ag_hash(s->exe, (xn - 1) & PATH_MASK, s->pod.seed, 0);
		sk.pod_id = s->pod.pod_id;
		sk.gen = s->pod.gen;
		struct ag_src_val *sv = bpf_map_lookup_elem(&sources, &sk);
		if (sv) {
			int same = 1;
			for (int i = 0; i < AG_PATH_MAX; i++) {
				char a = sv->path[i];
				if (a != s->exe[i]) {
					same = 0;
					break;
				}
				if (!a)
					break;
			}
			if (same) {
				s->src_ok = 1;
				s->src_hash = sk.src_hash;
				s->sm_hash = sk.src_hash;
				s->sm_state = 1;
			}
		}
	}
	return 1;
}

/* ---------------------------------------------------------- rule match */
/* readOnly/ownerOnly as KubeArmor means them (policy/qualifiers.ts): the flags name what an
 * entry permits (readOnly: reads; ownerOnly: the owner's accesses; both: the owner's reads).
 * An Allow entry matches that; a Block or Audit entry everything else. */
static __always_inline int qualifies(struct ag_rule_ent *e, __u32 kind, __u32 write, __u32 owner)
{
	int ro = (e->flags & AG_F_READONLY) && kind == AG_KIND_FILE;
	int oo = !!(e->flags & AG_F_OWNERONLY);
	if (!ro && !oo)
		return 1;
	int permitted = (!ro || !write) && (!oo || owner);
	return permitted == (e->action == AG_A_ALLOW);
}

/* One map slot: look up (kind, q_ttype, q_hash, source?), check the stored
 * target string against s->path[q_start, q_start + q_n) (+ q_extra), and take
 * the best qualifying entry. q_dirmode: 0 exact/number, 1 directory holding the
 * path directly (or the directory itself), 2 directory further up (recursive only).
 * q_n = 0: numbers (protocol, capability), nothing to compare. */
__noinline int ag_probe_slot(__u32 unused)
{
	if (unused)
		return 0; /* the argument is used, so callers always set it (6.1 checks) */
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	struct ag_rule_key k = {};
	k.hash = s->q_hash;
	k.src_hash = s->q_src ? s->src_hash : 0;
	k.pod_id = s->pod.pod_id;
	k.gen = s->pod.gen;
	k.kind = s->kind;
	k.ttype = s->q_ttype;
	struct ag_rule_val *v = bpf_map_lookup_elem(&rules, &k);
	if (!v)
		return 0;
	__u32 n = s->q_n;
	__u32 start = s->q_start;
	if (n > 0) {
		/* the stored string must be exactly s->path[start, start + n): stop on its
		 * NUL (data-driven, so the verifier's states converge after the loop) */
		int i;
		for (i = 0; i < AG_PATH_MAX; i++) {
			char a = v->path[i];
			if (!a)
				break;
			if (a != s->path[(start + i) & BUF_MASK])
				return 0;
		}
		s->q_found = i;
		if (*(volatile __u32 *)&s->q_found != s->q_n)
			return 0;
	}
	__u32 rank = s->q_rank;
	__u32 dirmode = s->q_dirmode;
	__u32 kind = s->kind, write = s->write, owner = s->owner, mask = s->cgmask;
	int hit = 0;
#pragma unroll
	for (int i = 0; i < AG_MAX_ENT; i++) {
		struct ag_rule_ent *e = &v->ent[i];
		if (!(e->flags & AG_F_VALID))
			break;
		if (!(e->containers & mask))
			continue;
		if (dirmode == 2 && !(e->flags & AG_F_RECURSIVE))
			continue;
		if (!qualifies(e, kind, write, owner))
			continue;
		__u32 score = (rank << 4) | (e->action & 3);
		if (score > s->best_score) {
			s->best_score = score;
			s->best_rule = e->rule_id;
			s->best_action = e->action;
		}
		hit = 1;
	}
	return hit;
}

#include "pattern-match.h"

static __always_inline void probe(struct scratch *s, __u32 ttype, __u64 hash, __u32 with_src, __u32 start, __u32 n,
				  __u32 rank, __u32 dirmode)
{
	/* a path, base name or directory no target of the kind hashes like: no slot to find */
	if (ttype == AG_T_PATH || ttype == AG_T_DIR || ttype == AG_T_EXECNAME) {
		__u32 b = hash & 255;
		if (!((s->pod.hashmask[s->kind & 1][(b >> 6) & 3] >> (b & 63)) & 1))
			return;
	}
	s->q_hash = hash;
	s->q_ttype = ttype;
	s->q_src = with_src;
	s->q_start = start;
	s->q_n = n;
	s->q_rank = rank;
	s->q_dirmode = dirmode;
	ag_probe_slot(0);
}

/* The hash of s->path's first m bytes (1 <= m <= AG_PATH_MAX, m - 1 within what pass 1 hashed):
 * from pass 1's hash before the word that holds byte m - 1 */
static __always_inline __u64 ag_prefix_hash(struct scratch *s, __u32 m)
{
	__u32 k = ((m - 1) / 8) & (AG_PATH_MAX / 8 - 1);
	return ag_mix(s->hk[k], ag_lowx(*(__u64 *)&s->path[k * 8], m - k * 8));
}

/* Pass 1 over s->path (its first AG_PATH_MAX bytes): the hash of the whole path a word at a time
 * (s->q_h, and in s->hk the hash before each word); then, only when the kind has directory rules,
 * the last '/' and the '/' whose depth has some (position, hash of the path up to it: pass 2 looks
 * only those up). That loop ends on the NUL (data), never on a compare with a length, and is in
 * its own (globally verified) function, so its exits never multiply the states of what follows.
 * Without directory rules s->q_last stays 0 (ag_tail finds the last '/' when a probe needs it). */
__noinline int ag_pass1(__u32 unused)
{
	if (unused)
		return 0; /* the argument is used, so callers always set it (6.1 checks) */
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__u32 len = s->len;
	s->q_h = ag_hash(s->path, len < AG_PATH_MAX ? len : AG_PATH_MAX, s->pod.seed, s->hk);
	/* the count of kept '/' lives in scratch memory, never in a register: the
	 * verifier then sees an unknown number at each store, not a constant per
	 * path through the loop, and its states still converge */
	volatile __u32 *nd = &s->ndirs;
	*nd = 0;
	s->q_last = 0;
	s->q_selfdir = 0;
	__u64 dm = s->pod.dirmask[s->kind & 1];
	s->q_scanned = dm != 0;
	if (!dm)
		return 0;
	__u32 last = 0;
	/* bit n of dm is tested at the n-th '/': shift dm right once per '/' (never
	 * branch on a counter, so the verifier's states converge); from 63 on, bit 63 */
	__u64 walk = dm;
	for (int i = 0; i < AG_PATH_MAX; i++) {
		char c = s->path[i & PATH_MASK];
		if (!c)
			break;
		if (c == '/') {
			last = i;
			walk = (walk >> 1) | (walk & (1ULL << 63));
			if (walk & 1) {
				__u32 k = *nd;
				s->dirhash[k & (AG_PATH_MAX / 2 - 1)] = ag_prefix_hash(s, i + 1);
				s->dirpos[k & (AG_PATH_MAX / 2 - 1)] = i;
				*nd = k + 1;
			}
		}
	}
	s->q_last = last;
	s->q_selfdir = (walk >> 1 | (walk & (1ULL << 63))) & 1;
	return 0;
}

/* After pass 1: for a path longer than any target (s->longp, `find` set), its last '/' (base
 * names are at most 255 bytes, so within 256 bytes of its end), in place of pass 1's, which
 * stopped at AG_PATH_MAX bytes (no '/' there: q_last = 0, no base name to look up); then, for a
 * process check with execname rules, the hash of the base name into s->q_hn (only the execname
 * probe needs it, so pass 1 does not compute it byte by byte for every path). */
__noinline int ag_tail(__u32 find)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__u32 len = s->len;
	if (len >= AG_PATH_BUF)
		return 0;
	if (find) {
		/* the last '/' goes through scratch memory (volatile): the loop's exits then leave
		 * one unknown number, not one constant each, and the verifier's states converge */
		volatile __u32 *lp = &s->q_last;
		*lp = 0;
		for (__u32 i = 1; i <= NAME_MAX_LEN; i++) {
			if (i > len)
				break;
			if (s->path[(len - i) & BUF_MASK] == '/') {
				*lp = len - i;
				break;
			}
		}
	}
	if (s->kind != AG_KIND_PROCESS || !(s->pod.exactmask & AG_X_PROC_NAME))
		return 0;
	__u32 last = s->q_last;
	__u64 hn = s->pod.seed;
	if ((last || !s->longp) && last + 1 < len)
		hn = ag_hash(s->path + ((last + 1) & BUF_MASK), len - last - 1, hn, 0);
	s->q_hn = hn;
	return 0;
}

/* Pass 2: every directory above the path that pass 1 kept; the last one holds it
 * directly. Directory rank is the prefix length, which orders the directories of
 * one path exactly as their depth does. */
__noinline int ag_pass2(__u32 with_src)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__u32 srcbit = with_src ? (1u << 20) : 0;
	__u32 nd = s->ndirs;
	for (int j = 0; j < AG_PATH_MAX / 2; j++) {
		if (j >= nd)
			break;
		__u32 i = s->dirpos[j & (AG_PATH_MAX / 2 - 1)] & PATH_MASK;
		probe(s, AG_T_DIR, s->dirhash[j & (AG_PATH_MAX / 2 - 1)], with_src, 0, i + 1, srcbit | (i + 1),
		      i == s->q_last ? 1 : 2);
	}
	return 0;
}

/* Path rules (process and file) for one source variant; s->path holds the
 * NUL-terminated full path of length s->len. */
__noinline int ag_match_path(__u32 with_src)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	if (s->len == 0)
		return 0;
	__u32 srcbit = with_src ? (1u << 20) : 0;
	__u32 x = s->pod.exactmask;
	__u32 kx = s->kind == AG_KIND_PROCESS ? AG_X_PROC_PATH | AG_X_PROC_NAME : AG_X_FILE_PATH;
	if (!(x & kx) && !s->pod.dirmask[s->kind & 1])
		return 0; /* no path rule of this kind: nothing to look up */
	ag_pass1(0);
	/* a path longer than any target: pass 1 saw its first AG_PATH_MAX bytes, where every
	 * directory a rule can name ends; its base name is found from its end */
	__u32 longp = s->len > AG_TARGET_MAX;
	s->longp = longp;
	if (longp || (s->kind == AG_KIND_PROCESS && (x & AG_X_PROC_NAME)))
		ag_tail(longp || !s->q_scanned);
	/* exact path */
	if (!longp && (x & (s->kind == AG_KIND_PROCESS ? AG_X_PROC_PATH : AG_X_FILE_PATH)))
		probe(s, AG_T_PATH, s->q_h, with_src, 0, s->len, srcbit | 0xffff, 0);
	/* execname: the base name */
	if (s->kind == AG_KIND_PROCESS && (x & AG_X_PROC_NAME) && s->q_last + 1 < s->len && (!longp || s->q_last))
		probe(s, AG_T_EXECNAME, s->q_hn, with_src, s->q_last + 1, s->len - s->q_last - 1, srcbit | 0xffff, 0);
	/* the path itself as a directory ("/etc/ssl" under a rule on "/etc/ssl/"):
	 * append the '/' for the probe, then put the NUL back */
	__u32 l2 = s->len & PATH_MASK;
	/* directories: only when the kind has directory rules at all, and (pass 1 marked
	 * them) only the levels whose depth has some */
	int dirs = s->pod.dirmask[s->kind & 1] != 0;
	if (dirs && !longp && s->q_selfdir && l2 > 1 && l2 < AG_PATH_MAX - 2 && s->path[(l2 - 1) & PATH_MASK] != '/') {
		s->path[l2] = '/';
		s->path[l2 + 1] = 0;
		probe(s, AG_T_DIR, ag_prefix_hash(s, l2 + 1), with_src, 0, l2 + 1, srcbit | (l2 + 1), 1);
		__u32 l3 = s->len & PATH_MASK;
		s->path[l3] = 0;
	}
	if (dirs)
		ag_pass2(with_src);
	return 0;
}

/* ----------------------------------------------------------- reporting */
#include "sockargs.h"

/* The cgroup's rate window in `map` (rates for alerts, visrates for visibility logs): 1 when
 * this event may go (limit 0: no limit, the window still counts what the ring buffer had no
 * room for). The first event of a new window gets in *dropped_out what the last window lost. */
static __always_inline int rate_take(void *map, __u32 limit, __u64 cgid, __u64 now, __u32 *dropped_out)
{
	if (!limit)
		limit = 0xffffffff;
	struct ag_rate *r = bpf_map_lookup_elem(map, &cgid);
	if (!r) {
		struct ag_rate fresh = { .window_ns = now, .count = 1 };
		bpf_map_update_elem(map, &cgid, &fresh, BPF_ANY);
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

static __always_inline void fill_common(struct ag_event *e, struct scratch *s, __u64 now)
{
	struct task_struct *task = bpf_get_current_task_btf();
	e->time_ns = now;
	e->cgroup_id = s->cgid;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->gen = s->pod.gen;
	__builtin_memcpy(e->pod_uid, s->uid.uid, AG_UID_LEN);
}

/* decimal of a number into an event's target (sockets and capabilities) */
static __always_inline void fmt_number(char *out, __u32 n)
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
		out[i] = d[(k - 1 - i) & 15];
	}
	out[k & 15] = 0;
}

/* Events lost for want of room in the ring buffer: counted in the cgroup's window in `map` with
 * those the rate limit dropped, and told in its next "dropped" event like them. */
static __always_inline void rate_lost(void *map, __u64 cgid, __u32 n)
{
	struct ag_rate *r = bpf_map_lookup_elem(map, &cgid);
	if (r)
		__sync_fetch_and_add(&r->dropped, n);
}

/* The event telling how many a window lost (type AG_EV_DROPPED or AG_EV_LOG_DROPPED); when it
 * finds no room, the count goes back to the window for the next one. */
static __always_inline void emit_dropped(void *map, struct scratch *s, __u64 now, __u32 type, __u32 dropped)
{
	struct ag_event *d = bpf_ringbuf_reserve(&events, sizeof(*d), 0);
	if (!d) {
		rate_lost(map, s->cgid, dropped);
		return;
	}
	fill_common(d, s, now);
	d->type = type;
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

/* An event's process and object, the same for alerts and logs: the executable (as exec
 * recorded it, else the task's comm) as exe and source; socket()'s arguments in `dropped`;
 * the target: 0 s->path, 1 the number s->num, 2 "<unresolved path>". */
static __always_inline void fill_subject(struct ag_event *e, struct scratch *s, __u32 hook, __u32 target)
{
	e->dropped = hook == AG_H_SOCKET ? ag_sock_get() : 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct ag_exe *x = ag_exe_cached(0) ? bpf_map_lookup_elem(&exes, &tgid) : 0;
	if (x)
		bpf_probe_read_kernel_str(e->exe, AG_PATH_MAX, x->path);
	else
		bpf_get_current_comm(e->exe, AG_COMM_LEN);
	bpf_probe_read_kernel_str(e->source, AG_PATH_MAX, e->exe);
	if (target == 1)
		fmt_number(e->target, s->num);
	else if (target == 2)
		bpf_probe_read_kernel_str(e->target, AG_PATH_MAX, "<unresolved path>");
	else
		bpf_probe_read_kernel_str(e->target, AG_PATH_MAX, s->path);
}

#include "visibility.h"

/* The cgroup's alert window: 1 when an alert may go (and, first, a "dropped" event when the last
 * window lost some); 0 when it is over the rate, the alert counted as dropped. Its time is kept
 * for the alert (s->rnow). A caller that needs work to describe the alert (a path no rule
 * names, ag_posture_alert) does that work only when this lets it go. */
__noinline int ag_alert_take(__u32 unused)
{
	struct scratch *s = get_scratch();
	if (!s || unused)
		return 0;
	s->reported = 1;
	__u64 now = bpf_ktime_get_ns();
	s->rnow = now;
	__u32 dropped = 0;
	struct ag_config *cfg = get_config();
	int ok = rate_take(&rates, cfg ? cfg->rate_per_sec : 0, s->cgid, now, &dropped);
	if (dropped)
		emit_dropped(&rates, s, now, AG_EV_DROPPED, dropped);
	return ok;
}

/* The decision event ag_alert_take let go. target: as fill_subject. */
__noinline int ag_alert_emit(__u32 hook, __u32 action, __u32 rule_id, __u32 denied_target)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__u32 denied = denied_target & 1;
	__u32 target = denied_target >> 1;
	struct ag_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		rate_lost(&rates, s->cgid, 1);
		return 0;
	}
	fill_common(e, s, s->rnow);
	e->type = AG_EV_DECISION;
	e->rule_id = rule_id;
	e->err = denied ? -EPERM : 0;
	e->hook = hook;
	e->kind = s->kind;
	e->action = action;
	e->denied = denied;
	fill_subject(e, s, hook, target);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* One decision event (and, first, a "dropped" event when the last window lost
 * some). target: as fill_subject. */
static __always_inline void ag_report(__u32 hook, __u32 action, __u32 rule_id, __u32 denied_target)
{
	if (ag_alert_take(0))
		ag_alert_emit(hook, action, rule_id, denied_target);
}

/* Final verdict from the best match (or posture). 0 allow, -EPERM deny. */
static __always_inline int conclude(struct scratch *s, __u32 hook, __u32 target)
{
	__u32 k = s->kind & 3;
	if (s->best_score) {
		__u32 action = s->best_action;
		if (action == AG_A_ALLOW)
			return 0;
		int deny = action == AG_A_BLOCK;
		ag_report(hook, action, s->best_rule, (target << 1) | deny);
		return deny ? -EPERM : 0;
	}
	if (s->pod.allowlist[k] & s->cgmask) {
		int deny = s->pod.posture[k] == AG_A_BLOCK;
		ag_report(hook, deny ? AG_A_BLOCK : AG_A_AUDIT, AG_RULE_POSTURE, (target << 1) | deny);
		return deny ? -EPERM : 0;
	}
	return 0;
}

static __always_inline void reset_best(struct scratch *s, __u32 kind, __u32 write, __u32 owner)
{
	s->kind = kind;
	s->write = write;
	s->owner = owner;
	s->best_score = 0;
	s->best_rule = AG_RULE_POSTURE;
	s->best_action = 0;
	s->reported = 0;
}

/* The kind denies what it cannot decide for the acting container: it is in allow-list mode, or
 * has Block rules (an unresolvable path, an automaton missing) */
static __always_inline __u32 fails_closed(struct scratch *s, __u32 kind)
{
	return (s->pod.allowlist[kind] | s->pod.has_block[kind]) & s->cgmask;
}

/* ------------------------------------------------------ decision: paths */
/* A path that could not be resolved (len < 0 or too long) is denied when the
 * kind has Block rules or is in allow-list mode: never an allow by accident. */
__noinline int ag_decide_path(__u32 hook, __u32 write, __u32 owner, long len)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	__u32 kind = s->kind & 3;
	reset_best(s, kind, write, owner);
	if (len <= 0 || len >= AG_PATH_BUF) {
		if (fails_closed(s, kind)) {
			ag_report(hook, AG_A_BLOCK, AG_RULE_POSTURE, (2 << 1) | 1);
			return -EPERM;
		}
		return 0;
	}
	s->len = len;
	s->path[len & BUF_MASK] = 0;
	ag_match_path(0);
	if (s->src_ok)
		ag_match_path(1);
	/* pattern rules (bpf/pattern.h); their automaton missing fails closed */
	if ((s->pod.exactmask & (kind == AG_KIND_PROCESS ? AG_X_PROC_PAT : AG_X_FILE_PAT)) && kind <= AG_KIND_FILE &&
	    ag_match_pattern(0) < 0 && fails_closed(s, kind)) {
		ag_report(hook, AG_A_BLOCK, AG_RULE_POSTURE, 1);
		return -EPERM;
	}
	return conclude(s, hook, 0);
}

/* bpf_d_path result (length with NUL, or <0) to a path length */
static __always_inline long dpath_len(long n)
{
	return n > 0 ? n - 1 : -1;
}

/* d is a BTF pointer (a hook argument or read through one), t the current task: plain loads */
static __always_inline int owner_of_task(struct dentry *d, struct task_struct *t)
{
	struct inode *ino = d->d_inode;
	if (!ino)
		return 1; /* a name being created: the new file will be the actor's (AppArmor's view) */
	/* AppArmor's "owner": the task's fsuid is the inode's uid (kuids, so user namespaces agree) */
	__u32 fsuid = t->cred->fsuid.val;
	return ino->i_uid.val == fsuid;
}

static __always_inline int owner_of(struct dentry *d)
{
	return owner_of_task(d, bpf_get_current_task_btf());
}

/* Whether a file-kind decision for this pod needs the path at all: some rule can
 * match (exact paths, directories), or the verdict without a match is not a plain
 * allow (allow-list, or Block rules deny an unresolvable path). When not, the
 * verdict is allow with no event, whatever the path. */
static __always_inline int file_rules(struct scratch *s)
{
	return (s->pod.exactmask & (AG_X_FILE_PATH | AG_X_FILE_PAT)) || s->pod.dirmask[1] ||
	       fails_closed(s, AG_KIND_FILE);
}

/* ------------------------------------------------ file shape (no path) */
/* One component (leaf first) into the walk's buffers; 0 when they are full. The counters
 * are read and written through volatile scratch memory: the verifier then sees unknown
 * values, not a constant per iteration, and the states of the walk's loops converge. */
static __always_inline int shape_push(struct scratch *s, __u32 len, const unsigned char *name, int copied)
{
	volatile __u32 *np = &s->wn;
	volatile __u32 *tp = &s->wtotal;
	__u32 n = *np;
	/* a name ag_walk cannot hold (FUSE, SMB, ... allow longer ones): the path is not told here,
	 * so that no shortcut decides a name whose full path would fail (and fail closed) */
	if (n >= AG_MAX_DEPTH || len >= NAME_MAX_LEN)
		return 0;
	s->wlen[n & (AG_MAX_DEPTH - 1)] = len;
	s->wname[n & (AG_MAX_DEPTH - 1)] = (__u64)name;
	s->wcopy[n & (AG_MAX_DEPTH - 1)] = copied;
	*np = n + 1;
	*tp += len + 1;
	return 1;
}

/* shape_walk's walk across mounts, with probe reads, from the dentry and vfsmount in s->w_dentry
 * and s->w_mnt (kernel pointers stored as numbers, as walk_path passes them) up to the root of
 * the task's mount namespace, pushing onto the components already in s->wname. 1 when it reached
 * that root with a path the buffer holds, 0 for anything else. One global function, verified
 * once: the open programs take it past a mount root, the change hooks (ag_change_unnamed) for
 * the whole walk. */
__noinline int ag_shape_walk_up(__u32 unused)
{
	if (unused)
		return 0; /* the argument is used, so callers always set it (6.1 checks) */
	struct scratch *s = get_scratch();
	if (!s || !s->w_mnt || !s->w_dentry)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct mount *top = task->nsproxy->mnt_ns->root;
	struct dentry *root_d = top->mnt.mnt_root;
	struct vfsmount *root_m = &top->mnt;
	__u64 pd = s->w_dentry;
	__u64 off = bpf_core_field_offset(struct mount, mnt);
	__u64 mnt = s->w_mnt - off;
	/* one read per step (kread.h), as ag_walk */
	struct ag_mlink ml = {};
	struct ag_dlink_text dl = {};
	int inl = 0;
	if (ag_read_mlink(mnt, &ml))
		return 0;
	for (int i = 0; i < AG_MAX_DEPTH * 2; i++) {
		if (pd == (__u64)root_d && mnt + off == (__u64)root_m)
			return *(volatile __u32 *)&s->wtotal < AG_PATH_MAX - 2;
		if (pd == ml.root) {
			if (ml.parent == mnt)
				return 0;
			pd = ml.mountpoint;
			mnt = ml.parent;
			if (ag_read_mlink(mnt, &ml))
				return 0;
			continue;
		}
		if (ag_read_dlink_text(pd, &dl, &inl))
			return 0;
		if (dl.parent == pd)
			return 0;
		if (inl)
			ag_name_words(s->wtext[*(volatile __u32 *)&s->wn & (AG_MAX_DEPTH - 1)], dl.text, dl.len);
		if (!shape_push(s, dl.len, (const unsigned char *)dl.name, inl))
			return 0;
		pd = dl.parent;
	}
	return 0;
}

/* The components of the path of (m, d) (an opened file, or a name a change hook is given), leaf
 * first, into s->wlen / s->wname / s->wn: the dentries up to the root of the task's mount
 * namespace (paths are judged from there, whatever the task's own root is), crossing mounts as
 * bpf_d_path does. Within a mount the loads are plain (BTF pointers, no helper call); a mount
 * crossing reads through struct mount with probe reads. 1 when the walk reached that root with
 * a path within AG_PATH_MAX; 0 for anything else (an unlinked file, whose d_path gets
 * " (deleted)"; a pseudo file; a mount outside the namespace's tree; deeper than AG_MAX_DEPTH;
 * too long), which then takes the path as before. Renames racing with the walk: the walk takes
 * no rename_lock; each dentry's parent is read once, so one rename during the walk cannot hide
 * a rule's directory from a file that stays below it, but two renames of its ancestors landing
 * between two loads of the walk (an ancestor moved out from under the rule, then its old parent
 * moved away) can show a path the file never had: a path built from the walk's names
 * (ag_names_path) is used only when rename_lock's and mount_lock's sequences did not move. */
static __always_inline int shape_walk(struct scratch *s, struct task_struct *task, struct vfsmount *m, struct dentry *d)
{
	struct mount *top = task->nsproxy->mnt_ns->root;
	struct dentry *root_d = top->mnt.mnt_root;
	struct vfsmount *root_m = &top->mnt;
	if (!d->d_hash.pprev && d != d->d_parent)
		return 0;
	s->wn = 0;
	s->wtotal = 0;
	struct dentry *mroot = m->mnt_root;
	int crossed = 0;
	for (int i = 0; i < AG_MAX_DEPTH; i++) {
		if (d == root_d && m == root_m)
			return *(volatile __u32 *)&s->wtotal < AG_PATH_MAX - 2;
		if (d == mroot) {
			crossed = 1;
			break;
		}
		struct dentry *up = d->d_parent;
		if (up == d)
			return 0;
		__u32 len = d->d_name.len;
		const unsigned char *name = d->d_name.name;
		__u32 n = s->wn;
		/* the inline name straight into its slot (read only where wcopy says so) */
		int inl = ag_inline_name(d, len, name, s->wtext[n & (AG_MAX_DEPTH - 1)]);
		if (!shape_push(s, len, name, inl))
			return 0;
		d = up;
	}
	if (!crossed)
		return 0;
	s->w_dentry = (__u64)d;
	s->w_mnt = (__u64)m;
	return ag_shape_walk_up(0);
}

/* Whether some file rule of the acting pod's live generation may name the path that
 * shape_walk took apart: 0 only when no component matches the pod's file shape at its
 * depth (bpf/armorgate.h), as ag_who copied it with the pod's head (s->shape: the same
 * generation's). An unreadable name answers 1. */
__noinline int ag_shape_possible(__u32 unused)
{
	if (unused)
		return 1; /* the argument is used, so callers always set it (6.1 checks) */
	struct scratch *s = get_scratch();
	if (!s)
		return 1;
	/* the shape ag_who copied with the pod's head (one generation's: checked after the copy) */
	struct ag_file_shape *shape = &s->shape;
	if (shape->len[0])
		return 1;
	__u32 n = s->wn;
	for (int i = 0; i < AG_MAX_DEPTH; i++) {
		if (i >= n)
			break;
		__u32 depth = n - i;
		__u32 b = depth < AG_SHAPE_DEPTHS ? depth : AG_SHAPE_DEPTHS - 1;
		/* clang drops the mask below (b is at most 15 already) and indexes with a copy the
		 * 6.1 verifier sees unbounded: keep b opaque so the mask stays */
		barrier_var(b);
		b &= AG_SHAPE_DEPTHS - 1;
		__u32 len = s->wlen[i & (AG_MAX_DEPTH - 1)];
		if (!((shape->len[b] >> (len < 63 ? len : 63)) & 1))
			continue;
		__u32 w = 0;
		if (s->wcopy[i & (AG_MAX_DEPTH - 1)])
			w = (__u32)s->wtext[i & (AG_MAX_DEPTH - 1)][0];
		else if (bpf_probe_read_kernel(&w, sizeof(w), (const void *)s->wname[i & (AG_MAX_DEPTH - 1)]))
			return 1;
		if (len < 4)
			w &= (1u << ((len * 8) & 31)) - 1;
		if ((shape->name[b] >> ag_name_cell(len, w)) & 1)
			return 1;
	}
	return 0;
}

/* A change hook's name (mnt, d) that no file rule of the acting pod can name: 1 when it may be
 * decided without building its path (change_shortcut), as the open hook's shortcut does, for the
 * hooks a workload hits once per file it makes (mknod for every O_CREAT, mkdir, chmod, chown). The walk is ag_shape_walk_up's, global functions both: inlining shape_walk into
 * the ten change programs doubled the object's load time (15 s to 28-34 s under the VM tests'
 * TCG). The name is given as walk_path gives it (s->w_mnt,
 * s->w_dentry: kernel pointers stored as numbers). 0 for anything it cannot tell. */
__noinline int ag_change_unnamed(__u32 unused)
{
	if (unused)
		return 0; /* the argument is used, so callers always set it (6.1 checks) */
	struct scratch *s = get_scratch();
	/* (ag_shape_walk_up refuses a name not given) */
	if (!s)
		return 0;
	/* An unhashed name is walked too: the name a create is given (open(O_CREAT) passes
	 * path_mknod a dentry still being looked up, not yet hashed), an unlinked file's. The change
	 * hooks judge such a name by ag_walk's path, which names it by the same dentries as this walk
	 * (no " (deleted)", unlike bpf_d_path), so the two agree on what a rule can name. */
	s->wn = 0;
	s->wtotal = 0;
	return ag_shape_walk_up(0) && !ag_shape_possible(0);
}

static __always_inline int change_unnamed(struct scratch *s, struct vfsmount *vmnt, struct dentry *dentry)
{
	s->w_mnt = (__u64)vmnt;
	s->w_dentry = (__u64)dentry;
	return ag_change_unnamed(0);
}

/* The file posture's verdict on a name no rule names: -EPERM under Block, 0 under Audit (its alert
 * goes by ag_posture_alert, or is counted as dropped by ag_alert_take) */
static __always_inline int posture_verdict(struct scratch *s)
{
	return s->pod.posture[AG_KIND_FILE] == AG_A_BLOCK ? -EPERM : 0;
}

/* In a file allow-list, a name no file rule of the acting pod can name (the shape says so:
 * ag_shape_possible) is decided by the posture alone, as conclude decides a path nothing
 * matched: Block denies, Audit allows, each with an alert. The alert is rated first
 * (ag_alert_take, after reset_best); its path is built only for an alert that goes, and given
 * here: len as ag_decide_path takes it (one that could not be built is denied, as there). */
__noinline int ag_posture_alert(__u32 hook, long len)
{
	struct scratch *s = get_scratch();
	if (!s)
		return -EPERM;
	if (len <= 0 || len >= AG_PATH_BUF) {
		ag_alert_emit(hook, AG_A_BLOCK, AG_RULE_POSTURE, (2 << 1) | 1);
		return -EPERM;
	}
	s->len = len;
	s->path[len & BUF_MASK] = 0;
	int ret = posture_verdict(s);
	ag_alert_emit(hook, ret ? AG_A_BLOCK : AG_A_AUDIT, AG_RULE_POSTURE, ret != 0);
	return ret;
}

/* A file name no rule names, in a file allow-list: the decision's state reset, the hook counted,
 * its alert rated. 1 when the alert goes (the caller builds the path for ag_posture_alert); 0
 * when it is over the rate (the verdict is posture_verdict's). */
static __always_inline int posture_alert_goes(struct scratch *s, __u32 write, __u32 owner)
{
	reset_best(s, AG_KIND_FILE, write, owner);
	oc_count(AG_POSTURE_UNNAMED);
	return ag_alert_take(0);
}

/* A change hook's name (mnt, d): 0 or -EPERM when decided without its path being matched (no file
 * rule of the pod can name it: allowed outside a file allow-list, the posture's verdict in one);
 * 1 when it must be decided by its path. */
static __always_inline int change_shortcut(struct scratch *s, struct vfsmount *mnt, struct dentry *d, __u32 hook)
{
	if (!change_unnamed(s, mnt, d))
		return 1;
	if (!(s->pod.allowlist[AG_KIND_FILE] & s->cgmask))
		return 0;
	if (!posture_alert_goes(s, 1, 0))
		return posture_verdict(s);
	return ag_posture_alert(hook, walk_path(s, mnt, d, 0));
}

/* The path shape_walk took apart (leaf first in s->wname / s->wlen), root first into s->path:
 * its length, or -1 when a name cannot be read or the path is longer than AG_PATH_MAX - 1. The
 * caller uses it only when rename_lock's and mount_lock's sequences, read before the walk, are
 * the same after this (no rename, no mount change meanwhile: the names are the path's). */
__noinline long ag_names_path(__u32 unused)
{
	if (unused)
		return -1; /* the argument is used, so callers always set it (6.1 checks) */
	struct scratch *s = get_scratch();
	if (!s)
		return -1;
	__u32 n = s->wn;
	if (n == 0) {
		s->path[0] = '/';
		s->path[1] = 0;
		return 1;
	}
	/* the write position lives in scratch memory (volatile), as ag_walk's: the verifier sees an
	 * unknown number at each step and its states converge */
	volatile __u32 *pp = &s->wpos;
	*pp = 0;
	for (int i = 0; i < AG_MAX_DEPTH; i++) {
		if (i >= n)
			break;
		__u32 j = (n - 1 - i) & (AG_MAX_DEPTH - 1);
		__u32 len = s->wlen[j];
		__u32 pos = *pp;
		if (pos + 1 + len >= AG_PATH_MAX)
			return -1;
		s->path[pos & PATH_MASK] = '/';
		if (s->wcopy[j]) {
			/* whole words: what passes the name is overwritten by the next '/' and name, or
			 * by the NUL at the end (s->path has room past AG_PATH_MAX) */
			ag_name_words(&s->path[(pos + 1) & PATH_MASK], s->wtext[j], len);
		} else if (bpf_probe_read_kernel(s->path + ((pos + 1) & PATH_MASK), len & PATH_MASK, (const void *)s->wname[j])) {
			return -1;
		}
		*pp = pos + 1 + len;
	}
	__u32 end = *pp;
	if (end >= AG_PATH_MAX)
		return -1;
	s->path[end & PATH_MASK] = 0;
	return end;
}

/* ------------------------------------------------- decision: each hook */
/* 1 when the file being exec'd is an ELF object without an interpreter of its own: the dynamic
 * loader (or a static PIE). The ELF format puts PT_INTERP before any PT_LOAD, so the first of the
 * two among the program headers in bprm->buf decides; neither there: 0. */
static __always_inline int elf_is_loader(struct linux_binprm *bprm)
{
	const char *b = bprm->buf;
	__u32 magic = 0;
	__u16 type = 0, phentsize = 0, phnum = 0;
	__u64 phoff = 0;
	bpf_probe_read_kernel(&magic, 4, b);
	bpf_probe_read_kernel(&type, 2, b + 16);
	bpf_probe_read_kernel(&phoff, 8, b + 32);
	bpf_probe_read_kernel(&phentsize, 2, b + 54);
	bpf_probe_read_kernel(&phnum, 2, b + 56);
	if (magic != 0x464c457f || type != 3 /* ET_DYN */ || phentsize != 56)
		return 0;
	for (int i = 0; i < 4; i++) {
		if (i >= phnum || phoff + i * 56 + 4 > 256)
			return 0;
		__u32 pt = 0;
		bpf_probe_read_kernel(&pt, 4, b + ((phoff + i * 56) & 255));
		if (pt == 3 /* PT_INTERP */)
			return 0;
		if (pt == 1 /* PT_LOAD */)
			return 1;
	}
	return 0;
}

/* An open file's path from the root of the task's mount namespace into s->path: bpf_d_path
 * when the task's root is that root, the walk when it has moved (chroot). */
static __always_inline long file_path(struct scratch *s, struct file *f)
{
	if (ag_rooted(bpf_get_current_task_btf()))
		return dpath_len(bpf_d_path((struct path *)&f->f_path, s->path, AG_PATH_BUF));
	return walk_path(s, f->f_path.mnt, f->f_path.dentry, 0);
}

static __always_inline int ag_exec(struct linux_binprm *bprm)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	if (!ag_who(AG_KIND_PROCESS))
		return 0;
	int vis = ag_vis_wants(s, AG_KIND_PROCESS);
	struct file *f = bprm->file;
	long len = file_path(s, f);
	int owner = owner_of(f->f_path.dentry);
	s->kind = AG_KIND_PROCESS;
	int ret = ag_decide_path(AG_H_EXEC, 0, owner, len);
	if (vis && len > 0 && len < AG_PATH_BUF)
		ag_vis_after(s, AG_H_EXEC, 0, ret);
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (ret == 0 && len > 0 && len < AG_PATH_MAX) {
		/* remember the new image; committed at sched_process_exec */
		bpf_map_update_elem(&pending, &tgid, s->path, BPF_ANY);
	}
	if (ret == 0 && ((s->pod.exactmask & (AG_X_PROC_PATH | AG_X_PROC_NAME | AG_X_PROC_PAT)) || s->pod.dirmask[0] ||
			 (s->pod.allowlist[AG_KIND_PROCESS] & s->cgmask))) {
		if (elf_is_loader(bprm)) {
			__u64 ino = (__u64)f->f_inode;
			bpf_map_update_elem(&loaders, &tgid, &ino, BPF_ANY);
		} else {
			bpf_map_delete_elem(&loaders, &tgid);
		}
	}
	return ret;
}

/* A visibility log of an open that went ahead with no alert: within the log's rate, the path
 * (file_path) and the log; over it, counted as dropped and nothing more. */
static __always_inline void vis_open_log(struct scratch *s, struct file *file)
{
	s->kind = AG_KIND_FILE;
	if (!ag_vis_take(0))
		return;
	long n = file_path(s, file);
	if (n > 0 && n < AG_PATH_BUF) {
		s->len = n;
		/* clang would drop the mask (n is in range) and index with a copy the verifier
		 * sees unbounded: keep n opaque so the mask stays */
		barrier_var(n);
		s->path[n & BUF_MASK] = 0;
		ag_vis_emit(AG_H_OPEN, 0);
	}
}

static __always_inline int ag_open(struct file *file)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	if (file->f_mode & AG_FMODE_NOACCOUNT)
		return 0;
	if (!ag_who(AG_KIND_FILE))
		return 0;
	int vis = ag_vis_wants(s, AG_KIND_FILE);
	if (!file_rules(s)) {
		/* allowed with no alert whatever the path: only a visibility log may want it */
		if (vis)
			vis_open_log(s, file);
		return 0;
	}
	struct task_struct *task = bpf_get_current_task_btf();
	int write = (file->f_mode & FMODE_WRITE) || (file->f_flags & AG_O_TRUNC);
	int owner = owner_of_task(file->f_path.dentry, task);
	/* the same open allowed with no alert before, nothing it depended on changed since
	 * (opencache.h): allowed again (a visibility log of it still goes, within its rate) */
	int oc = oc_key(&s->ocq, &s->fence, s->tmp, file, task, s->pod.seed, s->src_ok ? s->src_hash : 0, s->pod.pod_id, s->pod.gen, s->cgmask,
			write, owner);
	if (oc && oc_hit(s->oc, &s->ocq)) {
		if (vis)
			vis_open_log(s, file);
		return 0;
	}
	/* the components up to the namespace's root: when no rule of the pod can name this file and
	 * no allow-list wants it reported, allowed without its path (a visibility log resolves it
	 * within the log's rate) */
	int walked = shape_walk(s, task, file->f_path.mnt, file->f_path.dentry);
	int unnamed = walked && !ag_shape_possible(0);
	if (unnamed && !(s->pod.allowlist[AG_KIND_FILE] & s->cgmask)) {
		if (oc)
			oc_store(s->oc, &s->ocq);
		if (vis)
			vis_open_log(s, file);
		return 0;
	}
	/* in a file allow-list, the posture decides a path no rule can name (ag_posture_alert): its
	 * alert is rated before the path is built, and over the rate the path is not built at all
	 * (no visibility log either: ag_vis_after gives none where an alert is due) */
	if (unnamed && !posture_alert_goes(s, write, owner))
		return posture_verdict(s);
	/* the path: from the walk's names when no rename and no mount change can have come between
	 * (the sequences oc_key read before the walk, unchanged and even after it); else resolved
	 * again, with bpf_d_path when the task's root is its namespace's, the walk when not */
	long len = -1;
	int named = 0;
	if (walked && oc) {
		len = ag_names_path(0);
		oc_fence(&s->fence);
		__u32 rs = 1, ms = 1;
		named = len > 0 && oc_seqs(s->tmp, &rs, &ms) && rs == s->ocq.rseq && ms == s->ocq.mseq;
	}
	if (!named)
		len = file_path(s, file);
	s->kind = AG_KIND_FILE;
	if (unnamed)
		return ag_posture_alert(AG_H_OPEN, len);
	int ret = ag_decide_path(AG_H_OPEN, write, owner, len);
	if (oc && ret == 0 && !s->reported)
		oc_store(s->oc, &s->ocq);
	if (vis && len > 0 && len < AG_PATH_BUF)
		ag_vis_after(s, AG_H_OPEN, 0, ret);
	return ret;
}

/* A change of the name (mnt, dentry): a name below a directory (dir + '/' + name), the object at
 * a path, a name being created where bpf_d_path is not allowed (path_mknod), the existing name of
 * a link. These hooks build the path with the mount-aware walk: 6.1 does not allow bpf_d_path in
 * path_* hooks (6.12 does), and one way on every kernel keeps them alike. */
static __always_inline int ag_walk_change(struct scratch *s, struct vfsmount *mnt, struct dentry *dentry, __u32 hook)
{
	if (!s)
		return 0;
	if (!ag_who(AG_KIND_FILE) || !file_rules(s))
		return 0;
	int sc = change_shortcut(s, mnt, dentry, hook);
	if (sc <= 0)
		return sc;
	long len = walk_path(s, mnt, dentry, 0);
	s->kind = AG_KIND_FILE;
	return ag_decide_path(hook, 1, owner_of(dentry), len);
}

static __always_inline int ag_dir_change(const struct path *dir, struct dentry *dentry, int hook)
{
	return ag_walk_change(get_scratch(), BPF_CORE_READ(dir, mnt), dentry, hook);
}

static __always_inline int ag_path_change(const struct path *path, int hook)
{
	return ag_walk_change(get_scratch(), BPF_CORE_READ(path, mnt), path->dentry, hook);
}

/* A rename or link that would move a name some Block or Audit rule of the pod depends on
 * (AG_T_GUARD: a directory above a rule's target, or the target itself). The object's path is
 * looked up as a file and as a directory. What cannot be named here is left to the rule checks
 * that follow, which deny it under Block and allow-lists. */
static __always_inline int ag_guard(struct vfsmount *mnt, struct dentry *dentry, __u32 hook)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	if (!ag_who(AG_KIND_FILE) || !(s->pod.exactmask & AG_X_GUARD))
		return 0;
	long len = walk_path(s, mnt, dentry, 0);
	reset_best(s, AG_KIND_FILE, 1, 1);
	if (len <= 0 || len >= AG_TARGET_MAX)
		return 0;
	s->len = len;
	/* the hash (pass 1's, with the words' hashes for the path + '/') */
	ag_pass1(0);
	probe(s, AG_T_GUARD, s->q_h, 0, 0, len, 0xffff, 0);
	__u32 l = len & PATH_MASK;
	s->path[l] = '/';
	s->path[(l + 1) & BUF_MASK] = 0;
	probe(s, AG_T_GUARD, ag_prefix_hash(s, l + 1), 0, 0, l + 1, 0xffff, 0);
	s->path[l] = 0;
	if (!s->best_score || s->best_action == AG_A_ALLOW)
		return 0;
	int deny = s->best_action == AG_A_BLOCK;
	ag_report(hook, s->best_action, s->best_rule, deny);
	return deny ? -EPERM : 0;
}

/* The protocols a socket() names (AG_P_* bits). Every family but AF_UNIX is network: a family
 * without a protocol of its own here (netlink, vsock, AF_ALG, ...) names only "all", so a
 * network allow-list decides it by its posture. A packet socket (AF_PACKET of any type, or the
 * old SOCK_PACKET) reads and writes raw frames: it is "raw" too. MPTCP (IPPROTO_MPTCP on a
 * stream socket) is TCP to the application and to a rule. */
static __always_inline __u32 socket_protocols(int family, int type, int protocol)
{
	__u32 m = 1u << AG_P_ALL;
	type &= SOCK_TYPE_MASK;
	if (family == AF_UNIX)
		return 0;
	if (family == AF_PACKET || type == SOCK_PACKET)
		return m | (1u << AG_P_PACKET) | (1u << AG_P_RAW) | (type == SOCK_DGRAM ? 1u << AG_P_DGRAM : 0);
	if (family != AF_INET && family != AF_INET6)
		return m;
	if (type == SOCK_STREAM) {
		m |= 1u << AG_P_STREAM;
		if (protocol == 0 || protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP)
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

/* protocol or capability rules, then the verdict */
__noinline int ag_decide_numbers(__u32 hook, __u32 ttype, __u32 set, __u32 value)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	reset_best(s, s->kind & 3, 0, 1);
	for (int src = 0; src < 2; src++) {
		if (src && !s->src_ok)
			break;
		__u32 srcbit = src ? (1u << 20) : 0;
		if (ttype == AG_T_CAP) {
			if (value < 64 && ((s->pod.capmask >> value) & 1))
				probe(s, AG_T_CAP, value, src, 0, 0, srcbit, 0);
			continue;
		}
		__u32 want = set & s->pod.protomask;
		for (int i = 0; i < AG_P_COUNT; i++) {
			if (want & (1u << i))
				probe(s, AG_T_PROTO, i, src, 0, 0, srcbit, 0);
		}
	}
	s->num = ttype == AG_T_CAP ? value : set;
	return conclude(s, hook, 1);
}

static __always_inline int ag_socket(int family, int type, int protocol, int kern)
{
	if (kern)
		return 0;
	__u32 set = socket_protocols(family, type, protocol);
	if (!set)
		return 0;
	struct ag_config *cfg = get_config();
	/* no pod of the node has a rule on these protocols or a network allow-list */
	if (cfg && cfg->summary_valid && !(set & cfg->net_protos) && !cfg->net_allowlist && !ag_vis_node(AG_KIND_NETWORK))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	if (!ag_who(AG_KIND_NETWORK))
		return 0;
	int vis = ag_vis_wants(s, AG_KIND_NETWORK);
	/* no rule on these protocols and no allow-list: allow, no event */
	if (!vis && !(set & s->pod.protomask) && !(s->pod.allowlist[AG_KIND_NETWORK] & s->cgmask))
		return 0;
	ag_sock_set(family, type, protocol);
	s->kind = AG_KIND_NETWORK;
	int ret = ag_decide_numbers(AG_H_SOCKET, AG_T_PROTO, set, 0);
	if (vis)
		ag_vis_after(s, AG_H_SOCKET, 1, ret);
	return ret;
}

static __always_inline int ag_capable(int cap)
{
	struct ag_config *cfg = get_config();
	/* no pod of the node has a rule on this capability or a capabilities allow-list */
	if (cfg && cfg->summary_valid && !cfg->caps_allowlist && !(cap >= 0 && cap < 64 && ((cfg->caps >> cap) & 1)) &&
	    !ag_vis_node(AG_KIND_CAPABILITIES))
		return 0;
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	if (!ag_who(AG_KIND_CAPABILITIES))
		return 0;
	int vis = ag_vis_wants(s, AG_KIND_CAPABILITIES);
	/* no rule on this capability and no allow-list: allow, no event */
	if (!vis && !(cap >= 0 && cap < 64 && ((s->pod.capmask >> cap) & 1)) && !(s->pod.allowlist[AG_KIND_CAPABILITIES] & s->cgmask))
		return 0;
	s->kind = AG_KIND_CAPABILITIES;
	int ret = ag_decide_numbers(AG_H_CAPABLE, AG_T_CAP, 0, (__u32)cap);
	if (vis)
		ag_vis_after(s, AG_H_CAPABLE, 1, ret);
	return ret;
}

/* ---------------------------------------------------------- entry points */
#define CG(r) ((r) == 0 ? 1 : 0)
#define MAC(r) ((r) == 0 ? 0 : -EPERM)

SEC("lsm_cgroup/bprm_check_security")
int BPF_PROG(ag_cg_exec, struct linux_binprm *bprm) { return CG(ag_exec(bprm)); }
SEC("lsm/bprm_check_security")
int BPF_PROG(ag_mac_exec, struct linux_binprm *bprm) { return MAC(ag_exec(bprm)); }

SEC("lsm_cgroup/file_open")
int BPF_PROG(ag_cg_open, struct file *file) { return CG(ag_open(file)); }
SEC("lsm/file_open")
int BPF_PROG(ag_mac_open, struct file *file) { return MAC(ag_open(file)); }

SEC("lsm_cgroup/socket_create")
int BPF_PROG(ag_cg_socket, int family, int type, int protocol, int kern) { return CG(ag_socket(family, type, protocol, kern)); }
SEC("lsm/socket_create")
int BPF_PROG(ag_mac_socket, int family, int type, int protocol, int kern) { return MAC(ag_socket(family, type, protocol, kern)); }

SEC("lsm_cgroup/capable")
int BPF_PROG(ag_cg_capable, const struct cred *cred, struct user_namespace *ns, int cap, unsigned int opts)
{
	return CG(ag_capable(cap));
}
SEC("lsm/capable")
int BPF_PROG(ag_mac_capable, const struct cred *cred, struct user_namespace *ns, int cap, unsigned int opts)
{
	return MAC(ag_capable(cap));
}

/* namespace-changing hooks: BPF_LSM_MAC in both modes (see armorgate.h) */
SEC("lsm/path_mknod")
int BPF_PROG(ag_mknod, const struct path *dir, struct dentry *dentry, umode_t mode, unsigned int dev)
{
	return MAC(ag_walk_change(get_scratch(), BPF_CORE_READ(dir, mnt), dentry, AG_H_CREATE));
}
SEC("lsm/path_mkdir")
int BPF_PROG(ag_mkdir, const struct path *dir, struct dentry *dentry, umode_t mode)
{
	return MAC(ag_dir_change(dir, dentry, AG_H_MKDIR));
}
SEC("lsm/path_rmdir")
int BPF_PROG(ag_rmdir, const struct path *dir, struct dentry *dentry) { return MAC(ag_dir_change(dir, dentry, AG_H_RMDIR)); }
SEC("lsm/path_unlink")
int BPF_PROG(ag_unlink, const struct path *dir, struct dentry *dentry) { return MAC(ag_dir_change(dir, dentry, AG_H_UNLINK)); }
SEC("lsm/path_symlink")
int BPF_PROG(ag_symlink, const struct path *dir, struct dentry *dentry, const char *old_name)
{
	return MAC(ag_dir_change(dir, dentry, AG_H_SYMLINK));
}
/* ------------------------------------------- renames below a pattern */
/* The states the pod's automata (process, file: the kinds `x` names) end in for (m, d)'s path,
 * with "/" appended for a directory (`dir`: the guard of what lies beneath) or as it is (a
 * program: the state's own entries), into out (ag_pat_end's answers); s->path keeps the path,
 * s->len its length. 0, or -1 when the path cannot be named. */
static __always_inline int pat_states(struct scratch *s, struct vfsmount *m, struct dentry *d, __u32 x, int dir, long *out)
{
	long len = walk_path(s, m, d, 0);
	if (len <= 0 || len >= AG_PATH_BUF - 2)
		return -1;
	__u32 l = len & BUF_MASK;
	if (dir) {
		s->path[l] = '/';
		s->path[(l + 1) & BUF_MASK] = 0;
	}
	__u32 own = dir ? 0 : AG_PAT_OWN;
	if (x & AG_X_PROC_PAT)
		out[0] = ag_pat_end(AG_KIND_PROCESS | own);
	if (x & AG_X_FILE_PAT)
		out[1] = ag_pat_end(AG_KIND_FILE | own);
	s->path[l] = 0;
	s->len = len;
	return 0;
}

static __always_inline int is_dir(struct dentry *d)
{
	struct inode *ino = d->d_inode;
	return ino && (ino->i_mode & 0170000) == 0040000;
}

/* A rename or link that would carry names out of reach of the pod's Block or Audit patterns:
 *  - a directory from where such a pattern may match a name beneath it (its path + "/" ends in a
 *    state with a guard: bpf/pattern.h) to where its path + "/" ends in another state. In the
 *    same state every name beneath keeps its verdicts, so such a move is left alone (`mv /srv/a
 *    /srv/b` under "/srv/ * /key"); a literal directory above a pattern is a guard name already
 *    (ag_guard). The destination, when it is a directory (an exchange moves it the other way),
 *    is judged the same;
 *  - a program a process pattern matches (the path's state has such an entry of its own) to a
 *    name ending in another state: `mv` or `ln` of /opt/a/tool under "/opt/{a,b}/tool". (A file
 *    a file pattern matches is judged by the change hooks as a change of it: ag_dir_change.)
 * Refused under Block, reported under Audit, with the pattern's rule. An automaton missing or a
 * path that cannot be named: refused under the kinds' Block rules or allow-lists, else
 * reported. */
static __always_inline int ag_pat_moved(struct vfsmount *om, struct dentry *od, struct vfsmount *nm, struct dentry *nd, __u32 hook)
{
	struct scratch *s = get_scratch();
	if (!s || !ag_who(AG_KIND_FILE))
		return 0;
	__u32 x = s->pod.exactmask & (AG_X_PROC_PAT | AG_X_FILE_PAT);
	if (!x)
		return 0;
	int od_dir = is_dir(od), nd_dir = is_dir(nd);
	int dir = od_dir || nd_dir;
	if (!dir) {
		if (!(x & AG_X_PROC_PAT))
			return 0;
		x = AG_X_PROC_PAT;
	}
	/* the sides that move: a directory (dir), or a program that exists (the destination of an
	 * exchange, or one a rename replaces) */
	int om_moves = dir ? od_dir : 1, nm_moves = dir ? nd_dir : nd->d_inode != 0;
	long so[2] = {}, sn[2] = {};
	/* the destination first: s->path then holds the source's path, for the report */
	int bad = pat_states(s, nm, nd, x, dir, sn) || pat_states(s, om, od, x, dir, so);
	long g = 0;
	for (int k = 0; k < 2; k++) {
		if (so[k] < 0 || sn[k] < 0)
			bad = 1;
		else if ((so[k] & 0xffff) != (sn[k] & 0xffff)) {
			long a = om_moves ? so[k] : 0, b = nm_moves ? sn[k] : 0;
			/* a Block entry over an Audit one */
			long pick = ((a >> 16) & 3) >= ((b >> 16) & 3) ? a : b;
			if (((pick >> 16) & 3) > ((g >> 16) & 3))
				g = pick;
		}
	}
	s->kind = AG_KIND_FILE;
	if (bad) {
		__u32 strict = fails_closed(s, AG_KIND_FILE);
		if (x & AG_X_PROC_PAT)
			strict |= fails_closed(s, AG_KIND_PROCESS);
		ag_report(hook, strict ? AG_A_BLOCK : AG_A_AUDIT, AG_RULE_POSTURE, (2 << 1) | !!strict);
		return strict ? -EPERM : 0;
	}
	__u32 action = (g >> 16) & 3;
	if (action != AG_A_BLOCK && action != AG_A_AUDIT)
		return 0;
	int deny = action == AG_A_BLOCK;
	ag_report(hook, action, (__u32)(g >> 32), deny);
	return deny ? -EPERM : 0;
}

/* Any dentry getting an inode, in any task (a lookup that missed the dcache, a create, a link):
 * the open cache's slots stop matching (opencache.h). Global in both attach modes. */
SEC("lsm/d_instantiate")
int BPF_PROG(ag_d_instantiate, struct dentry *dentry, struct inode *inode)
{
	__u32 zero = 0;
	__u64 *ep = bpf_map_lookup_elem(&ocepoch, &zero);
	if (!ep)
		return 0;
	if (!(*(volatile __u64 *)ep & 1))
		__sync_fetch_and_or(ep, 1); /* armed */
	if (!dentry || dentry->d_parent == dentry)
		return 0; /* its own parent: a pseudo file or a new root (opencache.h) */
	/* a fetching add: fully ordered (ldaddal on arm64), so the count has moved before the dentry
	 * gets its inode */
	__u32 slot = oc_sb_slot(dentry->d_sb);
	__u64 *se = bpf_map_lookup_elem(&ocsb, &slot);
	if (se) {
		__u64 was = __sync_fetch_and_add(se, 1);
		barrier_var(was);
	}
	return 0;
}

SEC("lsm/path_link")
int BPF_PROG(ag_link, struct dentry *old_dentry, const struct path *new_dir, struct dentry *new_dentry)
{
	if (ag_dir_change(new_dir, new_dentry, AG_H_LINK))
		return -EPERM;
	if (ag_guard(BPF_CORE_READ(new_dir, mnt), old_dentry, AG_H_LINK))
		return -EPERM;
	/* a program a process pattern matches (a link never crosses mounts) */
	if (ag_pat_moved(BPF_CORE_READ(new_dir, mnt), old_dentry, BPF_CORE_READ(new_dir, mnt), new_dentry, AG_H_LINK))
		return -EPERM;
	/* the existing name too: linking a protected file elsewhere would open a way around it */
	return MAC(ag_walk_change(get_scratch(), BPF_CORE_READ(new_dir, mnt), old_dentry, AG_H_LINK));
}
SEC("lsm/path_rename")
int BPF_PROG(ag_rename, const struct path *old_dir, struct dentry *old_dentry, const struct path *new_dir,
	     struct dentry *new_dentry)
{
	/* either side: an exchange (RENAME_EXCHANGE) moves the destination's name too */
	if (ag_guard(BPF_CORE_READ(old_dir, mnt), old_dentry, AG_H_RENAME) ||
	    ag_guard(BPF_CORE_READ(new_dir, mnt), new_dentry, AG_H_RENAME))
		return -EPERM;
	if (ag_pat_moved(BPF_CORE_READ(old_dir, mnt), old_dentry, BPF_CORE_READ(new_dir, mnt), new_dentry, AG_H_RENAME))
		return -EPERM;
	if (ag_dir_change(old_dir, old_dentry, AG_H_RENAME))
		return -EPERM;
	return MAC(ag_dir_change(new_dir, new_dentry, AG_H_RENAME));
}
SEC("lsm/path_truncate")
int BPF_PROG(ag_truncate, const struct path *path) { return MAC(ag_path_change(path, AG_H_TRUNCATE)); }
SEC("lsm/path_chmod")
int BPF_PROG(ag_chmod, const struct path *path) { return MAC(ag_path_change(path, AG_H_CHMOD)); }
SEC("lsm/path_chown")
int BPF_PROG(ag_chown, const struct path *path) { return MAC(ag_path_change(path, AG_H_CHOWN)); }

/* The program a dynamic loader run as a command maps (`/lib64/ld-linux-x86-64.so.2 PROG`: only
 * the loader is exec'd, so bprm_check never sees PROG): the first file other than the loader
 * itself that the process maps for execution after such an exec is judged as an exec of it,
 * with the process rules, and becomes the process's executable for fromSource. */
static __always_inline int ag_mmap(struct file *file, unsigned long prot)
{
	if (!file || !(prot & 4 /* PROT_EXEC */))
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 *ino = bpf_map_lookup_elem(&loaders, &tgid);
	if (!ino || *ino == (__u64)file->f_inode)
		return 0;
	bpf_map_delete_elem(&loaders, &tgid);
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	if (!ag_who(AG_KIND_PROCESS))
		return 0;
	long len = file_path(s, file);
	int owner = owner_of(file->f_path.dentry);
	s->kind = AG_KIND_PROCESS;
	int ret = ag_decide_path(AG_H_MMAP, 0, owner, len);
	if (ret == 0 && len > 0 && len < AG_PATH_MAX)
		exes_put(tgid, s->path);
	return ret;
}

SEC("lsm/mmap_file")
int BPF_PROG(ag_mmap_file, struct file *file, unsigned long reqprot, unsigned long prot, unsigned long flags)
{
	return MAC(ag_mmap(file, prot));
}

/* Mounts from a user namespace the pod's task made itself (unshare -U, then -m): with the
 * capabilities it holds there, a bind mount or a pivot_root gives a protected file or program
 * another path, out of reach of a rule by path. Denied (a Block event) in a pod with any
 * process or file rule; the container runtime's own mounts (runc init, at the pod's user
 * namespace level) are not affected. */
static __always_inline int ag_mount(const struct path *where)
{
	struct scratch *s = get_scratch();
	if (!s)
		return 0;
	if (!ag_who(AG_KIND_FILE))
		return 0;
	if (!(s->pod.exactmask & (AG_X_PROC_PATH | AG_X_PROC_NAME | AG_X_FILE_PATH | AG_X_PROC_PAT | AG_X_FILE_PAT)) && !s->pod.dirmask[0] &&
	    !s->pod.dirmask[1])
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 level = BPF_CORE_READ(task, cred, user_ns, level);
	if (level <= s->pod.userns_level)
		return 0;
	s->kind = AG_KIND_FILE;
	long len = where ? walk_path(s, BPF_CORE_READ(where, mnt), BPF_CORE_READ(where, dentry), 0) : -1;
	ag_report(AG_H_MOUNT, AG_A_BLOCK, AG_RULE_POSTURE, ((len > 0 ? 0 : 2) << 1) | 1);
	return -EPERM;
}

SEC("lsm/sb_mount")
int BPF_PROG(ag_sb_mount, const char *dev_name, const struct path *path, const char *type, unsigned long flags, void *data)
{
	return MAC(ag_mount(path));
}
SEC("lsm/move_mount")
int BPF_PROG(ag_move_mount, const struct path *from_path, const struct path *to_path) { return MAC(ag_mount(to_path)); }
SEC("lsm/sb_pivotroot")
int BPF_PROG(ag_pivotroot, const struct path *old_path, const struct path *new_path) { return MAC(ag_mount(new_path)); }

/* executable cache: commit after a successful exec, inherit across fork */
SEC("tracepoint/sched/sched_process_exec")
int ag_tp_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	runtime_exec_done();
	struct ag_exe *p = bpf_map_lookup_elem(&pending, &tgid);
	if (!p) {
		/* an exec with no image recorded (ag_exec records only what it allowed in a pod, with
		 * a path under AG_PATH_MAX): the process's entry, inherited or from its last image,
		 * names an executable it no longer runs (a fromSource of the old image must not pass
		 * to the new one) */
		exes_drop(tgid);
		return 0;
	}
	exes_put(tgid, p);
	bpf_map_delete_elem(&pending, &tgid);
	return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int ag_tp_fork(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct ag_exe *p = bpf_map_lookup_elem(&exes, &tgid);
	struct ag_config *cfg = get_config();
	/* child_pid's offset in the tracepoint record: comm as char[16] (older
	 * kernels) or as __data_loc (newer); userspace reads the format file */
	__u32 at20 = *(volatile __s32 *)((char *)ctx + 20);
	__u32 at44 = *(volatile __s32 *)((char *)ctx + 44);
	__u32 child = (cfg && cfg->fork_layout == 1) ? at20 : at44;
	if (child == tgid)
		return 0;
	/* entries go only by the LRU: a child whose parent has none recorded must not take what
	 * an earlier process of the same pid left */
	if (!p) {
		exes_drop(child);
		return 0;
	}
	exes_put(child, p);
	return 0;
}

/* probe programs for `armorgate probe`: allow everything */
SEC("lsm_cgroup/file_open")
int BPF_PROG(ag_probe_cg, struct file *file) { return 1; }
SEC("lsm/file_open")
int BPF_PROG(ag_probe_mac, struct file *file) { return 0; }
