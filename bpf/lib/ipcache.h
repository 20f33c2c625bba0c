/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ipcache: IPv4 prefix → security identity, and the node the prefix lives
 * on. Longest prefix wins, so a /32 for a pod overrides a CIDR identity
 * covering it. Every endpoint of the cluster is here, not only local ones.
 * Mirrored by src/datapath/codecs/ipcache.ts.
 */
#ifndef STRAIT_IPCACHE_H
#define STRAIT_IPCACHE_H

#include "common.h"

#define IPCACHE_MAX 524288

/* Reserved identity for addresses the ipcache does not know (Cilium's "world"). */
#define IDENTITY_WORLD 2

struct ipcache_key {
	__u32 prefixlen; /* LPM trie keys start with the prefix length */
	__u32 addr;      /* IPv4, network order */
};

struct ipcache_info {
	__u32 identity;
	__u32 node; /* IPv4 of the node hosting the prefix (network order); 0: this node or none */
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, IPCACHE_MAX);
	__type(key, struct ipcache_key);
	__type(value, struct ipcache_info);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_ipcache SEC(".maps");

/* The identity and node of an address; world on a miss. */
static __always_inline struct ipcache_info ipcache_resolve(__u32 addr)
{
	struct ipcache_key key = { .prefixlen = 32, .addr = addr };
	struct ipcache_info *info = bpf_map_lookup_elem(&strait_ipcache, &key);
	struct ipcache_info out = { .identity = IDENTITY_WORLD, .node = 0 };

	if (info)
		out = *info;
	return out;
}

#endif
