/**
 * The gateway stage of the pipeline: GatewayClass, Gateway, HTTPRoute,
 * TLSRoute and ReferenceGrant objects → the gateway model and the statuses
 * the Gateway API defines. Pure: the clock and the address pool come in as
 * options.
 */
import type { ServiceBackend } from "../model/backend.ts";
import type { CaBundle, Certificate, GatewayModel, GatewayPort, RouteTable } from "../model/gateway.ts";
import type { ObjectStatus } from "../model/status.ts";
import type { ObjectOf } from "../resources/objects.ts";
import type { ResourceView } from "../resources/view.ts";
import { parseAddressPool } from "./addresses.ts";
import {
  type BackendTlsPolicies,
  decideBackendTlsPolicies,
  type PolicyDecision,
} from "./backend-tls-policy.ts";
import { backendTlsPolicyStatus } from "./backend-tls-policy-status.ts";
import { buildGatewayState, type GatewayState } from "./gateway.ts";
import { gatewayService, type OwnedObject } from "./gateway-service.ts";
import { gatewayStatus } from "./gateway-status.ts";
import { CONTROLLER_NAME, decideClasses, gatewayClassStatuses } from "./gatewayclass.ts";
import { translateGrpcRoute } from "./grpcroute.ts";
import { type TranslatedHttpRoute, translateHttpRoute } from "./httproute.ts";
import { type ParentResult, routeStatus } from "./httproute-status.ts";
import { type IngressOutput, ingressPreviousAddresses, translateIngresses } from "./ingress.ts";
import type { ListenerState } from "./listeners.ts";
import { listenerSetAccepted, listenerSetStatus } from "./listenerset.ts";
import { buildMesh, type MeshOutput, meshConflictResults, meshRoutesByPort } from "./mesh.ts";
import { type MeshAttachment, meshParents } from "./mesh-parents.ts";
import { byAge } from "./object-order.ts";
import { unplacedPolicies, withoutPolicies } from "./policy-ancestors.ts";
import { type AttachmentResult, attach, type ParentRefLike } from "./route-attachment.ts";
import { kindConflicts } from "./route-kind-conflicts.ts";
import { buildGatewayTables } from "./route-tables.ts";
import { sameServiceBackend } from "./service-backends.ts";
import { type TranslatedTlsRoute, translateTlsRoute } from "./tlsroute.ts";
import { type Memo, memoize, RefCountedUnion, reuseSigned, type SignedEntry } from "./translation-cache.ts";

/** A translated route whose backends become clusters while it is attached somewhere. */
type BackendContributor = { readonly services: readonly ServiceBackend[] };

export { SUPPORTED_FEATURES } from "./features.ts";
export type { OwnedObject } from "./gateway-service.ts";
export { CONTROLLER_NAME } from "./gatewayclass.ts";

/** Results kept between passes for incremental translation (see translation-cache.ts). */
export class GatewayCache {
  readonly routes = new WeakMap<object, Memo<TranslatedHttpRoute>>();
  readonly tlsRoutes = new WeakMap<object, Memo<TranslatedTlsRoute>>();
  readonly policies = new Map<string, Memo<BackendTlsPolicies>>();
  readonly tables = new Map<
    string,
    SignedEntry<{ ports: GatewayPort[]; tables: RouteTable[]; variants: ServiceBackend[] }>
  >();
  readonly attachments = new WeakMap<object, AttachEntry>();
  readonly parentKeys = new WeakMap<object, readonly ParentKey[]>();
  mesh:
    | {
        readonly signature: readonly unknown[];
        readonly output: MeshOutput;
        readonly contributor: BackendContributor;
      }
    | undefined;
  readonly backends = new RefCountedUnion<BackendContributor, ServiceBackend>(
    (b) => b.clusterName,
    (route) => route.services,
    sameServiceBackend,
  );
}

/**
 * The mesh model of the last pass, kept while what it was built from is the
 * same (the Services, EndpointSlices and Pods by their revisions, the mesh
 * routes' translations and attachments by identity): it names every
 * ClusterIP Service port, and the same objects let the xDS stage reuse the
 * mesh listener it encoded.
 */
