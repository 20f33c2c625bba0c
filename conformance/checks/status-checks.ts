/**
 * The status checks of the conformance catalogue (`conventions.checkTypes`),
 * judged on the statuses strait wrote. Each follows the upstream helper in
 * conformance/utils/kubernetes/helpers.go that the catalogue entry names.
 */
import type { AnyStoredObject } from "../../src/resources/objects.ts";
import type { CheckData, ConditionData, ObjectRefData } from "../catalogue.ts";
import {
  type CheckContext,
  type CheckFn,
  type CheckOutcome,
  type ConditionLike,
  conditionsOf,
  fail,
  formatRef,
  matchCondition,
  objectOf,
  pass,
  statusOf,
} from "./context.ts";

const GATEWAY_GROUP = "gateway.networking.k8s.io";

/** Conditions the upstream `generateAcceptedListenerConditions` produces. */
const ACCEPTED_LISTENER_CONDITIONS: readonly ConditionData[] = [
  { type: "Accepted", status: "True", reason: "(any)" },
  { type: "ResolvedRefs", status: "True", reason: "(any)" },
  { type: "Programmed", status: "True", reason: "(any)" },
];

/** A catalogue condition list, or the named upstream generator it stands for. */
function conditionList(value: unknown): readonly ConditionData[] {
  if (Array.isArray(value)) return value as ConditionData[];
  if (typeof value === "string" && value.includes("generateAcceptedListenerConditions"))
    return ACCEPTED_LISTENER_CONDITIONS;
  return [];
}

function generationOf(obj: AnyStoredObject): number | undefined {
  return obj.metadata.generation;
}

function allConditions(status: Record<string, unknown>): ConditionLike[] {
  const out = [...conditionsOf(status)];
  for (const key of ["parents", "ancestors", "listeners"]) {
    const list = status[key];
    if (Array.isArray(list)) for (const entry of list) out.push(...conditionsOf(entry));
  }
  return out;
}

function staleConditions(obj: AnyStoredObject, conditions: readonly ConditionLike[]): string | undefined {
  const generation = generationOf(obj);
  const stale = conditions.filter((c) => c.observedGeneration !== generation);
  if (stale.length === 0) return undefined;
  return `conditions not at generation ${generation}: ${stale.map((c) => `${c.type}@${c.observedGeneration}`).join(", ")}`;
}

/**
 * `ConditionsHaveLatestObservedGeneration` on the object's own conditions, as the upstream
 * helpers call it before reading anything else (GatewayMustHaveCondition, WaitForGatewayAddress,
 * GatewayStatusMustHaveListeners, GatewayMustHaveZeroRoutes, ListenerSet helpers, …).
 */
function ownConditionsStale(obj: AnyStoredObject, ref: ObjectRefData): CheckOutcome | undefined {
  const stale = staleConditions(obj, conditionsOf(statusOf(obj)));
  return stale === undefined ? undefined : fail(`${formatRef(ref)}: ${stale}`);
}

/** The same over every status.parents entry of a route (all parents, not only the one judged). */
function parentConditionsStale(route: AnyStoredObject, ref: ObjectRefData): CheckOutcome | undefined {
  const stale = staleConditions(
    route,
    parentsOf(route).flatMap((p) => p.conditions ?? []),
  );
  return stale === undefined ? undefined : fail(`${formatRef(ref)}: ${stale}`);
}

function need(ctx: CheckContext, ref: ObjectRefData): AnyStoredObject | CheckOutcome {
  const obj = objectOf(ctx, ref);
  return obj ?? fail(`${formatRef(ref)} not found`);
}

function isOutcome(value: AnyStoredObject | CheckOutcome): value is CheckOutcome {
  return "ok" in value && "message" in value && !("metadata" in value);
}

export const conditionsAtLatestGeneration: CheckFn = (ctx, check) => {
  const ref = check.object as ObjectRefData;
  const obj = need(ctx, ref);
  if (isOutcome(obj)) return obj;
  const conditions = allConditions(statusOf(obj));
  if (conditions.length === 0) return fail(`${formatRef(ref)} has no conditions`);
  const stale = staleConditions(obj, conditions);
  return stale === undefined ? pass() : fail(`${formatRef(ref)}: ${stale}`);
};

