/**
 * ListenerSet (GEP-1713): listeners that other teams add to a Gateway. A
 * Gateway accepts ListenerSets only as its `spec.allowedListeners` says (none
 * by default; or from its namespace, all namespaces, or namespaces matching a
 * selector). Accepted ListenerSets' listeners join the Gateway's ports after
 * the Gateway's own listeners, oldest ListenerSet first, so conflicts are
 * decided in that order.
 */
import type { ObjectStatus } from "../model/status.ts";
import type { ObjectOf } from "../resources/objects.ts";
import type { ResourceView } from "../resources/view.ts";
import { buildConditions, type ConditionInput, cond } from "./conditions.ts";
import type { ListenerState } from "./listeners.ts";
import {
  type NamespacePolicy,
  type NamespacesSpec,
  namespaceAllowed,
  namespacePolicyOf,
} from "./namespace-policy.ts";
import { byAge } from "./object-order.ts";

export interface ListenerSetState {
  readonly listenerSet: ObjectOf<"ListenerSet">;
  readonly namespace: string;
  readonly name: string;
  readonly allowed: boolean;
  /** Why the Gateway does not allow it, when it does not. */
  readonly notAllowed?: string;
  /** Filled in once the Gateway's listeners are validated. */
  listeners: ListenerState[];
}

function allowedPolicy(gw: ObjectOf<"Gateway">): NamespacePolicy {
  const spec = gw.spec as { allowedListeners?: { namespaces?: NamespacesSpec } };
  return namespacePolicyOf(spec.allowedListeners?.namespaces, "None", "allowedListeners.namespaces");
}

/** The ListenerSets whose parentRef names this Gateway, in precedence order, each allowed or not. */
export function listenerSetsOf(view: ResourceView, gw: ObjectOf<"Gateway">): ListenerSetState[] {
  const gwNs = gw.metadata.namespace ?? "";
  const policy = allowedPolicy(gw);
  return view
    .list("ListenerSet")
    .filter((ls) => {
      const p = ls.spec.parentRef;
      return (
        (p.group ?? "gateway.networking.k8s.io") === "gateway.networking.k8s.io" &&
        (p.kind ?? "Gateway") === "Gateway" &&
        p.name === gw.metadata.name &&
        (p.namespace ?? ls.metadata.namespace) === gwNs
      );
    })
    .sort(byAge)
    .map((ls) => {
      const allowed = namespaceAllowed(view, policy, gwNs, ls.metadata.namespace ?? "");
      return {
        listenerSet: ls,
        namespace: ls.metadata.namespace ?? "",
        name: ls.metadata.name,
        allowed,
        ...(allowed
          ? {}
          : {
              notAllowed:
                policy.from === "Invalid"
                  ? `the parent Gateway's ${policy.message}`
                  : "the parent Gateway's allowedListeners does not allow ListenerSets from this namespace",
            }),
        listeners: [],
      };
    });
}

/** Accepted: allowed by the Gateway and with at least one listener that can serve. */
export function listenerSetAccepted(state: ListenerSetState): boolean {
  return state.allowed && state.listeners.some((l) => l.programmed);
}

export function listenerSetStatus(state: ListenerSetState, now: Date): ObjectStatus {
  const ls = state.listenerSet;
  const generation = ls.metadata.generation;
  let conditions: ConditionInput[];
  if (!state.allowed) {
    const why = state.notAllowed ?? "the parent Gateway does not allow this ListenerSet";
    conditions = [cond("Accepted", false, "NotAllowed", why), cond("Programmed", false, "NotAllowed", why)];
  } else if (!listenerSetAccepted(state)) {
    conditions = [
      cond("Accepted", false, "ListenersNotValid", "no listener is valid"),
      cond("Programmed", false, "ListenersNotValid", "no listener is valid"),
    ];
  } else {
    const partial = state.listeners.some((l) => !l.programmed);
    conditions = [
      partial
        ? cond("Accepted", true, "ListenersNotValid", "some listeners are invalid; the valid ones are served")
        : cond("Accepted", true, "Accepted", "ListenerSet is accepted"),
      cond("Programmed", true, "Programmed", "ListenerSet is programmed"),
    ];
  }
  return {
    ref: {
      group: "gateway.networking.k8s.io",
      kind: "ListenerSet",
      namespace: state.namespace,
      name: state.name,
    },
    status: {
      conditions: buildConditions(conditions, generation, now),
      listeners: state.allowed
        ? state.listeners.map((l) => ({
            name: l.name,
            supportedKinds: l.supportedKinds.map((k) => ({ group: k.group, kind: k.kind })),
            attachedRoutes: l.attachedRoutes,
            conditions: buildConditions(l.conditions, generation, now),
          }))
        : [],
    },
  };
}
