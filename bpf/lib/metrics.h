/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-CPU packet and byte counters by direction, verdict and drop reason:
 * no atomic operation and no shared cache line on the packet path; the agent
 * sums the CPUs when /metrics is scraped.
 * Mirrored by src/datapath/codecs/counters.ts.
 */
#ifndef STRAIT_METRICS_H
#define STRAIT_METRICS_H

#include "common.h"

#define COUNTERS_MAX (DIR_MAX * VERDICT_MAX * DROP_REASON_MAX)

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTERS_MAX);
	__type(key, __u32);
	__type(value, struct counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_counters SEC(".maps");

static __always_inline void count_packet(const struct __sk_buff *skb, __u8 direction, __u8 verdict, __u8 reason)
{
	__u32 index = ((__u32)direction * VERDICT_MAX + verdict) * DROP_REASON_MAX + reason;
	struct counter *c = bpf_map_lookup_elem(&strait_counters, &index);

	if (!c)
		return;
	c->packets += 1;
	c->bytes += skb->len;
}

#endif
