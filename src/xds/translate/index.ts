/**
 * The xDS translation stage: the model → Envoy resources (proto3 JSON), one
 * function per resource type. Pure: same model, same resources.
 */
import type { GatewayModel } from "../../model/gateway.ts";
import { TYPE_URLS } from "../proto/envoy-protos.ts";
import { buildCluster } from "./cluster.ts";
import { buildClusterLoadAssignment } from "./cluster-load-assignment.ts";
import { buildListener } from "./listener.ts";
import { type EnvoyResourceJson, type EnvoyResourceSet, emptyResourceSet } from "./resource-set.ts";
import { buildRouteConfiguration } from "./route-configuration.ts";
import { buildCaBundleSecret, buildCertificateSecret } from "./secret.ts";

export {
  type EnvoyResourceJson,
  type EnvoyResourceSet,
  emptyResourceSet,
  TYPE_ORDER,
} from "./resource-set.ts";

/**
 * Envoy resources already built for model elements, reused while the model
 * element is the same object (the gateway stage reuses unchanged ones).
 */
export class XdsCache {
  readonly #built = new WeakMap<object, EnvoyResourceJson[]>();
  /** The clusters and load assignments of the last backends list, reused while it is the same array. */
  backends:
    | {
        readonly list: readonly object[];
        readonly clusters: ReadonlyMap<string, EnvoyResourceJson>;
        readonly assignments: ReadonlyMap<string, EnvoyResourceJson>;
      }
    | undefined;

  get<T extends object>(element: T, build: (element: T) => EnvoyResourceJson[]): EnvoyResourceJson[] {
    let json = this.#built.get(element);
    if (json === undefined) {
      json = build(element);
      this.#built.set(element, json);
    }
    return json;
  }
}

export function translateGatewayModel(
  model: GatewayModel,
  cache: XdsCache = new XdsCache(),
): EnvoyResourceSet {
  const set = emptyResourceSet();
  const put = (typeUrl: keyof typeof set, json: EnvoyResourceJson, name: string) => {
    (set[typeUrl] as Map<string, EnvoyResourceJson>).set(name, json);
  };
  for (const port of model.ports) {
    put(TYPE_URLS.listener, cache.get(port, (p) => [buildListener(p)])[0] ?? {}, port.name);
  }
  for (const table of model.routeTables) {
    put(
      TYPE_URLS.routeConfiguration,
      cache.get(table, (t) => [buildRouteConfiguration(t)])[0] ?? {},
      table.name,
    );
  }
  if (cache.backends?.list !== model.backends) {
    // Thousands of backends: the maps are rebuilt only when the list changed (elements are still reused).
    const clusters = new Map<string, EnvoyResourceJson>();
    const assignments = new Map<string, EnvoyResourceJson>();
    for (const backend of model.backends) {
      const [cluster = {}, cla = {}] = cache.get(backend, (b) => [
        buildCluster(b),
        buildClusterLoadAssignment(b),
      ]);
      clusters.set(backend.clusterName, cluster);
      assignments.set(backend.clusterName, cla);
    }
    cache.backends = { list: model.backends, clusters, assignments };
  }

  for (const cert of model.certificates) put(TYPE_URLS.secret, buildCertificateSecret(cert), cert.name);
  for (const bundle of model.caBundles) {
    const json = buildCaBundleSecret(bundle);
    put(TYPE_URLS.secret, json, String(json.name));
  }
  return {
    ...set,
    [TYPE_URLS.cluster]: cache.backends.clusters,
    [TYPE_URLS.clusterLoadAssignment]: cache.backends.assignments,
  };
}
