/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * ArmorGate: every struct, constant and map layout shared between the BPF
 * programs (bpf/armorgate.bpf.c) and userspace (enforcer/kernel/layout.ts).
 * test/kernel/layout.test.ts checks the TypeScript offsets against the BTF of
 * the compiled object, so a change here that is not mirrored there fails.
 *
 * Hooks (why these, and how the kernel's 10 cgroup-attachable LSM hooks are spent)
 * -------------------------------------------------------------------------------
 * Only the four hot hooks use BPF_LSM_CGROUP slots in cgroup mode (4 of 10):
 *   bprm_check_security  exec (process rules; bpf_d_path on bprm->file) and the
 *                        per-task executable cache used by fromSource
 *   file_open            reads and write-opens (FMODE_WRITE, O_TRUNC), bpf_d_path unless
 *                        the pod's file shape (struct ag_file_shape) rules every rule out
 *   socket_create        network rules (protocols); first the node summary (struct ag_config)
 *   capable              capability rules; the same
 * Namespace-changing operations are rare, so their hooks are BPF_LSM_MAC
 * programs in both modes, scoped by the acting task's cgroup exactly as global
 * mode scopes every hook (cgroup id cache, then the pod-UID name walk):
 *   path_mknod (create via open(O_CREAT), mknod), path_mkdir, path_rmdir,
 *   path_unlink, path_rename, path_link, path_symlink, path_truncate,
 *   path_chmod, path_chown. Their paths come from a mount-aware dentry walk up
 *   to the task's root (bounded: deeper than 128 steps is unresolvable, so
 *   denied under Block/allow-list), because 6.1 allows bpf_d_path in none of
 *   the path_* hooks (6.12 in some). exec and file_open use bpf_d_path.
 * Spending one cgroup slot per namespace hook would need 14 slots; merging them
 * into inode_* hooks would lose the mount (no full path), so it is not done.
 * Two tracepoints (sched_process_exec, sched_process_fork) keep the executable
 * cache right after a successful exec and across fork.
 *
 * Patterns (matchPatterns) are evaluated through one automaton per pod generation
 * and kind, walked over the resolved path: bpf/pattern.h.
 */
#ifndef ARMORGATE_H
#define ARMORGATE_H

#define AG_PATH_MAX      512   /* full path buffer (bytes, NUL included) */
#define AG_UID_LEN       40    /* pod UID: 36 chars + NUL, padded */
#define AG_MAX_ENT       8     /* rules sharing one (target, source) key */
#define AG_MAX_DEPTH     64    /* directory levels looked up per path */
#define AG_COMM_LEN      16

/* kinds (index into per-kind arrays) */
#define AG_KIND_PROCESS      0
#define AG_KIND_FILE         1
#define AG_KIND_NETWORK      2
#define AG_KIND_CAPABILITIES 3

/* target types in a rule key */
#define AG_T_PATH        1   /* exact full path */
#define AG_T_DIR         2   /* directory, path ends with '/' */
#define AG_T_EXECNAME    3   /* executable base name */
#define AG_T_PROTO       4   /* hash = protocol index (AG_P_*) */
#define AG_T_CAP         5   /* hash = capability number */
#define AG_T_GUARD       6   /* a name a rename or link may not move (kind file): a directory
                              * above a Block/Audit rule's target (with '/'), or the target */

/* actions (also the precedence at equal rank: higher wins) */
#define AG_A_ALLOW  1
#define AG_A_AUDIT  2
#define AG_A_BLOCK  3

/* rule entry flags */
#define AG_F_VALID      0x01
#define AG_F_READONLY   0x02
#define AG_F_OWNERONLY  0x04
#define AG_F_RECURSIVE  0x08

/* protocol indexes (bit positions of the socket's match set) */
#define AG_P_TCP        0
#define AG_P_UDP        1
#define AG_P_ICMP       2
#define AG_P_ICMPV6     3
#define AG_P_RAW        4
#define AG_P_SCTP       5
#define AG_P_STREAM     6
#define AG_P_DGRAM      7
#define AG_P_RDM        8
#define AG_P_SEQPACKET  9
#define AG_P_DCCP       10
#define AG_P_PACKET     11
#define AG_P_ALL        12
#define AG_P_COUNT      13

/* hooks reported in events */
#define AG_H_EXEC       1
#define AG_H_OPEN       2
#define AG_H_CREATE     3
#define AG_H_MKDIR      4
#define AG_H_RMDIR      5
#define AG_H_UNLINK     6
#define AG_H_RENAME     7
#define AG_H_LINK       8
#define AG_H_SYMLINK    9
#define AG_H_TRUNCATE   10
#define AG_H_CHMOD      11
#define AG_H_CHOWN      12
#define AG_H_SOCKET     13
#define AG_H_CAPABLE    14
#define AG_H_MOUNT      15   /* mount, move_mount, pivot_root from a user namespace the pod made */
#define AG_H_MMAP       16   /* a program mapped for execution by the dynamic loader run as a command */

