/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The encrypt map: which flows from a local identity to a pod of another
 * node the node Envoy carries over its mutual-TLS tunnel (src/model/encryption.ts).
 * A new flow from a local endpoint whose destination the ipcache places on
 * another node, found here, goes to that port (the outbound encryption
 * listener, with the TPROXY mark as an L7 redirect), its CT entry keeps the
 * port, and its egress auth requirement counts as met: the tunnel
 * authenticates both ends with their SVIDs. The agent writes it from the
 * controller's strait.v1.EncryptPolicy resources.
 * Mirrored by src/datapath/codecs/encrypt.ts.
 *
 * Two lookups per new flow to another node: the exact port, then any port.
 */
#ifndef STRAIT_ENCRYPT_H
#define STRAIT_ENCRYPT_H

#include "common.h"

#define ENCRYPT_MAX 65536

struct encrypt_key {
	__u32 local_identity;
	__u32 remote_identity;
	__u16 dport;    /* destination port, network order; 0 = any */
	__u8 protocol;  /* IPPROTO_* (TCP: the tunnel carries streams) */
	__u8 pad;
};

struct encrypt_info {
	__u16 proxy_port; /* host order: the outbound encryption listener on 127.0.0.1 */
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ENCRYPT_MAX);
	__type(key, struct encrypt_key);
	__type(value, struct encrypt_info);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_encrypt SEC(".maps");

/* The encryption listener's port for a flow between these identities; 0 when it goes in the clear. */
static __always_inline __u16 encrypt_proxy_port(__u32 local_identity, __u32 remote_identity,
						 const struct packet *pkt)
{
	struct encrypt_key key = {
		.local_identity = local_identity,
		.remote_identity = remote_identity,
		.dport = pkt->dport,
		.protocol = pkt->protocol,
	};
	struct encrypt_info *info = bpf_map_lookup_elem(&strait_encrypt, &key);

	if (!info) {
		key.dport = 0;
		info = bpf_map_lookup_elem(&strait_encrypt, &key);
	}
	return info ? info->proxy_port : 0;
}

#endif
