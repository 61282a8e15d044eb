/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * The open cache: a file open that was allowed with no event is allowed again, without its
 * path, while nothing the decision depended on can have changed.
 *
 * A decision of ag_open is a function of: the acting pod's generation (pod_id, gen, and the
 * generation's random seed, so that a pod id reused by a later pod never matches), the
 * container mask, the validated fromSource (its hash), write or not, owner or not, and the
 * path, which is a function of the dentry, the mount, and the mount tree up to the root of the
 * task's mount namespace (whether the task's root is that root or below it, ag_rooted, is a
 * function of the same tree and the task's root). Each slot keeps all of these; a hit needs all
 * equal, and the kernel's own invalidations unchanged since the slot was written:
 *   - rename_lock's sequence: every dentry move (rename, d_exchange, a directory alias moved by
 *     d_splice_alias) takes it for writing, so any change of any name above any file moves it;
 *   - mount_lock's sequence: every change of the mount tree (mount, umount, move, pivot_root,
 *     a namespace's mounts freed) takes it for writing;
 *   - the count of the dentry's superblock (ocsb, shared with the superblocks hashed to the same
 *     slot), bumped by ag_d_instantiate whenever a dentry of it gets an inode (a lookup that missed the dcache, a create, a link): a freed dentry
 *     whose memory comes back at the same address as another name of a file (of the same
 *     superblock: of another one, it is reached through another mount) never matches the slot
 *     of the old name. Not bumped for a dentry that is its own parent (sockets, pipes, memfds,
 *     a new superblock's root, a disconnected dentry), and such a dentry is never cached: a
 *     slot's dentry coming back as one is never served, and coming back as any other dentry
 *     bumps the count.
 * The sequences are read before the decision and stored with it; a sequence that moved while
 * the decision ran leaves a slot that never matches. An odd sequence (a writer inside) is not
 * cached, and neither is an unlinked name (its path gained " (deleted)" with nothing moved) nor a
 * dentry that is its own parent (not counted below): the dentry is checked on every lookup.
 * Only "allowed, no event" is cached: every denial and every audit is decided and
 * reported each time, as is every open of a pod that asked for visibility logs of files.
 *
 * Off unless everything it needs is there: the two sequences are kernel data symbols
 * (typeless weak ksyms, resolved by libbpf from /proc/kallsyms; absent: address 0), and
 * ocepoch's bit 0 is clear until ag_d_instantiate has run once, so an object whose
 * invalidation program is not attached never caches. Per CPU (in the scratch map): no two writers of a slot, under the
 * same condition as the scratch itself (non-sleepable programs are not preempted). */
#ifndef ARMORGATE_OPENCACHE_H
#define ARMORGATE_OPENCACHE_H

#define AG_OC_SLOTS 32
#define AG_OC_WRITE 0x1
#define AG_OC_OWNER 0x2
#define AG_OC_VALID 0x4

struct ag_oc_ent {
	__u64 dentry;     /* struct dentry * of the opened file */
	__u64 mnt;        /* its struct vfsmount * */
	__u64 inode;      /* dentry->d_inode */
	__u64 nsroot;     /* struct mount *: root of the task's mount namespace */
	__u64 root_d;     /* the task's root (dentry, vfsmount) */
	__u64 root_m;
	__u64 seed;       /* the pod generation's seed */
	__u64 src_hash;   /* the validated fromSource, 0 for none */
	__u64 epoch;      /* ocepoch */
	__u64 sbepoch;    /* ocsb's count of the dentry's superblock */
	__u32 rseq;       /* rename_lock's sequence */
	__u32 mseq;       /* mount_lock's sequence */
	__u32 pod_id;
	__u32 gen;
	__u32 cgmask;
	__u32 flags;      /* AG_OC_* */
};

#define AG_OC_WORDS (sizeof(struct ag_oc_ent) / 8)

extern const void rename_lock __ksym __weak;
extern const void mount_lock __ksym __weak;

/* one u64: bit 0 set once ag_d_instantiate has run (the cache is armed) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ocepoch SEC(".maps");

/* Counts by superblock: slot oc_sb_slot(sb) counts the dentries of every superblock hashed there
 * that got an inode since the object was loaded. Superblocks sharing a slot share a count (a
 * bump for one also stops the other's slots matching: more misses, never a stale hit); an array,
 * so never full, and looked up without hashing. */
#define AG_OC_SB_SLOTS 4096
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, AG_OC_SB_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} ocsb SEC(".maps");

