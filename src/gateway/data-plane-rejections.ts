/**
 * Envoy's NACKs, in status. A resource Envoy refused (a listener, a route
 * configuration, a cluster, its endpoints, a secret) is traced back through
 * the model to what produced it:
 *
 * - the Gateway listeners it serves get `Programmed=False`, reason `Invalid`,
 *   with Envoy's error (listeners, route configurations, secrets);
 * - the routes in it, or sending to it, get the parent condition
 *   `strait.dev/Programmed=False`, reason `RejectedByDataPlane` on their
 *   parent entry for that Gateway (route configurations, clusters,
 *   endpoints). The Gateway API defines no route condition for this; a
 *   domain-prefixed type is how the spec lets implementations add one.
 *
 * A resource strait itself withholds (it fails strict encoding in the xDS
 * cache: a translator bug, so no Envoy ever sees it) shows the same way, but
 * the routes' reason is `WithheldFailedEncoding` and the message says strait
 * withheld it: blaming Envoy for it would send a user to the wrong place. The
 * Gateway listeners keep the spec's reason, `Invalid` (the spec defines
 * `Invalid` and `Pending` for `Programmed=False`; an encoding failure is not
 * pending).
 *
 * Translation's exclusions (parts left out because they do not encode, see
 * xds/translate/strict-check.ts) show the same way with reason `Invalid`: a
 * route whose rule was left out gets `strait.dev/Programmed=False` on that
 * Gateway's parent entry, a Gateway listener whose chain or listener was left
 * out `Programmed=False`.
 *
 * Everything else keeps its status: other listeners, other Gateways, other
 * routes. Once Envoy accepts a later version the rejection is gone from the
 * input and the conditions return to what the spec stage computed.
 */

import type { Exclusion } from "../model/exclusion.ts";
import type { GatewayModel, Route } from "../model/gateway.ts";
import type { DataPlaneRejection } from "../model/rejection.ts";
import type { Condition, ObjectStatus } from "../model/status.ts";
import type { ResourceView } from "../resources/view.ts";
import { conditionTime } from "./conditions.ts";

export const ROUTE_PROGRAMMED = "strait.dev/Programmed";
export const REJECTED_BY_DATA_PLANE = "RejectedByDataPlane";
/** A resource strait withheld because it fails strict encoding (see controller/data-plane-rejections.ts). */
export const WITHHELD_FAILED_ENCODING = "WithheldFailedEncoding";
/** A part translation left out because it does not encode as Envoy would accept it (see xds/translate/strict-check.ts). */
export const INVALID = "Invalid";

/** Condition messages stay readable (the CRDs allow 32 KiB; Envoy's errors can be long). */
const MAX_MESSAGE = 1024;

interface Mark {
  readonly reason: string;
  readonly message: string;
}

interface Marks {
  /** `ns/gateway` → listener name → why. */
  readonly listeners: Map<string, Map<string, Mark>>;
  /** `ns/route` → `ns/gateway` → why. */
  readonly routes: Map<string, Map<string, Mark>>;
}

function gatewayOf(resourceName: string): string {
  return resourceName.split("/").slice(0, 2).join("/");
}

function clip(text: string): string {
  return text.length <= MAX_MESSAGE ? text : `${text.slice(0, MAX_MESSAGE - 1)}…`;
}

function mark(map: Map<string, Map<string, Mark>>, outer: string, inner: string, why: Mark): void {
  const entry = map.get(outer) ?? new Map<string, Mark>();
  if (!entry.has(inner)) entry.set(inner, why);
  map.set(outer, entry);
}

function routeKeysOf(sources: readonly { kind: string; namespace: string; name: string }[]): string[] {
  return sources.filter((s) => s.kind.endsWith("Route")).map((s) => `${s.namespace}/${s.name}`);
}

function routeKeys(route: Route): string[] {
  return routeKeysOf(route.sources);
}

function usesCluster(route: Route, cluster: string): boolean {
  const action = route.action;
  if (action.kind !== "forward") return false;
  return (
    action.backends.some((b) => b.cluster === cluster) || action.mirrors.some((m) => m.cluster === cluster)
  );
}

/** Names of a Gateway's listeners on a port (HTTP ports serve every listener of the port). */
function listenersOnPort(view: ResourceView, gateway: string, port: number): string[] {
  const [namespace = "", name = ""] = gateway.split("/");
  const gw = view.get("Gateway", namespace, name);
  return (gw?.spec.listeners ?? []).filter((l) => l.port === port).map((l) => l.name);
}

/** A rejection, or an exclusion of a whole resource, with the reason its conditions carry. */
type Refusal = DataPlaneRejection & { readonly reason: string };