/* event types */
#define AG_EV_DECISION  1
#define AG_EV_DROPPED   2

#define AG_RULE_POSTURE 0xffffffffu  /* decided by the pod's posture */

/* container masks: bit i = the pod's container i (i < 31); bit 31 = "every
 * container". A rule naming no container has every bit set; a cgroup whose
 * container is not known yet has only bit 31, so container-limited rules do
 * not apply to it (as policy/decide.ts). */
#define AG_EVERY          0x80000000u
#define AG_ALL_CONTAINERS 0xffffffffu
#define AG_MAX_CONTAINERS 31

/* cgroup flags */
#define AG_CG_POD       0x1   /* uid is valid: the cgroup belongs to a pod */
#define AG_CG_USER      0x2   /* written by userspace (container mask known) */

/* pods map, key: struct ag_uid (the pod UID with '-', NUL padded). The value is
 * replaced as a whole (an update links a new element in place of the old one), which is how
 * a new rule generation goes live atomically. The map is preallocated, so the next update on
 * that CPU may reuse the old element at once: a reader that copies or reads the value checks
 * afterwards that gen and pod_id are unchanged (ag_who, ag_shape_possible). */
struct ag_uid {
	char uid[AG_UID_LEN];
};

struct ag_pod_head {
	__u32 pod_id;          /* stable per pod, chosen by userspace */
	__u32 gen;             /* live rule generation */
	__u8 posture[4];       /* per kind: AG_A_AUDIT or AG_A_BLOCK */
	__u8 has_source[4];    /* per kind: 1 when any rule has a fromSource */
	__u32 allowlist[4];    /* per kind: container mask where some Allow rule applies */
	__u32 has_block[4];    /* per kind: container mask where some Block rule applies */
	/* which lookups can hit, so a check skips the others (same result, fewer lookups) */
	__u64 dirmask[2];      /* process, file: bit n when a directory rule has n '/' (bit 63: 63
	                        * or more); a path's directory levels without rules are not looked up */
	__u64 capmask;         /* capabilities with a rule */
	__u32 protomask;       /* protocols (AG_P_* bits) with a rule */
	__u32 exactmask;       /* AG_X_* */
	/* container mask of a task in a container scope userspace has not told (map cgroups):
	 * AG_EVERY (rules naming no container) while the pod's containers are not all known yet,
	 * AG_ALL_CONTAINERS (every rule of every container) once they are, so that a restarted or
	 * ephemeral container is never less restricted than any container of its pod; 0 reads as
	 * AG_EVERY */
	__u32 unknown_mask;
	/* the user-namespace level the pod's containers run at (0: the node's, 1: hostUsers:
	 * false); a task deeper than that made its own user namespace */
	__u32 userns_level;
	__u64 seed;            /* basis of this generation's rule and source hashes (ag_hash): random
	                        * per generation, so collisions cannot be crafted offline */
	/* process, file: bit (h & 255) for the hash h of every exact path, base name and directory
	 * target of the kind: a path probe whose hash has no bit here cannot hit, and is not made */
	__u64 hashmask[2][4];
};

/* What a file open must know before it resolves a path (bpf_d_path, the larger part of
 * its cost): the depth, length and first bytes of the last component of every file rule's
 * target (exact path or directory; the pod's rules of every container and source). A path
 * none of whose components matches one at its depth cannot be named by any rule, so when
 * no allow-list wants it reported the open is allowed without the path. Depth d = the
 * component's position from the root (1 = "/etc"); depths past 15 share bucket 15; len[0]
 * nonzero: a rule on "/" itself, every path may match. */
#define AG_SHAPE_DEPTHS  16
struct ag_file_shape {
	__u64 len[AG_SHAPE_DEPTHS];   /* bit min(L, 63) when a last component of L bytes is that deep */
	__u64 name[AG_SHAPE_DEPTHS];  /* bit ag_name_cell(L, its first min(L, 4) bytes as a
	                               * little-endian u32, the rest zero) */
};

/* 6 bits from a name's length and first bytes: ((prefix ^ (len << 24)) * 0x9E3779B1) >> 26
 * in u32 arithmetic (enforcer/kernel/entries.ts computes the same) */
static inline __u32 ag_name_cell(__u32 len, __u32 prefix)
{
	return ((prefix ^ (len << 24)) * 0x9E3779B1u) >> 26;
}

/* The pods map value. ag_who copies it to scratch (and keeps it there for the next hook of the
 * same cgroup on that CPU while nothing it came from changed). */
struct ag_pod {
	struct ag_pod_head h;
	struct ag_file_shape shape;
};

#define AG_X_PROC_PATH   0x1
#define AG_X_PROC_NAME   0x2
#define AG_X_FILE_PATH   0x4
#define AG_X_GUARD       0x8   /* the pod has AG_T_GUARD entries */

