/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared definitions of the datapath: includes, packet marks and the parsed
 * view of a packet that every other header works on.
 */
#ifndef STRAIT_COMMON_H
#define STRAIT_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "reasons.h"

/*
 * skb->mark ABI, Cilium's so that its tools and habits carry over:
 *  - to proxy:   0x0200 | (be16(proxy port) << 16); the node's TPROXY rule for that port
 *                matches the whole mark and ip rule "fwmark 0x200/0xf00 lookup 2004" routes it locally.
 *  - from proxy: 0x0A00 | (source identity << 16), set by the proxy (SO_MARK) on its upstream
 *                connections. Only processes of the node namespace can set it: a veth scrubs the
 *                mark when a packet crosses network namespaces, so a pod cannot forge it.
 *  - proxy reply: 0x0B00, set by the proxy (SO_MARK on its transparent listeners) on its side of a
 *                redirected connection, so the node's raw OUTPUT rule leaves it untracked; the
 *                datapath does not act on it.
 *  - from proxy, authenticated: 0x0E00 | (source identity << 16), set by the node Envoy's inbound
 *                encryption listener on its connection to the destination pod: the source's SVID
 *                was verified by the tunnel's mutual TLS, so the flow counts as authenticated
 *                (no auth map lookup). Node-namespace only, as from proxy.
 */
#define MARK_MAGIC_MASK 0x0F00
#define MARK_MAGIC_TO_PROXY 0x0200
#define MARK_MAGIC_FROM_PROXY 0x0A00
#define MARK_MAGIC_PROXY_REPLY 0x0B00
#define MARK_MAGIC_FROM_PROXY_AUTH 0x0E00

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

/* The fields of a packet the datapath decides on. Addresses and ports in network order. */
struct packet {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 protocol;
	__u8 tcp_flags;
};

#endif