function reuseMesh(
  cache: GatewayCache,
  view: ResourceView,
  attachments: readonly MeshAttachment[],
): { readonly output: MeshOutput; readonly contributor: BackendContributor } {
  const signature: unknown[] = [
    view.revision?.("Service"),
    view,
    view.revision?.("EndpointSlice"),
    view.revision?.("Pod"),
  ];
  for (const a of attachments)
    signature.push(
      a.route,
      a.service.namespace,
      a.service.name,
      a.service.address,
      a.ports.join(","),
      a.consumer,
    );
  const last = cache.mesh;
  if (
    last !== undefined &&
    signature[0] !== undefined &&
    last.signature.length === signature.length &&
    last.signature.every((x, i) => x === signature[i])
  )
    return last;
  const output = buildMesh(view, attachments);
  const entry = { signature, output, contributor: { services: output.backends } };
  cache.mesh = entry;
  return entry;
}

export interface GatewayOptions {
  readonly now: Date;
  /** Keep one across passes to translate incrementally. */
  readonly cache?: GatewayCache;
  /** Addresses the infrastructure gives Gateways: IPv4 addresses, ranges `a-b` or CIDRs. */
  readonly addressPool: readonly string[];
  /**
   * Addresses Gateways were given before, by `namespace/name` (the last
   * pass's `addresses`): allocation is an input, so a Gateway keeps its
   * address without the stage reading its own earlier status.
   */
  readonly addresses?: ReadonlyMap<string, string>;
  readonly controllerName?: string;
}

export interface GatewayOutput {
  readonly model: GatewayModel;
  readonly statuses: readonly ObjectStatus[];
  /** Kubernetes objects strait creates for its Gateways (the per-Gateway Service). */
  readonly ownedObjects: readonly OwnedObject[];
  /** Per Ingress, what could not be served and why (the controller logs it). */
  readonly ingressProblems: IngressOutput["problems"];
  /** The address of each Gateway that has one, by `namespace/name`: the next pass's `addresses`. */
  readonly addresses: ReadonlyMap<string, string>;
}

/**
 * A Gateway that presents a client certificate to TLS backends needs its own
 * variant of each TLS backend's cluster (clusters are shared by every
 * Gateway otherwise): `namespace/service:port~namespace/secret`.
 */
function clientCertificateClusters(
  state: GatewayState,
  services: { get(cluster: string): ServiceBackend | undefined },
  variants: Map<string, ServiceBackend>,
): (cluster: string) => string {
  const cert = state.backendClientCertificate;
  if (cert === undefined) return (cluster) => cluster;
  return (cluster) => {
    const base = services.get(cluster);
    if (base?.tls === undefined) return cluster;
    const name = `${cluster}~${cert.name}`;
    if (!variants.has(name))
      variants.set(name, { ...base, clusterName: name, tls: { ...base.tls, clientCertificate: cert.name } });
    return name;
  };
}

/**
 * What a Gateway's route tables depend on besides its attached routes: its
 * address, client certificate and listeners. The routes themselves are
 * compared by identity (see tablesIdentities).
 */
function tablesSignature(state: GatewayState, unplaced: ReadonlySet<string> | undefined): string {
  return JSON.stringify({
    unplaced: unplaced === undefined ? [] : [...unplaced].sort(),
    address: state.address,
    clientCert: state.backendClientCertificate?.name,
    listeners: state.listeners.map((l) => [
      l.owner.kind,
      l.owner.namespace,
      l.owner.name,
      l.name,
      l.port,
      l.protocol,
      l.hostname,
      l.tlsMode,
      l.programmed,
      l.certificates.map((c) => c.name),
      l.clientValidation?.caBundle,
      l.clientValidation?.optional,
    ]),
  });
}

/**
 * The attached routes of a Gateway, flattened for an identity comparison:
 * each route's translation, the position of the listener it attached to, and
 * its hostnames array (kept across passes by the attachment cache).
 */
function tablesIdentities(state: GatewayState): unknown[] {
  const index = new Map(state.listeners.map((l, i) => [l, i]));
  const out: unknown[] = [];
  for (const r of state.routes) out.push(r.route, index.get(r.attachment.listener), r.attachment.hostnames);
  out.push("tls");
  for (const r of state.tlsRoutes)
    out.push(r.route, index.get(r.attachment.listener), r.attachment.hostnames.join(","));
  return out;
}

