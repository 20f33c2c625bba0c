/** The Gateway status: addresses, conditions and one entry per listener. */
import type { ObjectStatus } from "../model/status.ts";
import { MAX_ANCESTORS } from "./backend-tls-policy-status.ts";
import { buildConditions, cond } from "./conditions.ts";
import type { GatewayState } from "./gateway.ts";
import { listenerSetAccepted } from "./listenerset.ts";

/** Negative-polarity Gateway condition (domain-prefixed: the Gateway API defines none for this). */
export const POLICY_ANCESTORS_FULL = "strait.dev/BackendTLSPolicyAncestorsFull";

/**
 * `unplacedPolicies`: BackendTLSPolicies whose ancestor list is full without
 * this Gateway (GEP-713 asks to signal it on the ancestor): their backends
 * are not served through it.
 */
export function gatewayStatus(
  state: GatewayState,
  now: Date,
  unplacedPolicies: readonly string[] = [],
): ObjectStatus {
  const gw = state.gateway;
  const generation = gw.metadata.generation;
  const conditions = [state.accepted, state.programmed, state.resolvedRefs];
  if (state.insecureFallback) {
    conditions.push(
      cond(
        "InsecureFrontendValidationMode",
        true,
        "ConfigurationChanged",
        "a listener accepts clients without a certificate (AllowInsecureFallback)",
      ),
    );
  }
  if (unplacedPolicies.length > 0) {
    conditions.push(
      cond(
        POLICY_ANCESTORS_FULL,
        true,
        "AncestorsFull",
        `BackendTLSPolicy ${unplacedPolicies.join(", ")} already lists ${MAX_ANCESTORS} ancestors: the Services it targets are not served through this Gateway (HTTP 500)`,
      ),
    );
  }
  const listeners = state.listeners
    .filter((l) => l.owner.kind === "Gateway")
    .map((l) => {
      return {
        name: l.name,
        supportedKinds: l.supportedKinds.map((k) => ({ group: k.group, kind: k.kind })),
        attachedRoutes: l.attachedRoutes,
        conditions: buildConditions(l.conditions, generation, now),
      };
    });
  return {
    ref: {
      group: "gateway.networking.k8s.io",
      kind: "Gateway",
      namespace: state.namespace,
      name: state.name,
    },
    status: {
      ...(state.address === undefined ? {} : { addresses: [{ type: "IPAddress", value: state.address }] }),
      conditions: buildConditions(conditions, generation, now),
      listeners,
      attachedListenerSets: state.listenerSets.filter((ls) => listenerSetAccepted(ls)).length,
    },
  };
}
