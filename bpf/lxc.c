/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tc programs on each local endpoint's host-side veth (the attach point of
 * Cilium's bpf_lxc.c):
 *  - from_endpoint, on the veth's ingress: packets the pod sends (its egress policy);
 *  - to_endpoint, on the veth's egress: packets delivered to the pod (its ingress policy).
 * Decision order for each packet: parse → which endpoint → connection tracking
 * (established flows and replies pass without a policy lookup) → mesh
 * services (from_endpoint only) → ipcache (peer identity and node) →
 * encryption (from_endpoint, peer on another node) → policy → auth →
 * create the CT entry → mark for the proxy.
 */
#include "lib/common.h"
#include "lib/parse.h"
#include "lib/endpoints.h"
#include "lib/ipcache.h"
#include "lib/policy.h"
#include "lib/ct.h"
#include "lib/auth.h"
#include "lib/events.h"
#include "lib/metrics.h"
#include "lib/mesh.h"
#include "lib/encrypt.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Puts struct flow_event into the object's BTF (a ring buffer map carries no
 * value type), so the layout test can check its TypeScript codec against it.
 */
const struct flow_event *flow_event_btf __attribute__((unused));

static __always_inline __u32 proxy_mark(__u16 proxy_port)
{
	return MARK_MAGIC_TO_PROXY | ((__u32)bpf_htons(proxy_port) << 16);
}

static __always_inline int drop(struct __sk_buff *skb, const struct packet *pkt, __u8 direction, __u8 reason,
				__u16 endpoint_id, __u32 src_identity, __u32 dst_identity)
{
	count_packet(skb, direction, VERDICT_DROPPED, reason);
	emit_event(skb, pkt, EVENT_DROP, VERDICT_DROPPED, reason, direction, endpoint_id, src_identity,
		   dst_identity, 0, 0, 0);
	return TC_ACT_SHOT;
}

static __always_inline int pass(struct __sk_buff *skb, __u8 direction, __u16 proxy_port)
{
	if (proxy_port) {
		skb->mark = proxy_mark(proxy_port);
		count_packet(skb, direction, VERDICT_REDIRECTED, DROP_NONE);
	} else {
		count_packet(skb, direction, VERDICT_FORWARDED, DROP_NONE);
	}
	return TC_ACT_OK;
}

/* What the program knows of a new flow besides its packet and peer. */
struct flow_path {
	/* Redirect when the policy entry names no proxy port (a local destination's L7 ingress). */
	__u16 proxy_port;
	/*
	 * The node Envoy's outbound encryption listener (the encrypt map's hit).
	 * It wins over an L7 port of the egress entry: the flow leaves the node,
	 * and in the clear it would be refused by the destination
	 * (DROP_NOT_ENCRYPTED); the controller leaves L7 flows out of the map.
	 */
	__u16 encrypt_port;
	/* The node Envoys' tunnel authenticates the peer: sent into it, or arrived through it. */
	__u8 authenticated;
};

/*
 * The auth check of an allowed new flow: 0 when it may pass, else the
 * packet's verdict (dropped, with its event). An auth type names a
 * requirement met by an unexpired auth map entry, or by the tunnel.
 * mtls-spiffe-encrypted for a TCP flow with a peer on another node can only
 * be met by the tunnel: a handshake would not help, so the drop has no
 * auth-required event. Otherwise it is plain mtls-spiffe, keyed and evented
 * as such, so the auth manager handshakes as for any mtls-spiffe flow:
 * between pods of one node (the flow never leaves it), and for other
 * protocols under an any-protocol entry (the tunnel carries TCP streams
 * only, so those stay authenticated in the clear, as the controller's
 * model/encryption.ts says).
 */