type ParentListeners = {
  readonly gateway: GatewayState;
  readonly listeners: readonly ListenerState[];
  readonly signature: string;
  /**
   * Set when strait rejected this parent (a Gateway or ListenerSet that is
   * not accepted): routes naming it get Accepted=False with this message.
   */
  readonly rejected?: string;
};

/** What route attachment depends on in a set of listeners. */
function listenersSignature(listeners: readonly ListenerState[]): string {
  return JSON.stringify(
    listeners.map((l) => [
      l.owner.kind,
      l.owner.name,
      l.name,
      l.port,
      l.hostname,
      l.accepted,
      l.supportedKinds.map((k) => k.kind),
      l.namespaces,
    ]),
  );
}

type CachedResult =
  | {
      readonly ok: true;
      readonly attachments: readonly { readonly listener: number; readonly hostnames: readonly string[] }[];
    }
  | { readonly ok: false };

/** A parentRef of a route that names a Gateway or a ListenerSet, with its `namespace/name` key. */
interface ParentKey {
  readonly parentRef: ParentRefLike;
  readonly kind: "Gateway" | "ListenerSet";
  readonly key: string;
}

/** The route's Gateway API parentRefs, kept per route object so the keys are built once. */
function parentKeysOf(
  cache: GatewayCache,
  route: ObjectOf<"HTTPRoute"> | ObjectOf<"GRPCRoute"> | ObjectOf<"TLSRoute">,
): readonly ParentKey[] {
  const known = cache.parentKeys.get(route);
  if (known !== undefined) return known;
  const namespace = route.metadata.namespace ?? "";
  const keys: ParentKey[] = [];
  for (const parentRef of (route.spec?.parentRefs ?? []) as ParentRefLike[]) {
    const group = parentRef.group ?? "gateway.networking.k8s.io";
    const kind = parentRef.kind ?? "Gateway";
    if (group !== "gateway.networking.k8s.io" || (kind !== "Gateway" && kind !== "ListenerSet")) continue;
    keys.push({ parentRef, kind, key: `${parentRef.namespace ?? namespace}/${parentRef.name}` });
  }
  cache.parentKeys.set(route, keys);
  return keys;
}

interface Parents {
  readonly gateways: ReadonlyMap<string, ParentListeners>;
  readonly listenerSets: ReadonlyMap<string, ParentListeners>;
}

/** A Gateway parent offers its own listeners; a ListenerSet parent, the ListenerSet's. */
function parentOf(parents: Parents, ref: ParentKey): ParentListeners | undefined {
  return ref.kind === "Gateway" ? parents.gateways.get(ref.key) : parents.listenerSets.get(ref.key);
}

interface AttachEntry {
  readonly translated: TranslatedHttpRoute;
  /** Per parent key: the signature of its listeners then, or undefined when it was not ours. */
  readonly signatures: readonly (string | undefined)[];
  readonly namespaceRevision: number;
  /** Per result: the parent key it is for (parents that are not ours have no result). */
  readonly resultKeys: readonly ParentKey[];
  readonly results: readonly CachedResult[];
  /** The results as the status reports them (a GAMMA route's status adds its Service parents). */
  readonly parentResults: readonly ParentResult[];
  readonly status: ObjectStatus | undefined;
}

/**
 * Attaches a route to its parents and builds its status, reusing the last
 * result while the route, its translation and its parents' listeners are
 * unchanged (checked without allocating: this runs for every route on every
 * pass). Attachments are kept as listener positions, so they bind to this
 * pass's listener objects.
 */
