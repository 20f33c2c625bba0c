/**
 * The SPIFFE IDs of the built-in CA's own certificates (not workload
 * identities, `/identity/N`, so none passes for one in a mutual-auth
 * handshake): the controller's, which its issuer and its xDS server present,
 * and those of a node's two xDS clients, strait's agent and the node's Envoy.
 */
import type { SpiffeId, TrustDomain } from "../spiffe-id.ts";

export const CONTROLLER_PATH = "/strait-controller";

export const XDS_CLIENT_ROLES = ["agent", "envoy"] as const;
export type XdsClientRole = (typeof XDS_CLIENT_ROLES)[number];

export function controllerId(trustDomain: TrustDomain): SpiffeId {
  return { trustDomain, path: CONTROLLER_PATH };
}

export function xdsClientId(trustDomain: TrustDomain, node: string, role: XdsClientRole): SpiffeId {
  return { trustDomain, path: `/strait-node/${node}/${role}` };
}