/* A superblock's slot, from its device number (s_dev: unique among live superblocks, a number the
 * verifier lets us hash, unlike the pointer). A number used again by a later superblock shares
 * the old one's count, which only grows: more misses, never a stale hit (the old one's mounts
 * went, and mount_lock moved). */
static __always_inline __u32 oc_sb_slot(struct super_block *sb)
{
	__u32 dev = sb->s_dev;
	return (dev ^ (dev >> 12) ^ (dev >> 20)) & (AG_OC_SB_SLOTS - 1);
}

/* per CPU: [0] opens allowed from a slot, [1] slots written, [2] ag_who's lookups of the acting
 * cgroup's pod (its memo did not hold it), [3] file hooks in an allow-list that the posture
 * decided without matching the path (no rule can name it: ag_posture_alert) (tests read them) */
#define AG_OC_HITS   0
#define AG_OC_STORES 1
#define AG_WHO_LOOKUPS 2
#define AG_POSTURE_UNNAMED 3
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} ocstats SEC(".maps");

static __always_inline void oc_count(__u32 what)
{
	__u64 *v = bpf_map_lookup_elem(&ocstats, &what);
	if (v)
		*v += 1;
}

/* A seqlock reader's smp_rmb: between reading the sequences and counts and reading what they
 * guard, and between reading what they guard and reading the sequences again. x86 keeps loads in
 * order (its smp_rmb is a compiler barrier); elsewhere an exchange, which BPF makes fully ordered
 * (swpal on arm64). */
static __always_inline void oc_fence(__u64 *word)
{
#if defined(__TARGET_ARCH_x86)
	asm volatile("" ::: "memory");
#else
	__sync_lock_test_and_set(word, 1);
#endif
}

/* a seqlock_t's sequence (seqcount first in every configuration): 1 when read and even */
static __always_inline int oc_seq(const void *lock, __u32 *out)
{
	if (!lock)
		return 0;
	__u32 v = 1;
	if (bpf_probe_read_kernel(&v, sizeof(v), lock))
		return 0;
	*out = v;
	return !(v & 1);
}

/* Both sequences into *r and *m: 1 when read and both even. Without AG_CAST, where the two locks
 * lie within 256 bytes of each other (they are 128 apart on Debian's 6.1 and 6.12), one probe read
 * fetches both, through buf (at least 260 bytes of scratch memory). */
static __always_inline int oc_seqs(char *buf, __u32 *r, __u32 *m)
{
	__u64 ra = (__u64)&rename_lock, ma = (__u64)&mount_lock;
	if (!ra || !ma)
		return 0;
#ifdef AG_CAST
	/* plain loads (kread.h); one that could not read gives 0, taken as unread (a sequence is 0
	 * only before its lock's first writer: the cache is then off until one came) */
	__u32 rv = *(volatile __u32 *)&ag_cast(ra, struct seqcount_spinlock)->seqcount.sequence;
	__u32 mv = *(volatile __u32 *)&ag_cast(ma, struct seqcount_spinlock)->seqcount.sequence;
	*r = rv;
	*m = mv;
	return rv && mv && !((rv | mv) & 1);
#else
	__u64 lo = ra < ma ? ra : ma;
	__u64 d = ra < ma ? ma - ra : ra - ma;
	if (d > 252)
		return oc_seq(&rename_lock, r) && oc_seq(&mount_lock, m);
	if (bpf_probe_read_kernel(buf, (d & 255) + 4, (const void *)lo))
		return 0;
	__u32 rv = *(__u32 *)(buf + ((ra - lo) & 255));
	__u32 mv = *(__u32 *)(buf + ((ma - lo) & 255));
	*r = rv;
	*m = mv;
	return !((rv | mv) & 1);
#endif
}

