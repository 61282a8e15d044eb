/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * The arguments of the socket() being decided, kept per CPU between the socket hook (which sets
 * them) and the report of its decision or visibility log (which carries them in the event's
 * `dropped` field, decoded by decodeSockArgs in enforcer/kernel/visibility.ts).
 */
#ifndef ARMORGATE_SOCKARGS_H
#define ARMORGATE_SOCKARGS_H

/* the arguments of the socket() being decided on this CPU: family | type << 8 | protocol << 16 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sockargs SEC(".maps");

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

#endif /* ARMORGATE_SOCKARGS_H */
