/**
 * The gateway stage of the pipeline: GatewayClass, Gateway, HTTPRoute and
 * ReferenceGrant objects → the gateway model and the statuses the Gateway API
 * defines. Pure: the clock and the address pool come in as options.
 */
import type { ServiceBackend } from "../model/backend.ts";
import type { CaBundle, Certificate, GatewayModel, GatewayPort, RouteTable } from "../model/gateway.ts";
import type { ObjectStatus } from "../model/status.ts";
import type { ResourceView } from "../resources/view.ts";
import { parseAddressPool } from "./addresses.ts";
import { decideBackendTlsPolicies, type PolicyDecision } from "./backend-tls-policy.ts";
import { backendTlsPolicyStatus } from "./backend-tls-policy-status.ts";
import { buildGatewayState, byAge, type GatewayState } from "./gateway.ts";
import { gatewayService, type OwnedObject } from "./gateway-service.ts";
import { gatewayStatus } from "./gateway-status.ts";
import { CONTROLLER_NAME, decideClasses, gatewayClassStatuses } from "./gatewayclass.ts";
import { type TranslatedHttpRoute, translateHttpRoute } from "./httproute.ts";
import { httpRouteStatus, type ParentResult } from "./httproute-status.ts";
import type { ListenerState } from "./listeners.ts";
import { listenerSetAccepted, listenerSetStatus } from "./listenerset.ts";
import { attach, type ParentRefLike } from "./route-attachment.ts";
import { buildGatewayTables } from "./route-tables.ts";

export { SUPPORTED_FEATURES } from "./features.ts";
export type { OwnedObject } from "./gateway-service.ts";
export { CONTROLLER_NAME } from "./gatewayclass.ts";

export interface GatewayOptions {
  readonly now: Date;
  /** Addresses the infrastructure gives Gateways: IPv4 addresses, ranges `a-b` or CIDRs. */
  readonly addressPool: readonly string[];
  readonly controllerName?: string;
}

export interface GatewayOutput {
  readonly model: GatewayModel;
  readonly statuses: readonly ObjectStatus[];
  /** Kubernetes objects strait creates for its Gateways (the per-Gateway Service). */
  readonly ownedObjects: readonly OwnedObject[];
}

/**
 * A Gateway that presents a client certificate to TLS backends needs its own
 * variant of each TLS backend's cluster (clusters are shared by every
 * Gateway otherwise): `namespace/service:port~namespace/secret`.
 */
function clientCertificateClusters(
  state: GatewayState,
  services: Map<string, ServiceBackend>,
  certificates: Map<string, Certificate>,
): (cluster: string) => string {
  const cert = state.backendClientCertificate;
  if (cert === undefined) return (cluster) => cluster;
  certificates.set(cert.name, {
    name: cert.name,
    certificateChain: cert.material.certificateChain,
    privateKey: cert.material.privateKey,
    sources: [cert.source],
  });
  return (cluster) => {
    const base = services.get(cluster);
    if (base?.tls === undefined) return cluster;
    const name = `${cluster}~${cert.name}`;
    if (!services.has(name))
      services.set(name, { ...base, clusterName: name, tls: { ...base.tls, clientCertificate: cert.name } });
    return name;
  };
}

function ownListeners(
  state: GatewayState | undefined,
): { gateway: GatewayState; listeners: readonly ListenerState[] } | undefined {
  return state === undefined
    ? undefined
    : { gateway: state, listeners: state.listeners.filter((l) => l.owner.kind === "Gateway") };
}

