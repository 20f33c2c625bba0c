/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow events: a ring buffer the agent reads (src/datapath/flow-reader.ts)
 * and serves as flows on its local API. One event per new connection
 * (policy verdict) and per dropped packet, not per packet, so the buffer
 * costs nothing on established traffic. When the agent falls behind and the
 * buffer is full, events are lost (counted by the kernel), never packets.
 * Mirrored by src/datapath/codecs/flow-event.ts.
 */
#ifndef STRAIT_EVENTS_H
#define STRAIT_EVENTS_H

#include "common.h"

#define EVENTS_BYTES (1 << 20)

struct flow_event {
	__u64 timestamp; /* CLOCK_BOOTTIME ns */
	__u8 type;       /* EVENT_* */
	__u8 verdict;    /* VERDICT_* */
	__u8 drop_reason;
	__u8 direction; /* DIR_* seen from the endpoint */
	__u32 saddr;    /* network order */
	__u32 daddr;
	__u16 sport; /* host order */
	__u16 dport;
	__u8 protocol;
	__u8 tcp_flags;
	__u16 endpoint_id;
	__u32 src_identity;
	__u32 dst_identity;
	__u16 proxy_port;
	__u8 auth_type;
	__u8 pad;
	__u32 remote_node; /* the auth key's node for EVENT_AUTH_REQUIRED */
	__u32 ifindex;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_events SEC(".maps");

static __always_inline void emit_event(const struct __sk_buff *skb, const struct packet *pkt, __u8 type,
				       __u8 verdict, __u8 reason, __u8 direction, __u16 endpoint_id,
				       __u32 src_identity, __u32 dst_identity, __u16 proxy_port,
				       __u8 auth_type, __u32 remote_node)
{
	struct flow_event *ev = bpf_ringbuf_reserve(&strait_events, sizeof(*ev), 0);

	if (!ev)
		return;
	ev->timestamp = bpf_ktime_get_boot_ns();
	ev->type = type;
	ev->verdict = verdict;
	ev->drop_reason = reason;
	ev->direction = direction;
	ev->saddr = pkt->saddr;
	ev->daddr = pkt->daddr;
	ev->sport = bpf_ntohs(pkt->sport);
	ev->dport = bpf_ntohs(pkt->dport);
	ev->protocol = pkt->protocol;
	ev->tcp_flags = pkt->tcp_flags;
	ev->endpoint_id = endpoint_id;
	ev->src_identity = src_identity;
	ev->dst_identity = dst_identity;
	ev->proxy_port = proxy_port;
	ev->auth_type = auth_type;
	ev->pad = 0;
	ev->remote_node = remote_node;
	ev->ifindex = skb->ifindex;
	bpf_ringbuf_submit(ev, 0);
}

#endif
