/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packet parsing: Ethernet + IPv4 + TCP/UDP/ICMP headers into struct packet,
 * with every access bounds-checked for the verifier.
 */
#ifndef STRAIT_PARSE_H
#define STRAIT_PARSE_H

#include "common.h"

#define PARSE_OK 0
#define PARSE_NOT_IPV4 1 /* ARP, IPv6, ...: not policed here (IPv4-only datapath) */

/* Returns PARSE_OK, PARSE_NOT_IPV4, or a negated DROP_* reason. */
static __always_inline int parse_packet(struct __sk_buff *skb, struct packet *pkt)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -DROP_INVALID_PACKET;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return PARSE_NOT_IPV4;

	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return -DROP_INVALID_PACKET;
	if (ip->ihl < 5 || ip->version != 4)
		return -DROP_INVALID_PACKET;
	/* Fragments carry no (or a partial) L4 header: a policy on ports cannot be applied to them. */
	if (ip->frag_off & bpf_htons(0x3FFF))
		return -DROP_FRAGMENT;

	pkt->saddr = ip->saddr;
	pkt->daddr = ip->daddr;
	pkt->protocol = ip->protocol;
	pkt->sport = 0;
	pkt->dport = 0;
	pkt->tcp_flags = 0;

	void *l4 = (void *)ip + ip->ihl * 4;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;
		if ((void *)(tcp + 1) > data_end)
			return -DROP_INVALID_PACKET;
		pkt->sport = tcp->source;
		pkt->dport = tcp->dest;
		pkt->tcp_flags = ((__u8 *)tcp)[13];
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *udp = l4;
		if ((void *)(udp + 1) > data_end)
			return -DROP_INVALID_PACKET;
		pkt->sport = udp->source;
		pkt->dport = udp->dest;
	}
	return PARSE_OK;
}

#endif
