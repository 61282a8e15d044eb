// SPDX-License-Identifier: GPL-2.0
/*
 * Walk steps in one probe read. The walks up the dentry and mount trees (ag_walk,
 * ag_shape_walk_up, ag_rooted) hold kernel pointers as numbers or reach struct mount back
 * from a vfsmount, so every field costs a bpf_probe_read_kernel call. The fields a step needs
 * lie side by side in every kernel we know:
 *   struct dentry: d_parent, then d_name (struct qstr: hash, len, then name);
 *   struct mount:  mnt_parent, mnt_mountpoint, then mnt (struct vfsmount, mnt_root first).
 * One read of 24 bytes then fetches a step. The layout is checked with CO-RE at load time: a
 * kernel where the fields are not side by side takes one read per field, as before (the
 * constant condition leaves the verifier one branch).
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

/* 0 on success, as bpf_probe_read_kernel */
static __always_inline long ag_read_dlink(__u64 d, struct ag_dlink *o)
{
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
}

static __always_inline long ag_read_mlink(__u64 m, struct ag_mlink *o)
{
	__u32 p = bpf_core_field_offset(struct mount, mnt_parent);
	if (bpf_core_field_offset(struct mount, mnt_mountpoint) == p + 8 && bpf_core_field_offset(struct mount, mnt) == p + 16 &&
	    bpf_core_field_offset(struct vfsmount, mnt_root) == 0)
		return bpf_probe_read_kernel(o, sizeof(*o), (const void *)(m + p));
	struct mount *mp = (struct mount *)m;
	o->parent = (__u64)BPF_CORE_READ(mp, mnt_parent);
	o->mountpoint = (__u64)BPF_CORE_READ(mp, mnt_mountpoint);
	o->root = (__u64)BPF_CORE_READ(mp, mnt.mnt_root);
	return 0;
}

#endif