export const gatewayClassAcceptedSet: CheckFn = (ctx, check) => {
  const ref = { kind: "GatewayClass", name: String(check.gatewayClass) };
  const obj = need(ctx, ref);
  if (isOutcome(obj)) return obj;
  const accepted = conditionsOf(statusOf(obj)).find((c) => c.type === "Accepted");
  if (accepted === undefined) return fail(`GatewayClass ${ref.name} has no Accepted condition`);
  if (accepted.observedGeneration !== generationOf(obj))
    return fail(`Accepted at generation ${accepted.observedGeneration}, object at ${generationOf(obj)}`);
  if (check.status !== "(any)" && accepted.status !== check.status)
    return fail(`Accepted=${accepted.status}, want ${String(check.status)}`);
  return pass();
};

function objectCondition(ctx: CheckContext, ref: ObjectRefData, condition: ConditionData): CheckOutcome {
  const obj = need(ctx, ref);
  if (isOutcome(obj)) return obj;
  // Every condition of the object at its generation, not only the one asked for.
  const stale = ownConditionsStale(obj, ref);
  if (stale !== undefined) return stale;
  const mismatch = matchCondition(conditionsOf(statusOf(obj)), condition);
  return mismatch === undefined ? pass() : fail(`${formatRef(ref)}: ${mismatch}`);
}

export const gatewayCondition: CheckFn = (ctx, check) =>
  objectCondition(ctx, check.gateway as ObjectRefData, check.condition as ConditionData);

export const listenerSetCondition: CheckFn = (ctx, check) =>
  objectCondition(ctx, check.listenerSet as ObjectRefData, check.condition as ConditionData);

export const gatewayHasAddress: CheckFn = (ctx, check) => {
  const ref = check.gateway as ObjectRefData;
  const obj = need(ctx, ref);
  if (isOutcome(obj)) return obj;
  const stale = ownConditionsStale(obj, ref);
  if (stale !== undefined) return stale;
  // WaitForGatewayAddress takes the first address whose type is set.
  const addresses = statusOf(obj).addresses;
  return Array.isArray(addresses) && addresses.some((a) => (a as { type?: unknown }).type !== undefined)
    ? pass()
    : fail(`${formatRef(ref)} has no status.addresses entry with a type`);
};

interface ListenerStatusLike {
  name: string;
  attachedRoutes?: number;
  supportedKinds?: { group?: string; kind: string }[];
  conditions?: ConditionLike[];
}

interface ExpectedListener {
  name: string;
  attachedRoutes?: number;
  supportedKinds?: unknown[];
  conditions?: unknown;
}

/** `<result of <v1.Group>>/HTTPRoute` or `{group, kind}` or a generator name → group/kind pairs. */
function expectedKinds(values: readonly unknown[]): { group: string; kind: string }[] | "any-route-kinds" {
  const out: { group: string; kind: string }[] = [];
  for (const v of values) {
    if (typeof v === "string") {
      if (v.includes("generateSupportedRouteKinds")) return "any-route-kinds";
      const kind = v.slice(v.lastIndexOf("/") + 1);
      out.push({ group: GATEWAY_GROUP, kind });
    } else if (v !== null && typeof v === "object") {
      const k = v as { group?: string; kind: string };
      out.push({ group: k.group ?? GATEWAY_GROUP, kind: k.kind });
    }
  }
  return out;
}