function attachRoute(
  cache: GatewayCache,
  view: ResourceView,
  route: ObjectOf<"HTTPRoute"> | ObjectOf<"GRPCRoute">,
  translated: TranslatedHttpRoute,
  parents: Parents,
  namespaceRevision: number,
  controllerName: string,
  now: Date,
): AttachEntry {
  const keys = parentKeysOf(cache, route);
  const hit = cache.attachments.get(route);
  if (
    hit !== undefined &&
    hit.translated === translated &&
    hit.namespaceRevision === namespaceRevision &&
    keys.every((k, i) => parentOf(parents, k)?.signature === hit.signatures[i])
  ) {
    return hit;
  }
  const ours: { ref: ParentKey; parent: ParentListeners }[] = [];
  for (const ref of keys) {
    const parent = parentOf(parents, ref);
    // A parent that is not ours: its controller writes that parent's status.
    if (parent !== undefined) ours.push({ ref, parent });
  }
  const results: ParentResult[] = ours.map(({ ref, parent }) => ({
    parentRef: ref.parentRef,
    attachment:
      parent.rejected !== undefined
        ? { ok: false, reason: "NotAllowedByListeners", message: parent.rejected }
        : attach(
            view,
            { kind: translated.ref.kind, namespace: translated.namespace, hostnames: translated.hostnames },
            ref.parentRef,
            parent.listeners,
          ),
  }));
  const entry: AttachEntry = {
    translated,
    signatures: keys.map((k) => parentOf(parents, k)?.signature),
    namespaceRevision,
    resultKeys: ours.map((o) => o.ref),
    results: results.map((r, i) =>
      r.attachment.ok
        ? {
            ok: true,
            attachments: r.attachment.attachments.map((a) => ({
              listener: ours[i]?.parent.listeners.indexOf(a.listener) ?? -1,
              hostnames: a.hostnames,
            })),
          }
        : { ok: false },
    ),
    parentResults: results,
    status: routeStatus(route, translated, results, controllerName, now),
  };
  cache.attachments.set(route, entry);
  return entry;
}

/**
 * HTTPRoute against GRPCRoute (route-kind-conflicts.ts): the losing route
 * leaves the listeners where it lost, and its status is rebuilt with
 * Accepted=False for a parent where it is attached nowhere else.
 */
function resolveKindConflicts(
  view: ResourceView,
  cache: GatewayCache,
  states: Iterable<GatewayState>,
  parents: Parents,
  objects: ReadonlyMap<TranslatedHttpRoute, ObjectOf<"HTTPRoute"> | ObjectOf<"GRPCRoute">>,
  meshResults: ReadonlyMap<TranslatedHttpRoute, readonly ParentResult[]>,
  statuses: ObjectStatus[],
  controllerName: string,
  now: Date,
): void {
  const lost = new Map<TranslatedHttpRoute, { listeners: Set<ListenerState>; winner: TranslatedHttpRoute }>();
  for (const state of states) {
    const losers = kindConflicts(state.routes);
    if (losers.size === 0) continue;
    for (const [route, c] of losers) {
      const entry = lost.get(route) ?? { listeners: new Set<ListenerState>(), winner: c.winner };
      for (const l of c.listeners) entry.listeners.add(l);
      lost.set(route, entry);
    }
    state.routes = state.routes.filter((r) => {
      const loses = losers.get(r.route)?.listeners.has(r.attachment.listener) === true;
      if (loses) r.attachment.listener.attachedRoutes--;
      return !loses;
    });
  }
  for (const [loser, conflict] of lost) {
    const route = objects.get(loser);
    if (route === undefined) continue;
    const results: ParentResult[] = [];
    for (const ref of parentKeysOf(cache, route)) {
      const parent = parentOf(parents, ref);
      if (parent === undefined) continue;
      const a = attach(
        view,
        { kind: loser.ref.kind, namespace: loser.namespace, hostnames: loser.hostnames },
        ref.parentRef,
        parent.listeners,
      );
      const kept = a.ok ? a.attachments.filter((x) => !conflict.listeners.has(x.listener)) : [];
      results.push({
        parentRef: ref.parentRef,
        attachment:
          !a.ok || kept.length > 0
            ? a.ok
              ? { ok: true, attachments: kept }
              : a
            : {
                ok: false,
                reason: "NotAllowedByListeners",
                message: `${conflict.winner.ref.kind} ${conflict.winner.namespace}/${conflict.winner.name} is older and serves the same hostnames on the listener; HTTPRoutes and GRPCRoutes do not share hostnames on one listener`,
              },
      });
    }
    // Its Service parents (GAMMA) are not listeners: the conflict does not touch them.
    results.push(...(meshResults.get(loser) ?? []));
    const status = routeStatus(route, loser, results, controllerName, now);
    const at = statuses.findIndex(
      (s) =>
        s.ref.kind === loser.ref.kind && s.ref.namespace === loser.namespace && s.ref.name === loser.name,
    );
    if (status !== undefined && at >= 0) statuses[at] = status;
  }
}

/**
 * Attaches a TLSRoute to its parents (each attachment recorded on the
 * parent's Gateway) and returns the per-parent results its status reports.
 */