export function translateGateways(view: ResourceView, options: GatewayOptions): GatewayOutput {
  const controllerName = options.controllerName ?? CONTROLLER_NAME;
  const classes = decideClasses(view, controllerName);
  const statuses: ObjectStatus[] = gatewayClassStatuses(view, classes, options.now);
  const { pool } = parseAddressPool(options.addressPool);
  const taken = new Set<string>();
  const gateways = new Map<string, GatewayState>();
  const ours = view
    .list("Gateway")
    .filter((gw) => classes.get(gw.spec.gatewayClassName)?.accepted === true)
    .sort(byAge);
  for (const gw of ours) {
    gateways.set(`${gw.metadata.namespace}/${gw.metadata.name}`, buildGatewayState(view, gw, pool, taken));
  }

  /** Accepted ListenerSets by `namespace/name`, with the Gateway they join. */
  const listenerSetParents = new Map<
    string,
    { gateway: GatewayState; listeners: readonly ListenerState[] }
  >();
  for (const state of gateways.values()) {
    for (const ls of state.listenerSets) {
      if (listenerSetAccepted(ls))
        listenerSetParents.set(`${ls.namespace}/${ls.name}`, { gateway: state, listeners: ls.listeners });
    }
  }
  const policies = decideBackendTlsPolicies(view);
  /** Gateways through which each BackendTLSPolicy is used: its status ancestors. */
  const policyAncestors = new Map<PolicyDecision, Set<GatewayState>>();
  const services = new Map<string, ServiceBackend>();
  for (const route of view.list("HTTPRoute")) {
    const translated: TranslatedHttpRoute = translateHttpRoute(view, route, policies);
    const results: ParentResult[] = [];
    for (const parentRef of (route.spec?.parentRefs ?? []) as ParentRefLike[]) {
      const group = parentRef.group ?? "gateway.networking.k8s.io";
      const kind = parentRef.kind ?? "Gateway";
      if (group !== "gateway.networking.k8s.io" || (kind !== "Gateway" && kind !== "ListenerSet")) continue;
      const key = `${parentRef.namespace ?? translated.namespace}/${parentRef.name}`;
      // A Gateway parent offers its own listeners; a ListenerSet parent, the ListenerSet's.
      const parent = kind === "Gateway" ? ownListeners(gateways.get(key)) : listenerSetParents.get(key);
      if (parent === undefined) continue; // not a parent of ours: its controller writes this parent's status
      const state = parent.gateway;
      const attachment = attach(
        view,
        { kind: "HTTPRoute", namespace: translated.namespace, hostnames: translated.hostnames },
        parentRef,
        parent.listeners,
      );
      const usable = attachment.ok && translated.rules.length > 0;
      if (attachment.ok && usable) {
        for (const a of attachment.attachments) {
          a.listener.attachedRoutes++;
          state.routes.push({ route: translated, attachment: a });
        }
        for (const s of translated.services) services.set(s.clusterName, s);
        for (const p of translated.policies) {
          const set = policyAncestors.get(p) ?? new Set();
          set.add(state);
          policyAncestors.set(p, set);
        }
      }
      results.push({ parentRef, attachment });
    }
    const status = httpRouteStatus(route, translated, results, controllerName, options.now);
    if (status !== undefined) statuses.push(status);
  }

  const ports: GatewayPort[] = [];
  const routeTables: RouteTable[] = [];
  const certificates = new Map<string, Certificate>();
  const caBundles = new Map<string, CaBundle>();
  for (const state of gateways.values()) {
    statuses.push(gatewayStatus(state, options.now));
    for (const ls of state.listenerSets) statuses.push(listenerSetStatus(ls, options.now));
    if (state.address === undefined) continue;
    const built = buildGatewayTables({
      namespace: state.namespace,
      name: state.name,
      ref: {
        group: "gateway.networking.k8s.io",
        kind: "Gateway",
        namespace: state.namespace,
        name: state.name,
      },
      address: state.address,
      listeners: state.listeners,
      routes: state.routes,
      clusterFor: clientCertificateClusters(state, services, certificates),
    });
    ports.push(...built.ports);
    routeTables.push(...built.tables);
    for (const l of state.listeners) {
      if (!l.programmed) continue;
      for (const c of l.certificates) {
        certificates.set(c.name, {
          name: c.name,
          certificateChain: c.material.certificateChain,
          privateKey: c.material.privateKey,
          sources: [c.source],
        });
      }
      if (l.clientValidation !== undefined) {
        caBundles.set(l.clientValidation.caBundle, {
          name: l.clientValidation.caBundle,
          certificates: l.clientValidation.pem,
          sources: [l.clientValidation.source],
        });
      }
    }
  }
  for (const decision of policies.decisions) {
    // A conflicted policy applies nowhere, but reports on the same Gateways as the policy that won.
    const users = policyAncestors.get(decision.conflictsWith ?? decision);
    if (decision.conflictsWith !== undefined && users !== undefined) policyAncestors.set(decision, users);
    if (decision.caBundle !== undefined && policyAncestors.has(decision))
      caBundles.set(decision.caBundle.name, decision.caBundle);
    const status = backendTlsPolicyStatus(
      decision,
      [...(policyAncestors.get(decision) ?? [])],
      controllerName,
      options.now,
    );
    if (status !== undefined) statuses.push(status);
  }
  const sortByName = <T extends { name: string }>(list: T[]): T[] =>
    list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    model: {
      ports: sortByName(ports),
      routeTables: sortByName(routeTables),
      certificates: sortByName([...certificates.values()]),
      caBundles: sortByName([...caBundles.values()]),
      backends: [...services.values()].sort((a, b) => (a.clusterName < b.clusterName ? -1 : 1)),
    },
    statuses,
    ownedObjects: [...gateways.values()].map(gatewayService),
  };
}