function compareListeners(
  ownerName: string,
  actual: readonly ListenerStatusLike[],
  expected: readonly ExpectedListener[],
): CheckOutcome {
  if (actual.length !== expected.length) {
    return fail(
      `${ownerName}: ${actual.length} listener statuses (${actual.map((l) => l.name).join(", ")}), want ${expected.length} (${expected.map((l) => l.name).join(", ")})`,
    );
  }
  for (const want of expected) {
    const got = actual.find((l) => l.name === want.name);
    if (got === undefined) return fail(`${ownerName}: no status for listener ${want.name}`);
    if ((got.attachedRoutes ?? 0) !== (want.attachedRoutes ?? 0)) {
      return fail(
        `${ownerName} listener ${want.name}: attachedRoutes ${got.attachedRoutes}, want ${want.attachedRoutes ?? 0}`,
      );
    }
    if (want.supportedKinds !== undefined) {
      const kinds = expectedKinds(want.supportedKinds);
      const gotKinds = (got.supportedKinds ?? []).map((k) => ({
        group: k.group ?? GATEWAY_GROUP,
        kind: k.kind,
      }));
      if (kinds === "any-route-kinds") {
        if (gotKinds.length === 0) return fail(`${ownerName} listener ${want.name}: no supportedKinds`);
      } else if (kinds.length === 0) {
        if (gotKinds.length !== 0)
          return fail(
            `${ownerName} listener ${want.name}: supportedKinds ${JSON.stringify(gotKinds)}, want none`,
          );
      } else {
        for (const k of kinds) {
          if (!gotKinds.some((g) => g.group === k.group && g.kind === k.kind)) {
            return fail(
              `${ownerName} listener ${want.name}: supportedKinds lacks ${k.group}/${k.kind} (has ${JSON.stringify(gotKinds)})`,
            );
          }
        }
      }
    }
    for (const condition of conditionList(want.conditions)) {
      const mismatch = matchCondition(got.conditions ?? [], condition);
      if (mismatch !== undefined) return fail(`${ownerName} listener ${want.name}: ${mismatch}`);
    }
  }
  return pass();
}

export const gatewayListenersStatus: CheckFn = (ctx, check) => {
  const ref = check.gateway as ObjectRefData;
  const obj = need(ctx, ref);
  if (isOutcome(obj)) return obj;
  const stale = ownConditionsStale(obj, ref);
  if (stale !== undefined) return stale;
  const listeners = (statusOf(obj).listeners ?? []) as ListenerStatusLike[];
  return compareListeners(formatRef(ref), listeners, check.listeners as ExpectedListener[]);
};

export const listenerSetListenersStatus: CheckFn = (ctx, check) => {
  const ref = check.listenerSet as ObjectRefData;
  const obj = need(ctx, ref);
  if (isOutcome(obj)) return obj;
  const stale = ownConditionsStale(obj, ref);
  if (stale !== undefined) return stale;
  const listeners = (statusOf(obj).listeners ?? []) as ListenerStatusLike[];
  return compareListeners(formatRef(ref), listeners, check.listeners as ExpectedListener[]);
};

function listenerConditionsOf(
  ctx: CheckContext,
  ref: ObjectRefData,
  names: unknown,
  conditions: unknown,
): CheckOutcome {
  const obj = need(ctx, ref);
  if (isOutcome(obj)) return obj;
  // ListenerSetListenersMustHaveConditions checks the set's generation; the Gateway helper does not.
  if (ref.kind === "ListenerSet") {
    const stale = ownConditionsStale(obj, ref);
    if (stale !== undefined) return stale;
  }
  const listeners = (statusOf(obj).listeners ?? []) as ListenerStatusLike[];
  const wanted =
    Array.isArray(names) && !names.includes("(all)") ? (names as string[]) : listeners.map((l) => l.name);
  if (wanted.length === 0) return fail(`${formatRef(ref)} has no listener statuses`);
  for (const name of wanted) {
    const listener = listeners.find((l) => l.name === name);
    if (listener === undefined) return fail(`${formatRef(ref)}: no status for listener ${name}`);
    for (const condition of conditionList(conditions)) {
      const mismatch = matchCondition(listener.conditions ?? [], condition);
      if (mismatch !== undefined) return fail(`${formatRef(ref)} listener ${name}: ${mismatch}`);
    }
  }
  return pass();
}

export const listenerConditions: CheckFn = (ctx, check) =>
  listenerConditionsOf(ctx, check.gateway as ObjectRefData, check.listeners, check.conditions);

export const listenerSetListenerConditions: CheckFn = (ctx, check) =>
  listenerConditionsOf(ctx, check.listenerSet as ObjectRefData, check.listeners, check.conditions);

