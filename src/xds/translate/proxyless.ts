/**
 * Proxyless gRPC: a gRPC client with an `xds:///svc.ns.svc.cluster.local:8080`
 * target asks for the Listener named `svc.ns.svc.cluster.local:8080`. This
 * parses such names and builds what the client needs for one Service port:
 * an API listener (HTTP connection manager, routes over RDS, the router
 * filter, which is all gRPC accepts), a route configuration, and the
 * clusters it sends to with their endpoints, named and built exactly as for
 * the gateway (`ns/svc:port`, EDS over ADS, round robin, weighted
 * localities), so an Envoy and a gRPC client share them. The route
 * configuration holds the port's mesh routes (GAMMA: the producer routes, or
 * the client namespace's consumer routes) as gRPC can take them
 * (proxyless-routes.ts), or, without any, one route sending every call to
 * the Service's cluster.
 */
import type { ServiceBackend } from "../../model/backend.ts";
import type { Route } from "../../model/gateway.ts";
import { TYPE_URLS } from "../proto/envoy-protos.ts";
import type {
  envoy_config_listener_v3_Listener as Listener,
  envoy_config_route_v3_RouteConfiguration as RouteConfiguration,
} from "../proto/envoy-types.ts";
import { packAny } from "../proto/pack-any.ts";
import { buildCluster } from "./cluster.ts";
import { buildClusterLoadAssignment } from "./cluster-load-assignment.ts";
import { buildProxylessRoutes, type ProxylessRouteNote } from "./proxyless-routes.ts";
import { type EnvoyResourceJson, type EnvoyResourceSet, emptyResourceSet } from "./resource-set.ts";
import { ADS } from "./type-urls.ts";

export const DEFAULT_CLUSTER_DOMAIN = "cluster.local";

/** A Service (and maybe its port) named by a proxyless target host. */
export interface ServiceTarget {
  readonly namespace: string;
  readonly service: string;
  /** The Service port; absent when the name has none (then the Service must have exactly one). */
  readonly port?: number;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * `svc.ns`, `svc.ns.svc` or `svc.ns.svc.<cluster domain>`, optionally with
 * `:port`; anything else (gateway listener names like `ns/gw/http`, other
 * hosts) is not a Service target.
 */
export function parseServiceTarget(
  name: string,
  clusterDomain: string = DEFAULT_CLUSTER_DOMAIN,
): ServiceTarget | undefined {
  const match = /^([^:/]+)(?::(\d{1,5}))?$/.exec(name);
  if (match === null) return undefined;
  const host = (match[1] as string).toLowerCase().replace(/\.$/, "");
  const port = match[2] === undefined ? undefined : Number(match[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  const labels = host.split(".");
  const domain = ["svc", ...clusterDomain.toLowerCase().split(".")];
  const rest = labels.slice(2).join(".");
  if (labels.length < 2 || !(rest === "" || rest === "svc" || rest === domain.join("."))) return undefined;
  const [service, namespace] = labels as [string, string];
  if (!LABEL.test(service) || !LABEL.test(namespace)) return undefined;
  return { namespace, service, ...(port === undefined ? {} : { port }) };
}

/** RDS name of a Service port's proxyless routes (shared by every target name of that port). */
export function proxylessRouteConfigName(backend: ServiceBackend): string {
  return `grpc/${backend.clusterName}`;
}

/** The mesh routes of the Service port for one client namespace, and the Service ports they may send to. */
export interface ProxylessMeshRoutes {
  readonly routes: readonly Route[];
  /** By cluster name (`ns/svc:port`). */
  readonly backends: ReadonlyMap<string, ServiceBackend>;
}

export interface ProxylessResources {
  readonly resources: EnvoyResourceSet;
  /** What of the mesh routes gRPC does not get (left out, skipped, refused). */
  readonly notes: readonly ProxylessRouteNote[];
}

/** A cluster that takes calls and has nowhere to send them. */
function withoutEndpoints(clusterName: string): ServiceBackend {
  return {
    kind: "Service",
    clusterName,
    namespace: "",
    service: "",
    port: 0,
    protocol: "http2",
    endpoints: [],
    sources: [],
  };
}

/**
 * Listener (named `listenerName`), route configuration, clusters and
 * endpoints for one Service port; with `mesh`, its routes.
 */
export function buildProxylessResources(
  listenerName: string,
  backend: ServiceBackend,
  mesh?: ProxylessMeshRoutes,
): ProxylessResources {
  const routeConfigName = proxylessRouteConfigName(backend);
  const listener: Listener = {
    name: listenerName,
    api_listener: {
      api_listener: packAny(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        {
          stat_prefix: "grpc",
          rds: { route_config_name: routeConfigName, config_source: ADS },
          // gRPC runs HTTP filters it knows; the router, last, is the one it requires.
          http_filters: [
            {
              name: "envoy.filters.http.router",
              typed_config: packAny("envoy.extensions.filters.http.router.v3.Router", {}),
            },
          ],
        },
      ),
    },
  };
  const built =
    mesh === undefined
      ? {
          routes: [
            { name: backend.clusterName, match: { prefix: "/" }, route: { cluster: backend.clusterName } },
          ],
          clusters: [backend.clusterName],
          empty: [],
          notes: [],
        }
      : buildProxylessRoutes(mesh.routes);
  const routeConfiguration: RouteConfiguration = {
    name: routeConfigName,
    virtual_hosts: [
      // The route configuration belongs to this Service port alone, whatever name the client used.
      { name: backend.clusterName, domains: ["*"], routes: [...built.routes] },
    ],
  };
  const set = emptyResourceSet();
  const put = (typeUrl: keyof EnvoyResourceSet, name: string, json: EnvoyResourceJson) =>
    (set[typeUrl] as Map<string, EnvoyResourceJson>).set(name, json);
  put(TYPE_URLS.listener, listenerName, listener);
  put(TYPE_URLS.routeConfiguration, routeConfigName, routeConfiguration);
  for (const name of [...built.clusters, ...built.empty]) {
    // Without endpoints (a refused route, an invalid backend, one that no longer resolves): the calls
    // it gets fail UNAVAILABLE. Served, because gRPC waits 15 s before taking a cluster never sent
    // for one that does not exist, with the whole channel's resolution on hold.
    const target =
      (name === backend.clusterName ? backend : mesh?.backends.get(name)) ?? withoutEndpoints(name);
    // TLS to the backend (BackendTLSPolicy) is the channel's credentials' business in gRPC (its xDS
    // security, gRFC A29, takes certificate providers, not Envoy's SDS secrets): the cluster goes without.
    const { tls: _tls, ...plain } = target;
    put(TYPE_URLS.cluster, name, buildCluster(plain));
    put(TYPE_URLS.clusterLoadAssignment, name, buildClusterLoadAssignment(plain).json);
  }
  return { resources: set, notes: built.notes };
}
