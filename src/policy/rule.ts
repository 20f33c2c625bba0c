/**
 * A CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy after parsing and
 * validation: its rules in Cilium's terms (pkg/policy/api), with the
 * namespace scoping of Kubernetes policies already applied to every
 * selector, so nothing downstream needs to know which kind a rule came from.
 */
import type { AuthType, Direction } from "../model/endpoint-policy.ts";
import type { ResourceRef } from "../model/resource-ref.ts";
import type { Selector } from "./selector.ts";

/** A Service an egress rule names (`toServices`), resolved against the Services of each pass. */
export interface ServicePeer {
  /** Undefined: every namespace (a clusterwide policy that names none). */
  readonly namespace: string | undefined;
  readonly name?: string;
  /** `k8sServiceSelector`: Services whose labels match. */
  readonly selector?: Selector;
}

/**
 * The peers a rule is about. `all` is Cilium's wildcard (a rule with ports
 * but no `from*`/`to*` field: every peer, the world included); otherwise the
 * union of the selectors and Services, which may be empty (`fromEndpoints: []`
 * selects no one).
 */
export type PeerSet =
  | { readonly kind: "all" }
  | {
      readonly kind: "some";
      readonly selectors: readonly Selector[];
      readonly services: readonly ServicePeer[];
    };

export type PortProtocol = "TCP" | "UDP" | "SCTP" | "ANY";

export interface PortSpec {
  readonly protocol: PortProtocol;
  /** A number (0: every port), or a named port (lower-case), resolved per endpoint. */
  readonly port: number | string;
  /** A range `port..endPort` (numbers only). */
  readonly endPort?: number;
}

/** A header condition as written; `secret` is read from the Secret of each pass. */
export interface HeaderSpec {
  readonly name: string;
  readonly value?: string;
  readonly secret?: { readonly namespace: string; readonly name: string };
  readonly mismatch?: "LOG";
}

export interface HttpRuleSpec {
  readonly method?: string;
  readonly path?: string;
  readonly host?: string;
  readonly headers: readonly HeaderSpec[];
}

export interface PortRuleSpec {
  readonly ports: readonly PortSpec[];
  /** HTTP rules: the port's allowed traffic goes through the proxy. Undefined: L4 only. */
  readonly http?: readonly HttpRuleSpec[];
}

/** One entry of `ingress`, `ingressDeny`, `egress` or `egressDeny`. */
export interface PeerRule {
  readonly direction: Direction;
  readonly deny: boolean;
  /** Where it is in the object, e.g. `spec.ingress[0]` (for traces and status messages). */
  readonly path: string;
  readonly peers: PeerSet;
  /** Undefined: every port and protocol (an L3-only rule). */
  readonly toPorts?: readonly PortRuleSpec[];
  /** `authentication.mode`, as the datapath's auth type. */
  readonly auth?: Exclude<AuthType, "none">;
}

export interface PolicyRule {
  readonly source: ResourceRef;
  /** `spec` or `specs[i]`. */
  readonly path: string;
  readonly description?: string;
  /** The endpoints the rule applies to (namespace-scoped for a CiliumNetworkPolicy). */
  readonly subject: Selector;
  /** Cilium's `enableDefaultDeny`, with its defaults filled in. */
  readonly defaultDeny: { readonly ingress: boolean; readonly egress: boolean };
  readonly rules: readonly PeerRule[];
}

export interface ParsedPolicy {
  readonly source: ResourceRef;
  readonly rules: readonly PolicyRule[];
  /** Things the policy asked for that were adjusted, as Cilium does (logged, status message). */
  readonly warnings: readonly string[];
}

/** Why a policy is invalid: the field and what is wrong with it. */
export interface PolicyProblem {
  readonly path: string;
  readonly message: string;
}