export const gatewayZeroRoutes: CheckFn = (ctx, check) => {
  const ref = check.gateway as ObjectRefData;
  const obj = need(ctx, ref);
  if (isOutcome(obj)) return obj;
  const stale = ownConditionsStale(obj, ref);
  if (stale !== undefined) return stale;
  // GatewayMustHaveZeroRoutes: no listener statuses, or exactly one with attachedRoutes 0.
  const listeners = (statusOf(obj).listeners ?? []) as ListenerStatusLike[];
  if (listeners.length === 0) return pass("no listener statuses");
  if (listeners.length === 1 && (listeners[0]?.attachedRoutes ?? 0) === 0) return pass();
  return fail(
    `${formatRef(ref)}: listeners ${JSON.stringify(listeners.map((l) => [l.name, l.attachedRoutes ?? 0]))}, want none or exactly one with 0 attached routes`,
  );
};

export const gatewayAttachedListenerSets: CheckFn = (ctx, check) => {
  const ref = check.gateway as ObjectRefData;
  const obj = need(ctx, ref);
  if (isOutcome(obj)) return obj;
  const stale = ownConditionsStale(obj, ref);
  if (stale !== undefined) return stale;
  const got = Number(statusOf(obj).attachedListenerSets ?? 0);
  return got === Number(check.count)
    ? pass()
    : fail(`${formatRef(ref)}: attachedListenerSets ${got}, want ${String(check.count)}`);
};

interface RouteParentStatusLike {
  parentRef: {
    group?: string;
    kind?: string;
    namespace?: string;
    name: string;
    sectionName?: string;
    port?: number;
  };
  controllerName: string;
  conditions?: ConditionLike[];
}

function parentsOf(route: AnyStoredObject): RouteParentStatusLike[] {
  const parents = statusOf(route).parents;
  return Array.isArray(parents) ? (parents as RouteParentStatusLike[]) : [];
}

/** The route's status entry for a parent, as the upstream helpers match it. */
function parentEntry(
  ctx: CheckContext,
  route: AnyStoredObject,
  parent: ObjectRefData,
): RouteParentStatusLike | undefined {
  const routeNs = route.metadata.namespace ?? "";
  return parentsOf(route).find((p) => {
    const ns = p.parentRef.namespace ?? routeNs;
    return (
      p.controllerName === ctx.controllerName &&
      (p.parentRef.group ?? GATEWAY_GROUP) === GATEWAY_GROUP &&
      (p.parentRef.kind ?? "Gateway") === parent.kind &&
      p.parentRef.name === parent.name &&
      ns === (parent.namespace ?? routeNs)
    );
  });
}

/**
 * The catalogue writes some ListenerSet parents with kind Gateway (the Go test passes a
 * parentRef variable); when no such Gateway exists but a ListenerSet does, it is that one.
 */
function parentKind(ctx: CheckContext, parent: ObjectRefData): ObjectRefData {
  if (parent.kind !== "Gateway" || objectOf(ctx, parent) !== undefined) return parent;
  return objectOf(ctx, { ...parent, kind: "ListenerSet" }) === undefined
    ? parent
    : { ...parent, kind: "ListenerSet" };
}

export const routeCondition: CheckFn = (ctx, check) => {
  const routeRef = check.route as ObjectRefData;
  const route = need(ctx, routeRef);
  if (isOutcome(route)) return route;
  const stale = parentConditionsStale(route, routeRef);
  if (stale !== undefined) return stale;
  const parent = parentKind(ctx, check.parent as ObjectRefData);
  const entry = parentEntry(ctx, route, parent);
  if (entry === undefined)
    return fail(`${formatRef(routeRef)} has no status for parent ${formatRef(parent)}`);
  const mismatch = matchCondition(entry.conditions ?? [], check.condition as ConditionData);
  return mismatch === undefined ? pass() : fail(`${formatRef(routeRef)} parent ${parent.name}: ${mismatch}`);
};

