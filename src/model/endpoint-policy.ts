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
 * (`authentication.mode: required` maps to "mtls-spiffe").
 */
export type AuthType = "none" | "mtls-spiffe" | "always-fail";

export interface PolicyEntry {
  readonly direction: Direction;
  /** The peer's identity, or "any" for every peer. */
  readonly remoteIdentity: SecurityIdentity | "any";
  readonly protocol: L4Protocol;
  /** Destination port (1..65535), or "any". Ignored for ICMP and ANY. */
  readonly port: number | "any";
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
