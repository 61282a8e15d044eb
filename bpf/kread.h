// SPDX-License-Identifier: GPL-2.0
/*
 * Walk steps without a helper call where the kernel allows it. The walks up the dentry and
 * mount trees (ag_walk, ag_shape_walk_up, ag_rooted) hold kernel pointers as numbers or reach
 * struct mount back from a vfsmount, which the verifier does not let a program load through.
 *
 * Two builds of the same source (scripts/build-bpf.sh; the loader picks one, loader.ts
 * defaultObject):
 *   - AG_CAST (kernels with the bpf_rdonly_cast kfunc, 6.2 on): the number is cast back to a
 *     typed, read-only pointer (the verifier turns the kfunc into a register move) and the
 *     fields are plain loads, which read 0 where the memory cannot be read (a missing pointer
 *     is then taken as an unreadable step). Under the VM tests' TCG a helper call costs more than
 *     the bytes it reads: the casts took 300-460 ns (medians) off a first open's 2.2-2.6 us in
 *     the program (docs/enforcement.md).
 *   - otherwise (6.1): one bpf_probe_read_kernel per step. The fields a step needs lie side by
 *     side in every kernel we know:
 *       struct dentry: d_parent, then d_name (struct qstr: hash, len, then name);
 *       struct mount:  mnt_parent, mnt_mountpoint, then mnt (struct vfsmount, mnt_root first).
 *     One read of 24 bytes then fetches a step. The layout is checked with CO-RE at load time:
 *     a kernel where the fields are not side by side takes one read per field (the constant
 *     condition leaves the verifier one branch).
 */
#ifndef AG_KREAD_H
#define AG_KREAD_H

/* a dentry's parent and name */
struct ag_dlink {
	__u64 parent;   /* struct dentry * */
	__u32 hash;
	__u32 len;
	__u64 name;     /* const unsigned char * */
};

/* a mount's parent, the dentry it is mounted on, and its own root */
struct ag_mlink {
	__u64 parent;     /* struct mount * */
	__u64 mountpoint; /* struct dentry * */
	__u64 root;       /* struct dentry *: mnt.mnt_root */
};

#ifdef AG_CAST
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
/* the kernel object at address p (a number) as a read-only T * */
#define ag_cast(p, T) ((T *)bpf_rdonly_cast((const void *)(p), bpf_core_type_id_kernel(T)))

/* The pointers a cast step loads go through this map memory on their way out: loaded back
 * from a map value, they are unknown numbers to the verifier, as a probe read's are, not
 * pointers it tracks through the walks' loops (which then never converge: E2BIG). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[4]);
} kread_tmp SEC(".maps");

static __always_inline volatile __u64 *ag_kread_tmp(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&kread_tmp, &zero);
}

/* d's parent and name into o (hash 0): 0, or -EFAULT when a pointer read 0 */
static __always_inline long ag_cast_dlink(__u64 d, struct ag_dlink *o)
{
	volatile __u64 *t = ag_kread_tmp();
	if (!t)
		return -14;
	struct dentry *dp = ag_cast(d, struct dentry);
	t[0] = (__u64)dp->d_parent;
	t[1] = (__u64)dp->d_name.name;
	o->hash = 0;
	o->len = dp->d_name.len;
	o->parent = t[0];
	o->name = t[1];
	return o->parent && o->name ? 0 : -14;
}
#endif

/* 0 on success, as bpf_probe_read_kernel */
static __always_inline long ag_read_dlink(__u64 d, struct ag_dlink *o)
{
#ifdef AG_CAST
	return ag_cast_dlink(d, o);
#else
	__u32 p = bpf_core_field_offset(struct dentry, d_parent);
	if (bpf_core_field_offset(struct dentry, d_name) == p + 8 && bpf_core_field_offset(struct qstr, len) == 4 &&
	    bpf_core_field_offset(struct qstr, name) == 8)
		return bpf_probe_read_kernel(o, sizeof(*o), (const void *)(d + p));
	struct dentry *dp = (struct dentry *)d;
	o->hash = 0;
	o->parent = (__u64)BPF_CORE_READ(dp, d_parent);
	o->len = BPF_CORE_READ(dp, d_name.len);
	o->name = (__u64)BPF_CORE_READ(dp, d_name.name);
	return 0;
#endif
}

