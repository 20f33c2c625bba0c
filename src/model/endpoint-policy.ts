/**
 * The datapath part of the model: what a node's agent must enforce for its
 * local endpoints. The policy stage (CiliumNetworkPolicy → identities and
 * per-endpoint policy) produces it; the agent turns it into BPF map entries.
 *
 * Semantics are Kubernetes/Cilium's: an endpoint selected by no policy in a
 * direction allows everything in that direction; once selected
 * (`enforced`), only what an entry allows passes, and a deny entry wins over
 * any allow entry that also matches.
 */
import type { NodeEncryption } from "./encryption.ts";
import type { ResourceRef } from "./resource-ref.ts";

/**
 * A security identity: a number shared by every endpoint with the same
 * security-relevant labels. 0 is "unknown"; 1..255 are reserved (Cilium's
 * host=1, world=2, ...); workload identities start at 256.
 */
export type SecurityIdentity = number;

export const RESERVED_IDENTITIES = {
  unknown: 0,
  host: 1,
  world: 2,
  unmanaged: 3,
  health: 4,
  init: 5,
  remoteNode: 6,
  kubeApiserver: 7,
  ingress: 8,
} as const;

/** The first identity given to workloads. */
export const FIRST_WORKLOAD_IDENTITY = 256;

export type Direction = "ingress" | "egress";

export type L4Protocol = "TCP" | "UDP" | "SCTP" | "ICMP" | "ANY";

/**
 * Mutual authentication a flow needs before it may pass
 * (`authentication.mode: required` maps to "mtls-spiffe"; with the
 * controller's `--auth-encryption envoy`, to "mtls-spiffe-encrypted": a flow
 * from another node must also come through the node Envoys' encrypted
 * tunnel, see model/encryption.ts).
 */
export type AuthType = "none" | "mtls-spiffe" | "mtls-spiffe-encrypted" | "always-fail";

export interface PolicyEntry {
  readonly direction: Direction;
  /** The peer's identity, or "any" for every peer. */
  readonly remoteIdentity: SecurityIdentity | "any";
  readonly protocol: L4Protocol;
  /** Destination port (1..65535), or "any". Ignored for ICMP and ANY. */
  readonly port: number | "any";
  /** With a `port`: the last port of an inclusive range `port..endPort` (Cilium's `endPort`). */
  readonly endPort?: number;
  readonly verdict: "allow" | "deny";
  /** For allowed flows that need L7 handling: the node-local Envoy listener port. */
  readonly proxyPort?: number;
  /** For allowed flows that need mutual authentication first. */
  readonly auth?: AuthType;
  readonly sources: readonly ResourceRef[];
}

export interface EndpointPolicy {
  /** The local endpoint this policy applies to. */
  readonly endpointId: number;
  /** Default deny for ingress: some policy selects this endpoint for ingress. */
  readonly ingressEnforced: boolean;
  /** Default deny for egress: some policy selects this endpoint for egress. */
  readonly egressEnforced: boolean;
  readonly entries: readonly PolicyEntry[];
  readonly sources: readonly ResourceRef[];
}

/** A local endpoint (a pod's network interface on this node). */
export interface LocalEndpoint {
  /** Node-unique id (1..65535). */
  readonly id: number;
  readonly identity: SecurityIdentity;
  /** The pod's addresses (IPv4). */
  readonly addresses: readonly string[];
  /** The host-side interface of the pod (the veth peer in the node namespace). */
  readonly hostInterface: string;
  /** `namespace/name` of the pod, when known. */
  readonly pod?: string;
  readonly sources: readonly ResourceRef[];
}

/** One entry of the IP → identity cache (every endpoint of the cluster, and CIDR identities). */
export interface IpcacheEntry {
  /** CIDR, e.g. `10.0.1.5/32` or `0.0.0.0/0`. */
  readonly prefix: string;
  readonly identity: SecurityIdentity;
  /** The node's address where the prefix lives (for mutual auth), when it is a remote endpoint. */
  readonly node?: string;
}

/**
 * A security identity and the labels it stands for (`source:key=value`, or
 * `source:key` for an empty value, sorted), as Cilium's identities carry them.
 */
export interface IdentityInfo {
  readonly id: SecurityIdentity;
  readonly labels: readonly string[];
}

/** A header condition of an HTTP rule (Cilium's `headers` and `headerMatches`). */
export interface HttpHeaderMatch {
  readonly name: string;
  /** The exact value required; without it, the header must be present. */
  readonly value?: string;
  /** The value comes from a Secret that cannot be read: the condition never holds (as Cilium does). */
  readonly never?: true;
  /**
   * Cilium's `mismatch` action. Without one a mismatch fails the rule; with
   * LOG the rule still matches and the mismatch is only logged.
   */
  readonly mismatch?: "LOG";
}

/**
 * One HTTP rule of a CiliumNetworkPolicy port: every condition given must
 * hold. `method`, `path` and `host` are regular expressions matched against
 * the whole value (`:method`, `:path`, `:authority`), as Cilium has Envoy do.
 */
export interface HttpRule {
  readonly method?: string;
  readonly path?: string;
  readonly host?: string;
  readonly headers: readonly HttpHeaderMatch[];
}

/** Which requests the proxy lets through, for some peers of an L7 port. */
export interface L7Rule {
  /** The peers (identities), or every peer. */
  readonly remote: readonly SecurityIdentity[] | "any";
  /**
   * The allowed requests (any one of the rules), or "all" for peers that a
   * policy allows on this port at L3/L4 without HTTP rules (Cilium's L7 wildcard).
   */
  readonly http: readonly HttpRule[] | "all";
  readonly sources: readonly ResourceRef[];
}

/**
 * The L7 part of an endpoint's policy for one TCP port and direction: the
 * datapath marks the flows of these peers for `proxyPort`, and the node's
 * Envoy lets through the requests one of `rules` allows (403 otherwise).
 */
export interface L7Policy {
  readonly endpointId: number;
  readonly direction: Direction;
  /** The destination port (TCP). */
  readonly port: number;
  readonly proxyPort: number;
  readonly rules: readonly L7Rule[];
  readonly sources: readonly ResourceRef[];
}

/**
 * Everything one node enforces: its endpoints and their policies (the
 * agent's desired state), the L7 policies (the node's Envoy), the ipcache
 * and the identities' labels.
 */
export interface NodePolicy {
  readonly node: string;
  readonly endpoints: readonly LocalEndpoint[];
  readonly policies: readonly EndpointPolicy[];
  readonly l7: readonly L7Policy[];
  readonly ipcache: readonly IpcacheEntry[];
  readonly identities: readonly IdentityInfo[];
  /** With `--auth-encryption envoy`: the flows this node's Envoy encrypts and accepts encrypted. */
  readonly encryption?: NodeEncryption;
}
