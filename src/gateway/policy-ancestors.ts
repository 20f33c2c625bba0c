/**
 * Places in a BackendTLSPolicy's ancestor list (GEP-713: at most 16) and
 * what happens to the Gateways that get none: the policy is unimplementable
 * through them, so their routes do not use its backends.
 */
import type { ServiceBackend } from "../model/backend.ts";
import type { BackendTlsPolicies, PolicyDecision } from "./backend-tls-policy.ts";
import { placedAncestors } from "./backend-tls-policy-status.ts";
import type { GatewayState } from "./gateway.ts";

/**
 * Per Gateway: the BackendTLSPolicies (`namespace/name`) whose ancestor list
 * has no place left for it (16 at most, GEP-713). Such a policy is
 * unimplementable through that Gateway: its backends are not used there
 * (their share gets HTTP 500, never clear text), and the Gateway says so.
 */
export function unplacedPolicies(
  policies: BackendTlsPolicies,
  users: ReadonlyMap<PolicyDecision, ReadonlySet<GatewayState>>,
  controllerName: string,
): Map<GatewayState, Set<string>> {
  const out = new Map<GatewayState, Set<string>>();
  for (const decision of policies.decisions) {
    // A conflicted policy applies nowhere: only the winner's places matter for traffic.
    if (decision.conflictsWith !== undefined) continue;
    const gateways = [...(users.get(decision) ?? [])];
    const placed = new Set(placedAncestors(decision, gateways, controllerName));
    const key = `${decision.policy.metadata.namespace ?? ""}/${decision.policy.metadata.name}`;
    for (const gw of gateways) {
      if (placed.has(gw)) continue;
      const set = out.get(gw) ?? new Set<string>();
      set.add(key);
      out.set(gw, set);
    }
  }
  return out;
}

/** `clusterFor` without the backends whose TLS comes from one of `policies` (undefined: none). */
export function withoutPolicies(
  clusterFor: (cluster: string) => string,
  services: { get(cluster: string): ServiceBackend | undefined },
  policies: ReadonlySet<string> | undefined,
): (cluster: string) => string | undefined {
  if (policies === undefined || policies.size === 0) return clusterFor;
  return (cluster) => {
    const tls = services.get(cluster)?.tls;
    const blocked = tls?.sources.some(
      (s) => s.kind === "BackendTLSPolicy" && policies.has(`${s.namespace}/${s.name}`),
    );
    return blocked === true ? undefined : clusterFor(cluster);
  };
}