static __always_inline long ag_read_mlink(__u64 m, struct ag_mlink *o)
{
#ifdef AG_CAST
	volatile __u64 *t = ag_kread_tmp();
	if (!t)
		return -14;
	struct mount *mp = ag_cast(m, struct mount);
	t[0] = (__u64)mp->mnt_parent;
	t[1] = (__u64)mp->mnt_mountpoint;
	t[2] = (__u64)mp->mnt.mnt_root;
	o->parent = t[0];
	o->mountpoint = t[1];
	o->root = t[2];
	return o->parent && o->mountpoint && o->root ? 0 : -14;
#else
	__u32 p = bpf_core_field_offset(struct mount, mnt_parent);
	if (bpf_core_field_offset(struct mount, mnt_mountpoint) == p + 8 && bpf_core_field_offset(struct mount, mnt) == p + 16 &&
	    bpf_core_field_offset(struct vfsmount, mnt_root) == 0)
		return bpf_probe_read_kernel(o, sizeof(*o), (const void *)(m + p));
	struct mount *mp = (struct mount *)m;
	o->parent = (__u64)BPF_CORE_READ(mp, mnt_parent);
	o->mountpoint = (__u64)BPF_CORE_READ(mp, mnt_mountpoint);
	o->root = (__u64)BPF_CORE_READ(mp, mnt.mnt_root);
	return 0;
#endif
}

/* Inline names. A dentry's name shorter than the kernel's DNAME_INLINE_LEN (32 bytes on 6.1, 40
 * on 6.12) lives in the dentry (d_iname), and d_name.name points there. Its first AG_WTEXT bytes
 * then come with plain loads through a BTF pointer, or in the same probe read as the step, with no
 * helper call of their own. Names of AG_WTEXT bytes or more, names kept elsewhere, and kernels
 * without d_iname (6.14 made it d_shortname) are read from d_name.name, as before. */
#define AG_WTEXT 32

struct dentry___iname {
	unsigned char d_iname[AG_WTEXT];
} __attribute__((preserve_access_index));

/* the offset of d_iname in struct dentry, or 0 when the kernel has none */
static __always_inline __u32 ag_iname_off(void)
{
	if (!bpf_core_field_exists(struct dentry___iname, d_iname))
		return 0;
	return bpf_core_field_offset(struct dentry___iname, d_iname);
}

/* The words that hold a name of len bytes (under AG_WTEXT) from src to dst: one for a name of up
 * to 8 bytes; the bytes past the name up to the word's end come along */
static __always_inline void ag_name_words(void *dst, const void *src, __u32 len)
{
	__u64 *o = dst;
	const __u64 *i = src;
	o[0] = i[0];
	if (len > 8)
		o[1] = i[1];
	if (len > 16)
		o[2] = i[2];
	if (len > 24)
		o[3] = i[3];
}

/* d (a BTF pointer) named `len` bytes at `name`: the words that hold its name into out[], plain
 * loads; 1 when the name is inline and shorter than AG_WTEXT (out holds it, then bytes to ignore
 * up to the word's end), 0 with out untouched otherwise */
static __always_inline int ag_inline_name(struct dentry *d, __u32 len, const unsigned char *name, __u64 *out)
{
	__u32 off = ag_iname_off();
	if (!off || len >= AG_WTEXT || (__u64)name != (__u64)d + off)
		return 0;
	ag_name_words(out, (const char *)d + off, len);
	return 1;
}

/* A dentry's step with its inline name: in one probe read, d_parent, d_name, d_inode and d_iname
 * side by side (6.1, 6.12); with AG_CAST, plain loads of the name's words. */
struct ag_dlink_text {
	__u64 parent;
	__u32 hash;
	__u32 len;
	__u64 name;
	__u64 inode;
	__u64 text[AG_WTEXT / 8];
};

/* 0 on success, as bpf_probe_read_kernel; *inl 1 when o->text holds the name (inline and shorter
 * than AG_WTEXT). Where the fields are not side by side: ag_read_dlink's step, *inl 0. */
static __always_inline long ag_read_dlink_text(__u64 d, struct ag_dlink_text *o, int *inl)
{
	*inl = 0;
#ifdef AG_CAST
	long r = ag_cast_dlink(d, (struct ag_dlink *)o);
	if (!r)
		*inl = ag_inline_name(ag_cast(d, struct dentry), o->len, (const unsigned char *)o->name, o->text);
	return r;
#else
	__u32 p = bpf_core_field_offset(struct dentry, d_parent);
	__u32 off = ag_iname_off();
	if (off && off == p + 32 && bpf_core_field_offset(struct dentry, d_name) == p + 8 &&
	    bpf_core_field_offset(struct qstr, len) == 4 && bpf_core_field_offset(struct qstr, name) == 8) {
		long r = bpf_probe_read_kernel(o, sizeof(*o), (const void *)(d + p));
		if (!r)
			*inl = o->len < AG_WTEXT && o->name == d + off;
		return r;
	}
	return ag_read_dlink(d, (struct ag_dlink *)o);
#endif
}

#endif
