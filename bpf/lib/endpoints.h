/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The endpoints map: local endpoints (pods on this node) by IPv4 address.
 * The agent writes one entry per pod address when it attaches the programs to
 * the pod's host-side interface; the programs use it to learn which endpoint a
 * packet belongs to and whether its policy is enforced in each direction.
 * Mirrored by src/datapath/codecs/endpoints.ts.
 */
#ifndef STRAIT_ENDPOINTS_H
#define STRAIT_ENDPOINTS_H

#include "common.h"

#define ENDPOINTS_MAX 65536

/* Some policy selects the endpoint in that direction: default deny (Kubernetes semantics). */
#define EP_F_INGRESS_ENFORCED 0x01
#define EP_F_EGRESS_ENFORCED 0x02

struct endpoint_key {
	__u32 addr; /* IPv4, network order */
};

struct endpoint_info {
	__u32 ifindex;  /* host-side interface the endpoint's packets must use (anti-spoofing) */
	__u32 identity; /* security identity of the endpoint */
	__u16 id;       /* node-unique endpoint id: the policy map's key part */
	__u8 flags;     /* EP_F_* */
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ENDPOINTS_MAX);
	__type(key, struct endpoint_key);
	__type(value, struct endpoint_info);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_endpoints SEC(".maps");

static __always_inline struct endpoint_info *endpoint_lookup(__u32 addr)
{
	struct endpoint_key key = { .addr = addr };
	return bpf_map_lookup_elem(&strait_endpoints, &key);
}

static __always_inline int endpoint_enforced(const struct endpoint_info *ep, __u8 direction)
{
	return ep->flags & (direction == DIR_INGRESS ? EP_F_INGRESS_ENFORCED : EP_F_EGRESS_ENFORCED);
}

#endif