static __always_inline int auth_check(struct __sk_buff *skb, const struct packet *pkt, __u8 direction,
				      const struct endpoint_info *local, struct ipcache_info peer,
				      __u8 auth_type, __u8 authenticated)
{
	__u32 src_identity = direction == DIR_EGRESS ? local->identity : peer.identity;
	__u32 dst_identity = direction == DIR_EGRESS ? peer.identity : local->identity;

	if (auth_type == AUTH_TYPE_NONE || authenticated)
		return 0;
	if (auth_type == AUTH_TYPE_MTLS_SPIFFE_ENCRYPTED) {
		if (peer.node != 0 && pkt->protocol == IPPROTO_TCP) {
			/* A drop event that names the requirement and the peer's node, for observe. */
			count_packet(skb, direction, VERDICT_DROPPED, DROP_NOT_ENCRYPTED);
			emit_event(skb, pkt, EVENT_DROP, VERDICT_DROPPED, DROP_NOT_ENCRYPTED, direction, local->id,
				   src_identity, dst_identity, 0, auth_type, peer.node);
			return TC_ACT_SHOT;
		}
		auth_type = AUTH_TYPE_MTLS_SPIFFE;
	}
	if (auth_valid(local->identity, peer.identity, peer.node, auth_type))
		return 0;
	count_packet(skb, direction, VERDICT_DROPPED, DROP_AUTH_REQUIRED);
	emit_event(skb, pkt, EVENT_AUTH_REQUIRED, VERDICT_DROPPED, DROP_AUTH_REQUIRED, direction, local->id,
		   src_identity, dst_identity, 0, auth_type, peer.node);
	return TC_ACT_SHOT;
}

/*
 * The part shared by both directions once the packet's endpoint and peer are
 * known: policy, auth, CT entry, event. `local` is the endpoint whose policy
 * applies; `peer` the remote identity and node.
 */
static __always_inline int new_flow(struct __sk_buff *skb, const struct packet *pkt, __u8 direction,
				    const struct endpoint_info *local, struct ipcache_info peer,
				    struct flow_path path)
{
	__u32 src_identity = direction == DIR_EGRESS ? local->identity : peer.identity;
	__u32 dst_identity = direction == DIR_EGRESS ? peer.identity : local->identity;
	struct policy_verdict v = policy_check(local, direction, peer.identity, pkt->protocol, pkt->dport);

	if (v.drop_reason != DROP_NONE)
		return drop(skb, pkt, direction, v.drop_reason, local->id, src_identity, dst_identity);

	int refused = auth_check(skb, pkt, direction, local, peer, v.auth_type, path.authenticated);
	if (refused)
		return refused;

	__u16 proxy_port = path.encrypt_port ? path.encrypt_port : v.proxy_port ? v.proxy_port : path.proxy_port;
	if (ct_create(pkt, direction, src_identity, proxy_port) < 0)
		return drop(skb, pkt, direction, DROP_CT_CREATE_FAILED, local->id, src_identity, dst_identity);

	emit_event(skb, pkt, EVENT_POLICY_VERDICT, proxy_port ? VERDICT_REDIRECTED : VERDICT_FORWARDED,
		   DROP_NONE, direction, local->id, src_identity, dst_identity, proxy_port, v.auth_type,
		   peer.node);
	return pass(skb, direction, proxy_port);
}

/*
 * A new flow to a mesh service (GAMMA: a Service with HTTPRoutes attached)
 * goes to the node Envoy's mesh listener, and its CT entry keeps the proxy
 * port so the rest of the connection follows. This comes before the egress
 * policy check, and that is a choice: the ClusterIP has no identity to
 * decide on, and the real destination is chosen by Envoy's routes only. The
 * proxy's upstream connection to the chosen backend is a new flow of its own,
 * checked by the backend's to_endpoint against its ingress policy (with the
 * client's identity when the proxy carries it in its mark, as the L7
 * listeners' original_src does). The client's egress policy does not apply to
 * mesh-routed Service traffic yet (planned).
 */
static __always_inline int mesh_flow(struct __sk_buff *skb, const struct packet *pkt,
				     const struct endpoint_info *local, __u16 proxy_port)
{
	struct ipcache_info peer = ipcache_resolve(pkt->daddr);

	if (ct_create(pkt, DIR_EGRESS, local->identity, proxy_port) < 0)
		return drop(skb, pkt, DIR_EGRESS, DROP_CT_CREATE_FAILED, local->id, local->identity,
			    peer.identity);
	emit_event(skb, pkt, EVENT_POLICY_VERDICT, VERDICT_REDIRECTED, DROP_NONE, DIR_EGRESS, local->id,
		   local->identity, peer.identity, proxy_port, AUTH_TYPE_NONE, peer.node);
	return pass(skb, DIR_EGRESS, proxy_port);
}