function attachTlsRoute(
  view: ResourceView,
  cache: GatewayCache,
  route: ObjectOf<"TLSRoute">,
  translated: TranslatedTlsRoute,
  parents: Parents,
  contributors: Set<BackendContributor>,
): ParentResult[] {
  const results: ParentResult[] = [];
  for (const ref of parentKeysOf(cache, route)) {
    const parent = parentOf(parents, ref);
    if (parent === undefined) continue;
    const attachment: AttachmentResult =
      parent.rejected !== undefined
        ? { ok: false, reason: "NotAllowedByListeners", message: parent.rejected }
        : attach(
            view,
            { kind: "TLSRoute", namespace: translated.namespace, hostnames: translated.hostnames },
            ref.parentRef,
            parent.listeners,
          );
    results.push({ parentRef: ref.parentRef, attachment });
    if (!attachment.ok || translated.rules.length === 0) continue;
    for (const a of attachment.attachments) {
      a.listener.attachedRoutes++;
      parent.gateway.tlsRoutes.push({ route: translated, attachment: a });
    }
    contributors.add(translated);
  }
  return results;
}

function parentListeners(
  gateway: GatewayState,
  listeners: readonly ListenerState[],
  rejected?: string,
): ParentListeners {
  if (rejected !== undefined) return { gateway, listeners: [], signature: `rejected:${rejected}`, rejected };
  return { gateway, listeners, signature: listenersSignature(listeners) };
}

/** Why routes cannot attach to a ListenerSet strait rejected, or undefined when it is accepted. */
function listenerSetRejection(
  state: GatewayState,
  ls: GatewayState["listenerSets"][number],
): string | undefined {
  if (listenerSetAccepted(ls)) return undefined;
  const where = `ListenerSet ${ls.namespace}/${ls.name} is not accepted by Gateway ${state.namespace}/${state.name}`;
  return ls.allowed
    ? `${where}: none of its listeners is valid`
    : `${where}: ${ls.notAllowed ?? "not allowed"}`;
}

