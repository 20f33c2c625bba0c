/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The auth map: which pairs of identities (and the peer's node) have passed
 * mutual authentication, until when. The datapath only reads it; the agent's
 * auth manager writes it after a handshake with the peer node's agent (and
 * tests write it directly). A flow whose policy entry names an auth type and
 * has no unexpired entry here is dropped with DROP_AUTH_REQUIRED and an
 * EVENT_AUTH_REQUIRED carrying this key, which starts the handshake.
 * Mirrored by src/datapath/codecs/auth.ts.
 */
#ifndef STRAIT_AUTH_H
#define STRAIT_AUTH_H

#include "common.h"

#define AUTH_MAX 65536

#define AUTH_TYPE_NONE 0
#define AUTH_TYPE_MTLS_SPIFFE 1
#define AUTH_TYPE_ALWAYS_FAIL 2
/*
 * Authenticated and encrypted (src/model/encryption.ts): a TCP flow with a
 * peer on another node must come through the node Envoys' mutual-TLS tunnel
 * (it is never looked up here); between pods of one node, and for other
 * protocols (the tunnel carries TCP only), it needs an AUTH_TYPE_MTLS_SPIFFE
 * entry, as a plain mtls-spiffe flow does.
 */
#define AUTH_TYPE_MTLS_SPIFFE_ENCRYPTED 3

struct auth_key {
	__u32 local_identity;
	__u32 remote_identity;
	__u32 remote_node; /* IPv4 of the peer's node (network order); 0 = this node */
	__u8 auth_type;    /* AUTH_TYPE_* */
	__u8 pad[3];
};

struct auth_info {
	__u64 expires; /* CLOCK_BOOTTIME ns */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AUTH_MAX);
	__type(key, struct auth_key);
	__type(value, struct auth_info);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_auth SEC(".maps");

static __always_inline int auth_valid(__u32 local_identity, __u32 remote_identity, __u32 remote_node,
				      __u8 auth_type)
{
	struct auth_key key = {
		.local_identity = local_identity,
		.remote_identity = remote_identity,
		.remote_node = remote_node,
		.auth_type = auth_type,
	};
	struct auth_info *info = bpf_map_lookup_elem(&strait_auth, &key);

	return info && info->expires > bpf_ktime_get_boot_ns();
}

#endif
