/**
 * The xDS translation stage: the model → Envoy resources (proto3 JSON), one
 * function per resource type. Pure: same model, same resources.
 */
import type { ServiceBackend } from "../../model/backend.ts";
import type { Exclusion } from "../../model/exclusion.ts";
import type { GatewayModel } from "../../model/gateway.ts";
import { MESH_LISTENER_NAME } from "../../model/mesh-service.ts";
import type { ResourceRef } from "../../model/resource-ref.ts";
import { TYPE_URLS } from "../proto/envoy-protos.ts";
import { buildCluster } from "./cluster.ts";
import { buildClusterLoadAssignment } from "./cluster-load-assignment.ts";
import { buildListener } from "./listener.ts";
import { buildMeshListener } from "./mesh-listener.ts";
import { type EnvoyResourceJson, type EnvoyResourceSet, emptyResourceSet } from "./resource-set.ts";
import { buildRouteConfiguration } from "./route-configuration.ts";
import { buildCaBundleSecret, buildCertificateSecret } from "./secret.ts";
import { PART_TYPES, PartChecker, resourceEncodes } from "./strict-check.ts";

export {
  type EnvoyResourceJson,
  type EnvoyResourceSet,
  emptyResourceSet,
  TYPE_ORDER,
} from "./resource-set.ts";

interface Built {
  readonly resources: readonly (EnvoyResourceJson | undefined)[];
  readonly excluded: readonly Exclusion[];
}

/**
 * Envoy resources already built for model elements, reused while the model
 * element is the same object (the gateway stage reuses unchanged ones).
 */
export class XdsCache {
  readonly #built = new WeakMap<object, Built>();
  /** The clusters and load assignments of the last backends list, reused while it is the same array. */
  backends:
    | {
        readonly list: readonly object[];
        readonly clusters: ReadonlyMap<string, EnvoyResourceJson>;
        readonly assignments: ReadonlyMap<string, EnvoyResourceJson>;
        readonly excluded: readonly Exclusion[];
      }
    | undefined;

  get<T extends object>(element: T, build: (element: T) => Built): Built {
    let built = this.#built.get(element);
    if (built === undefined) {
      built = build(element);
      this.#built.set(element, built);
    }
    return built;
  }
}

/** The Envoy resources, and the parts left out of them because they do not encode (see strict-check.ts). */
export interface GatewayTranslation {
  readonly resources: EnvoyResourceSet;
  readonly excluded: readonly Exclusion[];
}

function builtBackend(backend: ServiceBackend): Built {
  const checker = new PartChecker("cluster", backend.clusterName);
  const cluster = buildCluster(backend);
  if (
    !resourceEncodes(TYPE_URLS.cluster, cluster) &&
    !checker.accept("cluster", PART_TYPES.cluster, backend.clusterName, cluster, backend.sources)
  )
    return { resources: [], excluded: checker.excluded };
  const cla = buildClusterLoadAssignment(backend);
  return { resources: [cluster, cla.json], excluded: cla.excluded };
}

function builtSecret(json: EnvoyResourceJson, sources: readonly ResourceRef[]): Built {
  const name = String(json.name);
  const checker = new PartChecker("secret", name);
  const ok =
    resourceEncodes(TYPE_URLS.secret, json) ||
    checker.accept("secret", PART_TYPES.secret, name, json, sources);
  return { resources: ok ? [json] : [], excluded: checker.excluded };
}

/**
 * The model → Envoy resources. Each part (route, virtual host, endpoint, TLS
 * chain, cluster, listener, secret) is checked on its own before it is
 * assembled: one that does not encode is left out and reported, everything
 * else is served, so a shared RouteConfiguration or Listener is never
 * withheld for one object's sake.
 */
export function translateGateway(model: GatewayModel, cache: XdsCache = new XdsCache()): GatewayTranslation {
  const set = emptyResourceSet();
  const excluded: Exclusion[] = [];
  const put = (typeUrl: keyof typeof set, built: Built, name: string) => {
    excluded.push(...built.excluded);
    const json = built.resources[0];
    if (json !== undefined) (set[typeUrl] as Map<string, EnvoyResourceJson>).set(name, json);
  };
  for (const port of model.ports) {
    put(
      TYPE_URLS.listener,
      cache.get(port, (p) => {
        const { json, excluded } = buildListener(p);
        return { resources: [json], excluded };
      }),
      port.name,
    );
  }
  put(
    TYPE_URLS.listener,
    cache.get(model.mesh, (mesh) => {
      const { json, excluded } = buildMeshListener(mesh);
      return { resources: [json], excluded };
    }),
    MESH_LISTENER_NAME,
  );
  for (const table of model.routeTables) {
    put(
      TYPE_URLS.routeConfiguration,
      cache.get(table, (t) => {
        const { json, excluded } = buildRouteConfiguration(t);
        return { resources: [json], excluded };
      }),
      table.name,
    );
  }
  if (cache.backends?.list !== model.backends) {
    // Thousands of backends: the maps are rebuilt only when the list changed (elements are still reused).
    const clusters = new Map<string, EnvoyResourceJson>();
    const assignments = new Map<string, EnvoyResourceJson>();
    const left: Exclusion[] = [];
    for (const backend of model.backends) {
      const built = cache.get(backend, builtBackend);
      left.push(...built.excluded);
      const [cluster, cla] = built.resources;
      if (cluster === undefined || cla === undefined) continue;
      clusters.set(backend.clusterName, cluster);
      assignments.set(backend.clusterName, cla);
    }
    cache.backends = { list: model.backends, clusters, assignments, excluded: left };
  }
  excluded.push(...cache.backends.excluded);

  for (const cert of model.certificates)
    put(TYPE_URLS.secret, builtSecret(buildCertificateSecret(cert), cert.sources), cert.name);
  for (const bundle of model.caBundles) {
    const json = buildCaBundleSecret(bundle);
    put(TYPE_URLS.secret, builtSecret(json, bundle.sources), String(json.name));
  }
  return {
    resources: {
      ...set,
      [TYPE_URLS.cluster]: cache.backends.clusters,
      [TYPE_URLS.clusterLoadAssignment]: cache.backends.assignments,
    },
    excluded,
  };
}

/** The resources only (what `strait translate` prints); see translateGateway for the parts left out. */
export function translateGatewayModel(model: GatewayModel, cache?: XdsCache): EnvoyResourceSet {
  return translateGateway(model, cache).resources;
}