function collect(
  view: ResourceView,
  model: GatewayModel,
  rejections: readonly DataPlaneRejection[],
  exclusions: readonly Exclusion[],
): Marks {
  const marks: Marks = { listeners: new Map(), routes: new Map() };
  const refusals: Refusal[] = rejections.map((r) =>
    r.withheld === true
      ? { ...r, reason: WITHHELD_FAILED_ENCODING, message: clip(`${r.resource} ${r.name} ${r.message}`) }
      : {
          ...r,
          reason: REJECTED_BY_DATA_PLANE,
          message: clip(`Envoy rejected ${r.resource} ${r.name}: ${r.message}`),
        },
  );
  /** HTTPS chains left out alone: their Gateway listener and its routes. */
  const tlsChains: { name: string; why: Mark }[] = [];
  for (const e of exclusions) {
    const message = clip(`left out of ${e.resource} ${e.resourceName}: ${e.part} ${e.name}: ${e.message}`);
    const why = { reason: INVALID, message };
    if (e.part === "route" || e.part === "virtualHost") {
      for (const key of routeKeysOf(e.sources)) mark(marks.routes, key, gatewayOf(e.resourceName), why);
    } else if (e.part === "tlsChain") {
      tlsChains.push({ name: e.name, why });
    } else if (e.part !== "endpoint") {
      // A whole listener, cluster or secret left out: shown as a refusal of that resource would be.
      refusals.push({ resource: e.resource, name: e.resourceName, message, reason: INVALID });
    }
  }
  const markTable = (table: string, message: Mark) => {
    for (const vh of model.routeTables.find((t) => t.name === table)?.virtualHosts ?? [])
      for (const route of vh.routes)
        for (const key of routeKeys(route)) mark(marks.routes, key, gatewayOf(table), message);
  };
  const markPortListeners = (portName: string, message: Mark, chain?: string) => {
    const port = model.ports.find((p) => p.name === portName);
    if (port === undefined) return;
    const gateway = gatewayOf(port.name);
    const names =
      chain === undefined ? listenersOnPort(view, gateway, port.port) : [chain.split("/").slice(2).join("/")];
    for (const listener of names) mark(marks.listeners, gateway, listener, message);
  };
  for (const { name, why } of tlsChains)
    for (const port of model.ports)
      for (const chain of port.tlsChains)
        if (chain.name === name) {
          markPortListeners(port.name, why, chain.name);
          markTable(chain.routeTable, why);
        }
  for (const r of refusals) {
    const message: Mark = { reason: r.reason, message: r.message };
    switch (r.resource) {
      case "listener": {
        markPortListeners(r.name, message);
        const port = model.ports.find((p) => p.name === r.name);
        for (const table of [port?.routeTable, ...(port?.tlsChains.map((c) => c.routeTable) ?? [])])
          if (table !== undefined) markTable(table, message);
        break;
      }
      case "route": {
        markTable(r.name, message);
        for (const port of model.ports) {
          if (port.routeTable === r.name) markPortListeners(port.name, message);
          for (const chain of port.tlsChains)
            if (chain.routeTable === r.name) markPortListeners(port.name, message, chain.name);
        }
        break;
      }
      case "cluster":
      case "endpoints": {
        for (const table of model.routeTables)
          for (const vh of table.virtualHosts)
            for (const route of vh.routes)
              if (usesCluster(route, r.name))
                for (const key of routeKeys(route)) mark(marks.routes, key, gatewayOf(table.name), message);
        break;
      }
      case "secret": {
        for (const port of model.ports)
          for (const chain of port.tlsChains)
            if (chain.certificates.includes(r.name) || chain.clientValidation?.caBundle === r.name)
              markPortListeners(port.name, message, chain.name);
        break;
      }
    }
  }
  return marks;
}

type Conditions = readonly Condition[];

function setCondition(
  conditions: Conditions,
  type: string,
  reason: string,
  message: string,
  now: Date,
  generation: number | undefined,
): Condition[] {
  const stamp = conditionTime(now);
  const condition: Condition = {
    type,
    status: "False",
    reason,
    message,
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    lastTransitionTime: stamp,
  };
  const at = conditions.findIndex((c) => c.type === type);
  return at < 0 ? [...conditions, condition] : conditions.map((c, i) => (i === at ? condition : c));
}

/**
 * The statuses with the rejections and the translation's exclusions applied;
 * unchanged (the same array) when there are none.
 */
export function applyDataPlaneRejections(
  view: ResourceView,
  model: GatewayModel,
  statuses: readonly ObjectStatus[],
  rejections: readonly DataPlaneRejection[],
  now: Date,
  exclusions: readonly Exclusion[] = [],
): readonly ObjectStatus[] {
  if (rejections.length === 0 && exclusions.length === 0) return statuses;
  const marks = collect(view, model, rejections, exclusions);
  return statuses.map((s) => {
    const key = `${s.ref.namespace}/${s.ref.name}`;
    if (s.ref.kind === "Gateway") {
      const listeners = marks.listeners.get(key);
      if (listeners === undefined) return s;
      const generation = view.get("Gateway", s.ref.namespace, s.ref.name)?.metadata.generation;
      const list = (s.status.listeners ?? []) as { name: string; conditions: Conditions }[];
      return {
        ...s,
        status: {
          ...s.status,
          listeners: list.map((l) => {
            const why = listeners.get(l.name);
            if (why === undefined) return l;
            return {
              ...l,
              conditions: setCondition(l.conditions, "Programmed", "Invalid", why.message, now, generation),
            };
          }),
        },
      };
    }
    if (s.ref.kind !== "HTTPRoute" && s.ref.kind !== "GRPCRoute") return s;
    const gateways = marks.routes.get(key);
    if (gateways === undefined) return s;
    const object = view.get(s.ref.kind, s.ref.namespace, s.ref.name);
    const parents = (s.status.parents ?? []) as {
      parentRef: { name: string; namespace?: string; kind?: string };
      conditions: Conditions;
    }[];
    return {
      ...s,
      status: {
        ...s.status,
        parents: parents.map((p) => {
          if ((p.parentRef.kind ?? "Gateway") !== "Gateway") return p;
          const why = gateways.get(`${p.parentRef.namespace ?? s.ref.namespace}/${p.parentRef.name}`);
          if (why === undefined) return p;
          return {
            ...p,
            conditions: setCondition(
              p.conditions,
              ROUTE_PROGRAMMED,
              why.reason,
              why.message,
              now,
              object?.metadata.generation,
            ),
          };
        }),
      },
    };
  });
}
