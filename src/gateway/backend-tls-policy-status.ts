/**
 * BackendTLSPolicy status: one ancestor entry per Gateway of ours whose
 * routes send to a backend the policy targets (GEP-713 ancestors), with the
 * policy's Accepted and ResolvedRefs conditions. Other controllers' entries
 * are kept. At most 16 entries in all, as the CRD allows.
 */
import type { ObjectStatus } from "../model/status.ts";
import type { PolicyDecision } from "./backend-tls-policy.ts";
import { buildConditions } from "./conditions.ts";
import type { GatewayState } from "./gateway.ts";
import { byAge } from "./object-order.ts";

/** `status.ancestors` maxItems in the BackendTLSPolicy CRD. */
export const MAX_ANCESTORS = 16;

interface AncestorStatusLike {
  ancestorRef?: { group?: string; kind?: string; namespace?: string; name?: string };
  controllerName?: string;
  conditions?: unknown;
}

/** Other controllers' ancestor entries of a policy's current status (their output: kept). */
function otherAncestors(decision: PolicyDecision, controllerName: string): AncestorStatusLike[] {
  const previous = ((decision.policy.status as { ancestors?: AncestorStatusLike[] } | undefined)?.ancestors ??
    []) as AncestorStatusLike[];
  return previous.filter((a) => a.controllerName !== controllerName);
}

/**
 * The Gateways that get a place in the policy's ancestors: the CRD holds at
 * most 16, other controllers' entries included; when full, no further entry
 * is added (GEP-713) and the policy is unimplementable through the other
 * Gateways. Which get the places must not depend on strait's earlier status:
 * the oldest first, as listener conflicts are decided.
 */
export function placedAncestors(
  decision: PolicyDecision,
  ancestors: readonly GatewayState[],
  controllerName: string,
): GatewayState[] {
  const room = Math.max(0, MAX_ANCESTORS - otherAncestors(decision, controllerName).length);
  return [...ancestors].sort((a, b) => byAge(a.gateway, b.gateway)).slice(0, room);
}

export function backendTlsPolicyStatus(
  decision: PolicyDecision,
  ancestors: readonly GatewayState[],
  controllerName: string,
  now: Date,
): ObjectStatus | undefined {
  const policy = decision.policy;
  const previous = ((policy.status as { ancestors?: AncestorStatusLike[] } | undefined)?.ancestors ??
    []) as AncestorStatusLike[];
  const others = previous.filter((a) => a.controllerName !== controllerName);
  if (ancestors.length === 0 && others.length === previous.length) return undefined;
  const ours = placedAncestors(decision, ancestors, controllerName).map((gw) => {
    return {
      ancestorRef: {
        group: "gateway.networking.k8s.io",
        kind: "Gateway",
        namespace: gw.namespace,
        name: gw.name,
      },
      controllerName,
      conditions: buildConditions(decision.conditions, policy.metadata.generation, now),
    };
  });
  return {
    ref: {
      group: "gateway.networking.k8s.io",
      kind: "BackendTLSPolicy",
      namespace: policy.metadata.namespace ?? "",
      name: policy.metadata.name,
    },
    status: { ancestors: [...others, ...ours] },
  };
}
