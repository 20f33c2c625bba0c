/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy map: one hash map for every local endpoint, keyed by
 * (endpoint id, direction, remote identity, protocol, destination port).
 * A zero identity, protocol or port in a key is the wildcard "any".
 * Mirrored by src/datapath/codecs/policy.ts.
 *
 * A lookup tries a fixed list of keys (most specific first), so its cost does
 * not depend on how many entries the endpoint has: that is what lets a policy
 * of 100,000 entries cost what a policy of 10 does.
 */
#ifndef STRAIT_POLICY_H
#define STRAIT_POLICY_H

#include "common.h"
#include "endpoints.h"

#define POLICY_MAX 262144

#define POLICY_F_DENY 0x01

/*
 * Field order: the 32-bit identity first, then the small fields, so the
 * struct has no hole the agent could leave uninitialised (a hash key is
 * compared byte by byte).
 */
struct policy_key {
	__u32 identity;    /* remote security identity; 0 = any */
	__u16 endpoint_id; /* local endpoint (struct endpoint_info.id) */
	__u8 direction;    /* DIR_INGRESS or DIR_EGRESS */
	__u8 protocol;     /* IPPROTO_*; 0 = any protocol (and any port) */
	__u16 dport;       /* destination port, network order; 0 = any */
	__u16 pad;
};

struct policy_entry {
	__u8 flags;      /* POLICY_F_DENY, else allow */
	__u8 auth_type;  /* AUTH_TYPE_*; 0 = none */
	__u16 proxy_port; /* host order; 0 = no L7 redirect */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, POLICY_MAX);
	__type(key, struct policy_key);
	__type(value, struct policy_entry);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strait_policy SEC(".maps");

struct policy_verdict {
	int drop_reason;  /* DROP_NONE when allowed */
	__u16 proxy_port; /* of the most specific allow entry */
	__u8 auth_type;
};

#define POLICY_LOOKUPS 6

/*
 * The verdict of an endpoint's policy for one new flow. Kubernetes/Cilium
 * semantics: not enforced in this direction → allow; otherwise a deny entry
 * matching the flow at any specificity wins over every allow entry (so all
 * six keys are tried even after an allow matched), and with no match the flow
 * is denied by default. Among allow entries the most specific one decides the
 * proxy port and auth type: identity+port, identity+protocol, any+port,
 * any+protocol, identity+any protocol, any at all.
 */
static __always_inline struct policy_verdict policy_check(const struct endpoint_info *ep, __u8 direction,
							  __u32 remote_identity, __u8 protocol, __u16 dport)
{
	struct policy_verdict verdict = { .drop_reason = DROP_NONE };
	struct policy_entry *allow = 0;
	int deny = 0;

	if (!endpoint_enforced(ep, direction))
		return verdict;

#pragma unroll
	for (int i = 0; i < POLICY_LOOKUPS; i++) {
		struct policy_key key = {
			.endpoint_id = ep->id,
			.direction = direction,
			.identity = (i == 0 || i == 1 || i == 4) ? remote_identity : 0,
			.protocol = i < 4 ? protocol : 0,
			.dport = (i == 0 || i == 2) ? dport : 0,
		};
		struct policy_entry *entry = bpf_map_lookup_elem(&strait_policy, &key);

		if (!entry)
			continue;
		if (entry->flags & POLICY_F_DENY)
			deny = 1;
		else if (!allow)
			allow = entry;
	}

	if (deny)
		verdict.drop_reason = DROP_POLICY_DENIED;
	else if (!allow)
		verdict.drop_reason = DROP_POLICY_DEFAULT_DENY;
	else {
		verdict.proxy_port = allow->proxy_port;
		verdict.auth_type = allow->auth_type;
	}
	return verdict;
}

#endif