/* rules map */
struct ag_rule_key {
	__u64 hash;            /* FNV-1a 64 of the target string from the pod's seed, or the number */
	__u64 src_hash;        /* FNV-1a 64 of fromSource from the pod's seed, 0 when none */
	__u32 pod_id;
	__u32 gen;
	__u8 kind;
	__u8 ttype;
	__u8 pad[6];
};

struct ag_rule_ent {
	__u32 rule_id;         /* index in the pod's profile (process, file, network, capabilities order) */
	__u32 containers;      /* container bits; AG_ALL_CONTAINERS when the rule names none */
	__u8 action;
	__u8 flags;
	__u8 pad[2];
};

struct ag_rule_val {
	char path[AG_PATH_MAX]; /* the full target string, compared on every hit */
	struct ag_rule_ent ent[AG_MAX_ENT];
};

/* sources map: a fromSource path known for a pod generation */
struct ag_src_key {
	__u64 src_hash;
	__u32 pod_id;
	__u32 gen;
};

struct ag_src_val {
	char path[AG_PATH_MAX];
};

/* cgroups map (hash, written by userspace only): a container scope's cgroup id -> the pod
 * and the container's bit. A task anywhere below the scope gets that container's mask. */
struct ag_cgroup {
	char uid[AG_UID_LEN];
	__u32 containers;      /* (1 << index) | AG_EVERY, or AG_ALL_CONTAINERS past the 31st */
	__u32 flags;           /* AG_CG_* */
};

/* cgcache map (LRU, written by the programs): any cgroup id -> what its place in the cgroup
 * tree says. A pod is the cgroup kubelet made directly under a kubepods root (struct
 * ag_config kp_id) or under its QoS child, found from the top of the tree (the ancestors
 * array, 6.0+; walking up at most 64 levels before), so that nothing a pod creates below
 * itself (any depth on 6.0+, any name) changes the answer; the container scope is the
 * pod cgroup's child on the task's path. Cgroup ids are never reused, so an entry stays true
 * while kp_gen does. */
struct ag_cgcache {
	char uid[AG_UID_LEN];
	__u64 scope;           /* cgroup id of the container scope; 0 in the pod cgroup itself */
	__u32 flags;           /* AG_CG_POD when a pod */
	__u32 kp_gen;          /* ag_config.kp_gen it was resolved under */
};

/* executable cache (LRU), key: tgid. Map exes holds the current executable;
 * map pending the one bprm_check saw, committed by sched_process_exec. */
struct ag_exe {
	char path[AG_PATH_MAX];
};

/* rate limit (LRU), key: cgroup id */
struct ag_rate {
	__u64 window_ns;
	__u32 count;
	__u32 dropped;
};

/* config array map, one element */
struct ag_config {
	__u32 rate_per_sec;    /* events per cgroup per second; 0 = unlimited */
	__u32 fork_layout;     /* sched_process_fork record: 0 comm char[16], 1 __data_loc comm */
	/* What every pod of the node together may decide on sockets and capabilities, kept by
	 * userspace as a superset of every live generation (widened before a pod's flip, narrowed
	 * after it): a socket() or capable() that no pod could decide otherwise than "allow, no
	 * event" is allowed before the acting pod is looked up. Ignored while summary_valid is 0. */
	__u32 summary_valid;
	__u32 net_protos;      /* AG_P_* bits some pod has a rule on */
	__u64 caps;            /* capabilities some pod has a rule on */
	__u32 net_allowlist;   /* 1 when some pod's network rules are an allow-list */
	__u32 caps_allowlist;  /* the same for capabilities */
	/* the kubepods roots (systemd driver kubepods.slice, cgroupfs kubepods): cgroup id, 0 for
	 * none; kp_gen changes whenever they do */
	__u64 kp_id[2];
	__u32 kp_gen;
	/* changed by userspace after every write of pods or cgroups: ag_who's per-CPU memo of the
	 * acting cgroup's pod is valid for one value (and for less than AG_WHO_MEMO_TICKS jiffies) */
	__u32 pods_epoch;
};

/* ring-buffer event */
struct ag_event {
	__u64 time_ns;
	__u64 cgroup_id;
	__u32 type;            /* AG_EV_* */
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__u32 rule_id;         /* AG_RULE_POSTURE when decided by posture */
	__u32 gen;             /* rule generation that decided */
	__s32 err;             /* 0 allowed, -EPERM denied */
	__u32 dropped;         /* AG_EV_DROPPED: events dropped in the last window */
	__u8 hook;
	__u8 kind;
	__u8 action;           /* AG_A_* */
	__u8 denied;
	__u8 pad[4];
	char pod_uid[AG_UID_LEN];
	char exe[AG_PATH_MAX];
	char source[AG_PATH_MAX];
	char target[AG_PATH_MAX];
};

#endif /* ARMORGATE_H */