export function translateGateways(view: ResourceView, options: GatewayOptions): GatewayOutput {
  const controllerName = options.controllerName ?? CONTROLLER_NAME;
  const classes = decideClasses(view, controllerName);
  const statuses: ObjectStatus[] = gatewayClassStatuses(view, classes, options.now);
  const { pool } = parseAddressPool(options.addressPool);
  const taken = new Set<string>();
  // Addresses Ingresses already have stay theirs: a new Gateway must not take one.
  const ingressAddresses = ingressPreviousAddresses(view);
  for (const a of ingressAddresses) taken.add(a);
  const gateways = new Map<string, GatewayState>();
  const ours = view
    .list("Gateway")
    .filter((gw) => classes.get(gw.spec.gatewayClassName)?.accepted === true)
    .sort(byAge);
  for (const gw of ours) {
    const key = `${gw.metadata.namespace}/${gw.metadata.name}`;
    gateways.set(key, buildGatewayState(view, gw, pool, taken, options.addresses?.get(key)));
  }

  /** Accepted ListenerSets by `namespace/name`, with the Gateway they join. */
  const gatewayParents = new Map<string, ParentListeners>();
  for (const [key, state] of gateways)
    gatewayParents.set(
      key,
      parentListeners(
        state,
        state.listeners.filter((l) => l.owner.kind === "Gateway"),
        state.accepted.status === "True"
          ? undefined
          : `Gateway ${key} is not accepted: ${state.accepted.message}`,
      ),
    );
  // Every ListenerSet that names one of our Gateways is ours, accepted or not: a route naming a
  // rejected one gets Accepted=False rather than no status at all.
  const listenerSetParents = new Map<string, ParentListeners>();
  for (const state of gateways.values()) {
    for (const ls of state.listenerSets) {
      listenerSetParents.set(
        `${ls.namespace}/${ls.name}`,
        parentListeners(state, ls.listeners, listenerSetRejection(state, ls)),
      );
    }
  }
  const parents: Parents = { gateways: gatewayParents, listenerSets: listenerSetParents };
  const cache = options.cache ?? new GatewayCache();
  const policies = memoize(cache.policies, "policies", view, [], (v) => decideBackendTlsPolicies(v));
  /** Gateways through which each BackendTLSPolicy is used: its status ancestors. */
  const policyAncestors = new Map<PolicyDecision, Set<GatewayState>>();
  /** Routes that are attached somewhere: their backends become clusters. */
  const contributors = new Set<BackendContributor>();
  const namespaceRevision = view.revision?.("Namespace") ?? Number.NaN;
  const httpFamily = [
    ...view.list("HTTPRoute").map((route) => ({ kind: "HTTPRoute" as const, route })),
    ...view.list("GRPCRoute").map((route) => ({ kind: "GRPCRoute" as const, route })),
  ];
  /** HTTPRoutes and GRPCRoutes attached to Services (GAMMA). */
  const meshAttachments: MeshAttachment[] = [];
  /** Their Service parents' results, for statuses rebuilt after kind conflicts. */
  const meshResults = new Map<TranslatedHttpRoute, readonly ParentResult[]>();
  /** Their Gateway parents' results, for statuses rebuilt after mesh route-type conflicts. */
  const meshGatewayResults = new Map<TranslatedHttpRoute, readonly ParentResult[]>();
  /** The object of each translated HTTPRoute or GRPCRoute, for statuses rebuilt after kind conflicts. */
  const objects = new Map<TranslatedHttpRoute, ObjectOf<"HTTPRoute"> | ObjectOf<"GRPCRoute">>();
  for (const { kind, route } of httpFamily) {
    // Keyed by the route's spec identity: the controller's own status writes do not re-translate it.
    const specKey =
      (kind === "HTTPRoute"
        ? view.specIdentity?.("HTTPRoute", route as ObjectOf<"HTTPRoute">)
        : view.specIdentity?.("GRPCRoute", route as ObjectOf<"GRPCRoute">)) ?? route;
    const translated: TranslatedHttpRoute = memoize(cache.routes, specKey, view, [policies], (v) =>
      kind === "HTTPRoute"
        ? translateHttpRoute(v, route as ObjectOf<"HTTPRoute">, policies)
        : translateGrpcRoute(v, route as ObjectOf<"GRPCRoute">, policies),
    );
    const attached = attachRoute(
      cache,
      view,
      route,
      translated,
      parents,
      namespaceRevision,
      controllerName,
      options.now,
    );
    for (let i = 0; i < attached.results.length; i++) {
      const result = attached.results[i];
      const key = attached.resultKeys[i];
      const parent = key === undefined ? undefined : parentOf(parents, key);
      if (result === undefined || parent === undefined || !result.ok || translated.rules.length === 0)
        continue;
      const state = parent.gateway;
      for (const a of result.attachments) {
        const listener = parent.listeners[a.listener];
        if (listener === undefined) continue;
        listener.attachedRoutes++;
        state.routes.push({ route: translated, attachment: { listener, hostnames: a.hostnames } });
      }
      contributors.add(translated);
      for (const p of translated.policies) {
        const set = policyAncestors.get(p) ?? new Set();
        set.add(state);
        policyAncestors.set(p, set);
      }
    }
    let status = attached.status;
    const mesh = meshParents(view, (route.spec?.parentRefs ?? []) as ParentRefLike[], translated);
    if (mesh.results.length > 0) {
      // GAMMA routes are few: their status is rebuilt each pass, with the Service parents after the Gateways.
      status = routeStatus(
        route,
        translated,
        [...attached.parentResults, ...mesh.results],
        controllerName,
        options.now,
      );
      meshAttachments.push(...mesh.attachments);
      meshResults.set(translated, mesh.results);
      meshGatewayResults.set(translated, attached.parentResults);
      if (mesh.attachments.length > 0) contributors.add(translated);
    }
    if (status !== undefined) statuses.push(status);
    objects.set(translated, route);
  }
  // An HTTPRoute that lost Service ports to a GRPCRoute (mesh.ts): its Service parents' results again.
  for (const [loser, conflict] of meshRoutesByPort(meshAttachments).conflicts) {
    const route = objects.get(loser);
    const results = meshResults.get(loser);
    if (route === undefined || results === undefined) continue;
    const rebuilt = meshConflictResults(
      results,
      meshAttachments.filter((a) => a.route === loser),
      conflict,
    );
    meshResults.set(loser, rebuilt);
    const status = routeStatus(
      route,
      loser,
      [...(meshGatewayResults.get(loser) ?? []), ...rebuilt],
      controllerName,
      options.now,
    );
    const at = statuses.findIndex(
      (s) =>
        s.ref.kind === loser.ref.kind && s.ref.namespace === loser.namespace && s.ref.name === loser.name,
    );
    if (status !== undefined && at >= 0) statuses[at] = status;
  }
  resolveKindConflicts(
    view,
    cache,
    gateways.values(),
    parents,
    objects,
    meshResults,
    statuses,
    controllerName,
    options.now,
  );
  for (const route of view.list("TLSRoute")) {
    const specKey = view.specIdentity?.("TLSRoute", route) ?? route;
    const translated = memoize(cache.tlsRoutes, specKey, view, [], (v) => translateTlsRoute(v, route));
    const status = attachTlsRoute(view, cache, route, translated, parents, contributors);
    const built = routeStatus(route, translated, status, controllerName, options.now);
    if (built !== undefined) statuses.push(built);
  }

  const mesh = reuseMesh(cache, view, meshAttachments);
  contributors.add(mesh.contributor);

  for (const a of ingressAddresses) taken.delete(a);
  const ingress = translateIngresses(view, pool, taken);
  for (const r of ingress.routes) contributors.add(r);
  statuses.push(...ingress.statuses);
  const routeBackends = cache.backends.update(contributors);
  const unplaced = unplacedPolicies(policies, policyAncestors, controllerName);
  /** Client-certificate variants of TLS backends (few): added to the backends below. */
  const variants = new Map<string, ServiceBackend>();
  const ports: GatewayPort[] = [];
  const routeTables: RouteTable[] = [...mesh.output.routeTables];
  const certificates = new Map<string, Certificate>();
  const caBundles = new Map<string, CaBundle>();
  for (const state of gateways.values()) {
    statuses.push(gatewayStatus(state, options.now, [...(unplaced.get(state) ?? [])].sort()));
    for (const ls of state.listenerSets) statuses.push(listenerSetStatus(ls, options.now));
    const address = state.address;
    if (address === undefined) continue;
    const cert = state.backendClientCertificate;
    if (cert !== undefined) {
      certificates.set(cert.name, {
        name: cert.name,
        certificateChain: cert.material.certificateChain,
        privateKey: cert.material.privateKey,
        sources: [cert.source],
      });
    }
    const built = reuseSigned(
      cache.tables,
      `${state.namespace}/${state.name}`,
      tablesSignature(state, unplaced.get(state)),
      tablesIdentities(state),
      () => {
        const own = new Map<string, ServiceBackend>();
        const tables = buildGatewayTables({
          namespace: state.namespace,
          name: state.name,
          ref: {
            group: "gateway.networking.k8s.io",
            kind: "Gateway",
            namespace: state.namespace,
            name: state.name,
          },
          address,
          listeners: state.listeners,
          routes: state.routes,
          tlsRoutes: state.tlsRoutes,
          clusterFor: withoutPolicies(
            clientCertificateClusters(state, cache.backends, own),
            cache.backends,
            unplaced.get(state),
          ),
        });
        return { ...tables, variants: [...own.values()] };
      },
    );
    for (const v of built.variants) variants.set(v.clusterName, v);
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
  for (const ig of ingress.gateways) {
    if (ig.address === undefined) continue;
    const built = buildGatewayTables({ ...ig, address: ig.address, tlsRoutes: [] });
    ports.push(...built.ports);
    routeTables.push(...built.tables);
    for (const l of ig.listeners) {
      for (const c of l.certificates)
        certificates.set(c.name, {
          name: c.name,
          certificateChain: c.material.certificateChain,
          privateKey: c.material.privateKey,
          sources: [c.source],
        });
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
      // Variants (client-certificate clusters) are few: merged into the shared sorted list only when present.
      backends:
        variants.size === 0
          ? routeBackends
          : [...routeBackends, ...variants.values()].sort((a, b) => (a.clusterName < b.clusterName ? -1 : 1)),
      mesh: mesh.output.mesh,
    },
    statuses,
    ownedObjects: [...gateways.values()].map(gatewayService),
    ingressProblems: ingress.problems,
    addresses: new Map(
      [...gateways].flatMap(([key, state]) =>
        state.address === undefined ? [] : [[key, state.address] as const],
      ),
    ),
  };
}
