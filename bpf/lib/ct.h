/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connection tracking: an LRU hash of the flows a policy allowed, so that the
 * rest of a connection and its replies pass without a policy lookup, and a
 * policy change applies to new connections only (as Kubernetes users expect).
 * LRU, so a full table evicts the oldest flows instead of refusing new ones.
 * Mirrored by src/datapath/codecs/ct.ts.
 *
 * A key is the flow's tuple in its original direction plus the direction in
 * which the endpoint saw it first: the egress entry of the client and the
 * ingress entry of the server of the same connection are two entries.
 */
#ifndef STRAIT_CT_H
#define STRAIT_CT_H

#include "common.h"

#define CT_MAX 262144

#define NSEC_PER_SEC 1000000000ULL
/* Lifetimes, refreshed by every packet (Cilium's defaults). */
#define CT_LIFETIME_TCP (21600ULL * NSEC_PER_SEC)
#define CT_LIFETIME_TCP_SYN (60ULL * NSEC_PER_SEC)
#define CT_LIFETIME_TCP_CLOSING (10ULL * NSEC_PER_SEC)
#define CT_LIFETIME_OTHER (60ULL * NSEC_PER_SEC)

#define CT_F_SEEN_REPLY 0x01

struct ct_key {
	__u32 saddr; /* original direction, network order */
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 protocol;
	__u8 direction; /* DIR_* in which the endpoint saw the first packet */
	__u16 pad;
};

struct ct_entry {
	__u64 expires;      /* CLOCK_BOOTTIME ns */
	__u64 packets;      /* both directions */
	__u32 src_identity; /* identity the policy decided on */
	__u16 proxy_port;   /* L7 redirect of every packet of the original direction; 0 = none */
	__u8 flags;         /* CT_F_* */
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CT_MAX);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_ct SEC(".maps");

#define CT_NEW 0
#define CT_ESTABLISHED 1
#define CT_REPLY 2

static __always_inline __u64 ct_lifetime(const struct packet *pkt)
{
	if (pkt->protocol != IPPROTO_TCP)
		return CT_LIFETIME_OTHER;
	if (pkt->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
		return CT_LIFETIME_TCP_CLOSING;
	if ((pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
		return CT_LIFETIME_TCP_SYN;
	return CT_LIFETIME_TCP;
}

/*
 * Looks the packet up as the original direction of a flow first seen in
 * `direction`, then as a reply of a flow first seen in the other direction.
 * On a hit it refreshes the entry and returns it in *entry_out.
 */
static __always_inline int ct_lookup(const struct packet *pkt, __u8 direction, struct ct_entry **entry_out)
{
	__u64 now = bpf_ktime_get_boot_ns();
	struct ct_key key = {
		.saddr = pkt->saddr,
		.daddr = pkt->daddr,
		.sport = pkt->sport,
		.dport = pkt->dport,
		.protocol = pkt->protocol,
		.direction = direction,
	};
	struct ct_entry *entry = bpf_map_lookup_elem(&strait_ct, &key);
	int result = CT_ESTABLISHED;

	/*
	 * A SYN without ACK in the original direction opens a new connection,
	 * even on the tuple of one that just closed (its entry lingers
	 * CT_LIFETIME_TCP_CLOSING, and busy clients reuse ports within that):
	 * the policy decides again, so a policy change (an L7 redirect, required
	 * auth or encryption) applies to it as to any new connection.
	 */
	if (entry && entry->expires >= now && pkt->protocol == IPPROTO_TCP &&
	    (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
		return CT_NEW;
	if (!entry || entry->expires < now) {
		struct ct_key reply = {
			.saddr = pkt->daddr,
			.daddr = pkt->saddr,
			.sport = pkt->dport,
			.dport = pkt->sport,
			.protocol = pkt->protocol,
			.direction = direction == DIR_INGRESS ? DIR_EGRESS : DIR_INGRESS,
		};
		entry = bpf_map_lookup_elem(&strait_ct, &reply);
		result = CT_REPLY;
		if (!entry || entry->expires < now)
			return CT_NEW;
		entry->flags |= CT_F_SEEN_REPLY;
	}
	entry->expires = now + ct_lifetime(pkt);
	__sync_fetch_and_add(&entry->packets, 1);
	*entry_out = entry;
	return result;
}

static __always_inline int ct_create(const struct packet *pkt, __u8 direction, __u32 src_identity,
				     __u16 proxy_port)
{
	struct ct_key key = {
		.saddr = pkt->saddr,
		.daddr = pkt->daddr,
		.sport = pkt->sport,
		.dport = pkt->dport,
		.protocol = pkt->protocol,
		.direction = direction,
	};
	struct ct_entry entry = {
		.expires = bpf_ktime_get_boot_ns() + ct_lifetime(pkt),
		.packets = 1,
		.src_identity = src_identity,
		.proxy_port = proxy_port,
	};
	return bpf_map_update_elem(&strait_ct, &key, &entry, BPF_ANY);
}

#endif