export const routeNotAccepted: CheckFn = (ctx, check) => {
  const routeRef = check.route as ObjectRefData;
  const route = need(ctx, routeRef);
  if (isOutcome(route)) return route;
  const parents = parentsOf(route);
  if (parents.length === 0) return pass("no parents in status");
  const stale = parentConditionsStale(route, routeRef);
  if (stale !== undefined) return stale;
  if (parents.length === 1) {
    const accepted = (parents[0]?.conditions ?? []).find((c) => c.type === "Accepted");
    if (accepted?.status === "False") return pass();
  }
  return fail(
    `${formatRef(routeRef)}: ${parents.length} parents, ${JSON.stringify(parents.map((p) => conditionsOf(p).map((c) => `${c.type}=${c.status}`)))}`,
  );
};

export const routeParents: CheckFn = (ctx, check) => {
  const routeRef = check.route as ObjectRefData;
  const route = need(ctx, routeRef);
  if (isOutcome(route)) return route;
  const stale = parentConditionsStale(route, routeRef);
  if (stale !== undefined) return stale;
  const routeNs = route.metadata.namespace ?? "";
  const expected = check.parents as {
    parentRef: RouteParentStatusLike["parentRef"];
    controllerName: string;
    conditions?: ConditionData[];
  }[];
  for (const want of expected) {
    const controller = want.controllerName.includes("ControllerName")
      ? ctx.controllerName
      : want.controllerName;
    const found = parentsOf(route).find((p) => {
      if (p.controllerName !== controller) return false;
      // "<<gatewayv1.GroupVersion>.Group>" in the catalogue stands for the Gateway API group.
      const wantGroup =
        want.parentRef.group?.includes("Group>") === true
          ? GATEWAY_GROUP
          : (want.parentRef.group ?? GATEWAY_GROUP);
      if ((p.parentRef.group ?? GATEWAY_GROUP) !== wantGroup) return false;
      if ((p.parentRef.kind ?? "Gateway") !== (want.parentRef.kind ?? "Gateway")) return false;
      if (p.parentRef.name !== want.parentRef.name) return false;
      if (check.namespaceRequired === true && p.parentRef.namespace === undefined) return false;
      return (p.parentRef.namespace ?? routeNs) === (want.parentRef.namespace ?? routeNs);
    });
    if (found === undefined)
      return fail(
        `${formatRef(routeRef)} has no status for parent ${want.parentRef.name}${check.namespaceRequired === true ? " (with namespace)" : ""}`,
      );
    for (const condition of want.conditions ?? []) {
      const mismatch = matchCondition(found.conditions ?? [], condition);
      if (mismatch !== undefined)
        return fail(`${formatRef(routeRef)} parent ${want.parentRef.name}: ${mismatch}`);
    }
  }
  return pass();
};

function listenersAllReady(ownerName: string, obj: AnyStoredObject): CheckOutcome {
  const listeners = (statusOf(obj).listeners ?? []) as ListenerStatusLike[];
  for (const l of listeners) {
    for (const condition of ACCEPTED_LISTENER_CONDITIONS) {
      const mismatch = matchCondition(l.conditions ?? [], condition);
      if (mismatch !== undefined) return fail(`${ownerName} listener ${l.name}: ${mismatch}`);
    }
  }
  return pass();
}

function routesAccepted(
  ctx: CheckContext,
  parent: ObjectRefData,
  routes: readonly ObjectRefData[],
): CheckOutcome {
  for (const routeRef of routes) {
    const route = need(ctx, routeRef);
    if (isOutcome(route)) return route;
    const entry = parentEntry(ctx, route, parent);
    if (entry === undefined)
      return fail(`${formatRef(routeRef)} has no status for parent ${formatRef(parent)}`);
    const mismatch = matchCondition(entry.conditions ?? [], {
      type: "Accepted",
      status: "True",
      reason: "Accepted",
    });
    if (mismatch !== undefined) return fail(`${formatRef(routeRef)}: ${mismatch}`);
    const stale = parentConditionsStale(route, routeRef);
    if (stale !== undefined) return stale;
  }
  return pass();
}

