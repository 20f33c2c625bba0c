/**
 * Resolves proxyless gRPC targets against the store: a Listener name like
 * `svc.ns.svc.cluster.local:8080` becomes the resources of that Service port
 * (xds/translate/proxyless.ts), built from the Service and its
 * EndpointSlices exactly as a gateway backend is, with the port's mesh
 * routes (GAMMA) from the last gateway model: the consumer routes of the
 * client's namespace (the resolution's scope), else the producer routes.
 * Unknown Services or ports resolve to nothing, which the client sees as
 * "does not exist"; the reason is kept as a miss, which `/readyz?verbose`
 * (check `proxyless-targets`) and `strait_xds_proxyless_unresolved` report.
 */
import { resolveServiceBackend } from "../gateway/service-backends.ts";
import type { ServiceBackend } from "../model/backend.ts";
import type { GatewayModel } from "../model/gateway.ts";
import type { ResourceView } from "../resources/view.ts";
import type { OnDemandResolver } from "../xds/cache/index.ts";
import { TYPE_URLS } from "../xds/proto/index.ts";
import {
  buildProxylessResources,
  type ProxylessMeshRoutes,
  parseServiceTarget,
} from "../xds/translate/proxyless.ts";
import type { ProxylessRouteNote } from "../xds/translate/proxyless-routes.ts";

export interface ProxylessResolverOptions {
  /** The last gateway model, for the Service ports' mesh routes; none yet: no routes. */
  readonly model?: () => GatewayModel | undefined;
  /** Called on every resolution of a name for a scope, with what of its mesh routes gRPC does not get. */
  readonly onNotes?: (name: string, scope: string, notes: readonly ProxylessRouteNote[]) => void;
  readonly clusterDomain?: string;
}

interface ModelIndex {
  readonly backends: ReadonlyMap<string, ServiceBackend>;
  readonly chains: ReadonlyMap<string, GatewayModel["mesh"]["chains"][number]>;
  readonly tables: ReadonlyMap<string, GatewayModel["routeTables"][number]>;
}

/**
 * Backends, mesh chains and route tables by name, kept while the model is the
 * same object: every subscribed target resolves again on each publish.
 */
const modelIndex = new WeakMap<GatewayModel, ModelIndex>();

function indexOf(model: GatewayModel): ModelIndex {
  let index = modelIndex.get(model);
  if (index === undefined) {
    index = {
      backends: new Map(model.backends.map((b) => [b.clusterName, b])),
      chains: new Map(model.mesh.chains.map((c) => [c.name, c])),
      tables: new Map(model.routeTables.map((t) => [t.name, t])),
    };
    modelIndex.set(model, index);
  }
  return index;
}

/**
 * The mesh routes of a Service port for clients of `namespace` (or of no
 * namespace known, ""): the consumer routes of that namespace when it has
 * any (they take the producer's place, MeshConsumerRoute), else the
 * producer routes, those of the chain for every client. The mesh listener
 * picks the consumer chain by the client pod's address; a proxyless client
 * names its namespace instead (node metadata NAMESPACE). A consumer chain
 * exists for a namespace with pods, as on the mesh listener.
 */
function meshRoutes(
  model: GatewayModel,
  clusterName: string,
  namespace: string,
): ProxylessMeshRoutes | undefined {
  const { backends, chains, tables } = indexOf(model);
  const consumer = namespace === "" ? undefined : chains.get(`${clusterName}/consumer/${namespace}`);
  const producer = chains.get(clusterName);
  const chain = consumer ?? (producer?.sourcePrefixes.length === 0 ? producer : undefined);
  if (chain?.action.kind !== "http") return undefined;
  const routes = tables.get(chain.action.routeTable)?.virtualHosts.flatMap((v) => v.routes);
  if (routes === undefined) return undefined;
  return { routes, backends };
}

export function proxylessResolver(
  view: ResourceView,
  options: ProxylessResolverOptions = {},
): OnDemandResolver {
  const { clusterDomain } = options;
  return (typeUrl, name, scope) => {
    if (typeUrl !== TYPE_URLS.listener) return undefined;
    // Gateway listeners are named `ns/gateway/port` and served whole: such a name is not a target.
    if (name.includes("/")) return undefined;
    const target = parseServiceTarget(name, clusterDomain);
    if (target === undefined) {
      return { missing: "not a Service target (SERVICE.NAMESPACE[.svc[.CLUSTER-DOMAIN]][:PORT])" };
    }
    let port = target.port;
    if (port === undefined) {
      // `xds:///svc.ns` without a port: the Service's port, if it has only one.
      const service = view.get("Service", target.namespace, target.service);
      if (service === undefined)
        return { missing: `Service ${target.namespace}/${target.service} not found` };
      const ports = (service.spec?.ports ?? []) as { port?: number }[];
      if (ports.length !== 1 || ports[0]?.port === undefined) {
        return {
          missing: `no port in the target and Service ${target.namespace}/${target.service} has ${ports.length} ports: name one (${name}:PORT)`,
        };
      }
      port = ports[0].port;
    }
    const backend = resolveServiceBackend(view, target.namespace, target.service, port);
    if (!backend.ok) return { missing: `${backend.error.reason}: ${backend.error.message}` };
    const model = options.model?.();
    const mesh = model === undefined ? undefined : meshRoutes(model, backend.value.clusterName, scope);
    const built = buildProxylessResources(name, backend.value, mesh);
    options.onNotes?.(name, scope, built.notes);
    return built.resources;
  };
}
