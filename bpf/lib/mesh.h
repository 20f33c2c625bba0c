/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mesh services map (GAMMA): Service ClusterIP:port → the port of the
 * node Envoy's mesh listener. A new flow from a local endpoint to a listed
 * address and port is redirected to that listener (the TPROXY mark, as an L7
 * policy redirect), whose HTTPRoutes pick the backend. The agent writes it
 * from the controller's strait.v1.MeshService resources.
 * Mirrored by src/datapath/codecs/mesh.ts.
 *
 * A ClusterIP belongs to no endpoint and has no identity, so the lookup is
 * exact on (address, port, protocol): no wildcards, one lookup per new flow.
 */
#ifndef STRAIT_MESH_H
#define STRAIT_MESH_H

#include "common.h"

#define MESH_SVC_MAX 65536

struct mesh_svc_key {
	__u32 addr;     /* Service ClusterIP, IPv4, network order */
	__u16 dport;    /* Service port, network order */
	__u8 protocol;  /* IPPROTO_* (TCP today) */
	__u8 pad;
};

struct mesh_svc_info {
	__u16 proxy_port; /* host order: the mesh listener on 127.0.0.1 */
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MESH_SVC_MAX);
	__type(key, struct mesh_svc_key);
	__type(value, struct mesh_svc_info);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_mesh_svc SEC(".maps");

/* The mesh listener's port for a flow to this destination; 0 when it is no mesh service. */
static __always_inline __u16 mesh_proxy_port(const struct packet *pkt)
{
	struct mesh_svc_key key = {
		.addr = pkt->daddr,
		.dport = pkt->dport,
		.protocol = pkt->protocol,
	};
	struct mesh_svc_info *info = bpf_map_lookup_elem(&strait_mesh_svc, &key);

	return info ? info->proxy_port : 0;
}

#endif