export const gatewayAndRoutesAccepted: CheckFn = async (ctx, check) => {
  const gwRef = check.gateway as ObjectRefData;
  const hasAddress = await gatewayHasAddress(ctx, check);
  if (!hasAddress.ok) return hasAddress;
  const gw = need(ctx, gwRef);
  if (isOutcome(gw)) return gw;
  const ready = listenersAllReady(formatRef(gwRef), gw);
  if (!ready.ok) return ready;
  return routesAccepted(ctx, gwRef, (check.routes ?? []) as ObjectRefData[]);
};

export const parentAndRoutesAccepted: CheckFn = (ctx, check) => {
  const parentRef = check.parent as ObjectRefData;
  const parent = need(ctx, parentRef);
  if (isOutcome(parent)) return parent;
  if (parentRef.kind === "ListenerSet") {
    const stale = ownConditionsStale(parent, parentRef);
    if (stale !== undefined) return stale;
  }
  const ready = listenersAllReady(formatRef(parentRef), parent);
  if (!ready.ok) return ready;
  return routesAccepted(ctx, parentRef, (check.routes ?? []) as ObjectRefData[]);
};

const SKIP_READINESS = "gateway-api/skip-this-for-readiness";

export const namespacesReady: CheckFn = (ctx, check) => {
  for (const ns of (check.namespaces ?? []) as string[]) {
    for (const gw of ctx.cluster.store.list("Gateway", ns)) {
      if (gw.metadata.annotations?.[SKIP_READINESS] === "true") continue;
      const cls = ctx.cluster.store.get("GatewayClass", "", gw.spec.gatewayClassName);
      if (cls?.spec.controllerName !== ctx.controllerName) continue;
      // objectCondition also holds every condition of the Gateway at its generation.
      for (const type of ["Accepted", "Programmed"]) {
        const outcome = objectCondition(
          ctx,
          { kind: "Gateway", namespace: ns, name: gw.metadata.name },
          { type, status: "True", reason: "(any)" },
        );
        if (!outcome.ok) return outcome;
      }
    }
  }
  return pass();
};

export const policyAncestorCondition: CheckFn = (ctx, check) => {
  const policyRef = check.policy as ObjectRefData;
  const policy = need(ctx, policyRef);
  if (isOutcome(policy)) return policy;
  const ancestor = check.ancestor as ObjectRefData;
  const ancestors = (statusOf(policy).ancestors ?? []) as {
    ancestorRef: { kind?: string; name: string; namespace?: string };
    controllerName: string;
    conditions?: ConditionLike[];
  }[];
  if (ancestors.length === 0) return fail(`${formatRef(policyRef)} has no status.ancestors`);
  const stale = staleConditions(
    policy,
    ancestors.flatMap((a) => a.conditions ?? []),
  );
  if (stale !== undefined) return fail(`${formatRef(policyRef)}: ${stale}`);
  const entry = ancestors.find(
    (a) =>
      a.ancestorRef.name === ancestor.name &&
      (a.ancestorRef.kind ?? "Gateway") === ancestor.kind &&
      (a.ancestorRef.namespace ?? policy.metadata.namespace) === ancestor.namespace,
  );
  if (entry === undefined)
    return fail(`${formatRef(policyRef)} has no ancestor entry for ${formatRef(ancestor)}`);
  const mismatch = matchCondition(entry.conditions ?? [], check.condition as ConditionData);
  return mismatch === undefined
    ? pass()
    : fail(`${formatRef(policyRef)} ancestor ${ancestor.name}: ${mismatch}`);
};

export const STATUS_CHECKS: Readonly<Record<string, CheckFn>> = {
  conditionsAtLatestGeneration,
  gatewayClassAcceptedSet,
  gatewayCondition,
  listenerSetCondition,
  gatewayHasAddress,
  gatewayListenersStatus,
  listenerSetListenersStatus,
  listenerConditions,
  listenerSetListenerConditions,
  gatewayZeroRoutes,
  gatewayAttachedListenerSets,
  routeCondition,
  routeNotAccepted,
  routeParents,
  gatewayAndRoutesAccepted,
  parentAndRoutesAccepted,
  namespacesReady,
  policyAncestorCondition,
};

export type { CheckData };