/* The slot of a dentry: dentries are 192-byte slab objects, so the low 6 bits say nothing. */
static __always_inline __u32 oc_slot(__u64 dentry)
{
	return ((dentry >> 6) ^ (dentry >> 14)) & (AG_OC_SLOTS - 1);
}

/* Fills q with what this open's decision depends on: 1 when the cache may be used. */
static __always_inline int oc_key(struct ag_oc_ent *q, __u64 *fence, char *buf, struct file *f, struct task_struct *task, __u64 seed,
				  __u64 src, __u32 pod_id, __u32 gen, __u32 cgmask, __u32 write, __u32 owner)
{
	__u32 zero = 0;
	__u64 *ep = bpf_map_lookup_elem(&ocepoch, &zero);
	if (!ep)
		return 0;
	q->epoch = *(volatile __u64 *)ep;
	if (!(q->epoch & 1))
		return 0; /* ag_d_instantiate never ran: not attached (yet) */
	if (!oc_seqs(buf, &q->rseq, &q->mseq))
		return 0;
	struct dentry *d = f->f_path.dentry;
	/* an unlinked name (unhashed): its path has become "... (deleted)", with no sequence or count
	 * moved; a dentry that is its own parent (a mount's root, a pseudo file, a disconnected
	 * dentry): ag_d_instantiate does not count those. Never cached, never served (checked on
	 * every lookup). */
	if (!d->d_hash.pprev || d == d->d_parent)
		return 0;
	__u32 slot = oc_sb_slot(d->d_sb);
	__u64 *se = bpf_map_lookup_elem(&ocsb, &slot);
	if (!se)
		return 0;
	q->sbepoch = *(volatile __u64 *)se;
	oc_fence(fence);
	q->dentry = (__u64)d;
	q->mnt = (__u64)f->f_path.mnt;
	q->inode = (__u64)d->d_inode;
	q->nsroot = (__u64)task->nsproxy->mnt_ns->root;
	q->root_d = (__u64)task->fs->root.dentry;
	q->root_m = (__u64)task->fs->root.mnt;
	q->seed = seed;
	q->src_hash = src;
	q->pod_id = pod_id;
	q->gen = gen;
	q->cgmask = cgmask;
	q->flags = AG_OC_VALID | (write ? AG_OC_WRITE : 0) | (owner ? AG_OC_OWNER : 0);
	return 1;
}

/* 1 when slots hold exactly q */
static __always_inline int oc_hit(struct ag_oc_ent *slots, struct ag_oc_ent *q)
{
	/* volatile: read back from the map as numbers (the compiler would otherwise reuse the
	 * pointers oc_key stored, and the verifier refuses arithmetic on those) */
	volatile __u64 *b = (volatile __u64 *)q;
	volatile __u64 *a = (volatile __u64 *)&slots[oc_slot(b[0])];
	/* another file's slot (most misses): one compare, not the whole slot */
	if (a[0] != b[0])
		return 0;
	__u64 diff = 0;
#pragma unroll
	for (int i = 0; i < AG_OC_WORDS; i++)
		diff |= a[i] ^ b[i];
	if (diff)
		return 0;
	oc_count(AG_OC_HITS);
	return 1;
}

static __always_inline void oc_store(struct ag_oc_ent *slots, struct ag_oc_ent *q)
{
	__builtin_memcpy(&slots[oc_slot(q->dentry)], q, sizeof(*q));
	oc_count(AG_OC_STORES);
}

#endif
