/**
 * Encryption of auth-required flows between nodes (strait's option beyond
 * Cilium's mutual auth, which authenticates but never encrypts). With it on
 * (`--auth-encryption envoy`), a new flow from a local pod to a pod on
 * another node that a policy requires authentication for is not sent in
 * the clear:
 *
 * 1. the source node's datapath finds (local identity, remote identity,
 *    port) in its encrypt map and marks the flow for the node Envoy's
 *    outbound encryption listener (transparent, 127.0.0.1:15004);
 * 2. that Envoy opens (or reuses) an HTTP/2 connection over mutual TLS 1.3
 *    to the destination node's Envoy at `<node address>:15008`, presenting
 *    the source identity's X.509-SVID and expecting the destination
 *    identity's, and sends the flow in a CONNECT stream to the original
 *    `podIP:port` (an HBONE-style tunnel);
 * 3. the destination node's Envoy checks the client's SVID against the
 *    identities allowed to reach that destination identity and port, and
 *    connects to the pod with the from-proxy-authenticated mark carrying
 *    the source identity; the destination's datapath takes that identity,
 *    applies the pod's ingress policy, and counts the flow as authenticated.
 *
 * With the option on, the policy entries that require auth are
 * "mtls-spiffe-encrypted": the destination refuses such a flow from another
 * node unless it came through its Envoy (DROP_NOT_ENCRYPTED); flows between
 * pods of one node never leave it and keep the auth map check.
 */
/** A security identity (endpoint-policy.ts's SecurityIdentity, which imports this module's types). */
type SecurityIdentity = number;

/** The node Envoy's outbound encryption listener (transparent, on 127.0.0.1), the datapath's redirect target. */
export const ENCRYPT_PROXY_PORT = 15004;
/** The port of the node Envoy's inbound encryption listener (mutual TLS, on every address of the node). */
export const DEFAULT_TUNNEL_PORT = 15008;

/**
 * A flow from a local identity that the node's Envoy carries encrypted: one
 * entry of the datapath's encrypt map (bpf/lib/encrypt.h). Only flows to
 * pods of other nodes are looked up.
 */
export interface EncryptEntry {
  readonly localIdentity: SecurityIdentity;
  readonly remoteIdentity: SecurityIdentity;
  /** TCP only: the tunnel carries streams. */
  readonly protocol: "TCP";
  /** Destination port, or "any". */
  readonly port: number | "any";
  /** The outbound encryption listener (ENCRYPT_PROXY_PORT). */
  readonly proxyPort: number;
}

/** Which peers may reach a local identity through this node's inbound encryption listener. */
export interface DecryptEntry {
  readonly localIdentity: SecurityIdentity;
  readonly remoteIdentity: SecurityIdentity;
  readonly port: number | "any";
}

/** A node's part of the encryption: what it sends encrypted, what it accepts. */
export interface NodeEncryption {
  readonly outbound: readonly EncryptEntry[];
  readonly inbound: readonly DecryptEntry[];
  /** The port of every node's inbound encryption listener. */
  readonly tunnelPort: number;
  /** SPIFFE trust domain of the SVIDs. */
  readonly trustDomain: string;
}

/**
 * Where a node's agent serves its Envoy the tunnel's SVIDs and the trust
 * bundle (SDS over a unix socket, src/agent/envoy-sds.ts) and where the
 * controller's configuration points that Envoy: `<dir>/<node>.sock`, so
 * nodes sharing a machine (tests) or a host folder never share a socket.
 */
export const DEFAULT_ENVOY_SDS_DIR = "/run/strait/envoy-sds";

export function envoySdsSocket(dir: string, node: string): string {
  return `${dir.replace(/\/+$/, "")}/${node}.sock`;
}

/** The SDS secret of one identity's SVID (a tls_certificate). */
export function svidSecretName(trustDomain: string, identity: SecurityIdentity): string {
  return `spiffe://${trustDomain}/identity/${identity}`;
}

/** The SDS secret of the trust domain's roots (a validation_context). */
export function bundleSecretName(trustDomain: string): string {
  return `spiffe://${trustDomain}`;
}