SEC("tc")
int from_endpoint(struct __sk_buff *skb)
{
	struct packet pkt = {};
	int parsed = parse_packet(skb, &pkt);

	if (parsed == PARSE_NOT_IPV4)
		return TC_ACT_OK;
	if (parsed < 0)
		return drop(skb, &pkt, DIR_EGRESS, -parsed, 0, 0, 0);

	struct endpoint_info *ep = endpoint_lookup(pkt.saddr);
	if (!ep || ep->ifindex != skb->ifindex)
		return drop(skb, &pkt, DIR_EGRESS, DROP_INVALID_SOURCE, 0, 0, 0);

	struct ct_entry *entry = 0;
	int ct = ct_lookup(&pkt, DIR_EGRESS, &entry);
	if (ct == CT_ESTABLISHED && entry)
		return pass(skb, DIR_EGRESS, entry->proxy_port);
	if (ct == CT_REPLY)
		return pass(skb, DIR_EGRESS, 0);

	__u16 mesh_port = mesh_proxy_port(&pkt);
	if (mesh_port)
		return mesh_flow(skb, &pkt, ep, mesh_port);

	/* A flow to a pod of another node that the node Envoy carries encrypted. */
	struct ipcache_info peer = ipcache_resolve(pkt.daddr);
	if (peer.node != 0) {
		__u16 encrypt_port = encrypt_proxy_port(ep->identity, peer.identity, &pkt);
		if (encrypt_port) {
			struct flow_path tunnel = { .encrypt_port = encrypt_port, .authenticated = 1 };
			return new_flow(skb, &pkt, DIR_EGRESS, ep, peer, tunnel);
		}
	}

	/*
	 * An L7 redirect must happen here, before the node's PREROUTING where
	 * TPROXY runs: the destination's to_endpoint is too late. So when the
	 * destination is a local endpoint whose ingress entry for this flow has a
	 * proxy port, redirect now (Cilium's local delivery does the same). The
	 * destination's own program still enforces its ingress policy on the
	 * proxy's upstream connection.
	 */
	struct flow_path path = {};
	struct endpoint_info *dst_ep = endpoint_lookup(pkt.daddr);
	if (dst_ep) {
		struct policy_verdict dv =
			policy_check(dst_ep, DIR_INGRESS, ep->identity, pkt.protocol, pkt.dport);
		if (dv.drop_reason == DROP_NONE)
			path.proxy_port = dv.proxy_port;
	}
	return new_flow(skb, &pkt, DIR_EGRESS, ep, peer, path);
}

SEC("tc")
int to_endpoint(struct __sk_buff *skb)
{
	struct packet pkt = {};
	int parsed = parse_packet(skb, &pkt);

	if (parsed == PARSE_NOT_IPV4)
		return TC_ACT_OK;
	if (parsed < 0)
		return drop(skb, &pkt, DIR_INGRESS, -parsed, 0, 0, 0);

	struct endpoint_info *ep = endpoint_lookup(pkt.daddr);
	if (!ep || ep->ifindex != skb->ifindex)
		return drop(skb, &pkt, DIR_INGRESS, DROP_UNKNOWN_ENDPOINT, 0, 0, 0);

	struct ct_entry *entry = 0;
	int ct = ct_lookup(&pkt, DIR_INGRESS, &entry);
	if (ct != CT_NEW)
		return pass(skb, DIR_INGRESS, 0);

	struct ipcache_info peer = ipcache_resolve(pkt.saddr);
	struct flow_path path = {};
	__u32 magic = skb->mark & MARK_MAGIC_MASK;
	/*
	 * The node's proxy tells, in the mark, which identity its upstream
	 * connection speaks for; the inbound encryption listener also tells that
	 * the tunnel's mutual TLS authenticated it. A mark with no identity is
	 * ignored: the flow is judged on its address, in the clear.
	 */
	if ((magic == MARK_MAGIC_FROM_PROXY || magic == MARK_MAGIC_FROM_PROXY_AUTH) && (skb->mark >> 16) != 0) {
		peer.identity = skb->mark >> 16;
		path.authenticated = magic == MARK_MAGIC_FROM_PROXY_AUTH;
	}
	return new_flow(skb, &pkt, DIR_INGRESS, ep, peer, path);
}
