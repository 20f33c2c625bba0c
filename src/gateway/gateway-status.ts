/** The Gateway status: addresses, conditions and one entry per listener. */
import type { ObjectStatus } from "../model/status.ts";
import { buildConditions, cond } from "./conditions.ts";
import type { GatewayState } from "./gateway.ts";
import { listenerSetAccepted } from "./listenerset.ts";

export function gatewayStatus(state: GatewayState, now: Date): ObjectStatus {
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
