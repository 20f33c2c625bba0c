/**
 * Route tables → RouteConfigurations, one per HTTP port or HTTPS listener,
 * with a virtual host per domain. The port in the Host header is ignored for
 * virtual host selection (but kept in the header the backend sees), so
 * `Host: example.com:8080` reaches the `example.com` virtual host.
 */
import type { Exclusion } from "../../model/exclusion.ts";
import type { Route, RouteTable, VirtualHost } from "../../model/gateway.ts";
import { TYPE_URLS } from "../proto/envoy-protos.ts";
import type {
  envoy_config_route_v3_Route as EnvoyRoute,
  envoy_config_route_v3_VirtualHost as EnvoyVirtualHost,
  envoy_config_route_v3_RouteConfiguration as RouteConfiguration,
} from "../proto/envoy-types.ts";
import { buildRoute } from "./route.ts";
import { PART_TYPES, PartChecker, resourceEncodes } from "./strict-check.ts";

/** A model route's Envoy route, kept while the model route is the same object. */
const builtRoutes = new WeakMap<Route, EnvoyRoute>();

function routeJson(route: Route): EnvoyRoute {
  let json = builtRoutes.get(route);
  if (json === undefined) {
    json = buildRoute(route);
    builtRoutes.set(route, json);
  }
  return json;
}

function virtualHostSources(vh: VirtualHost) {
  return vh.routes.flatMap((r) => r.sources);
}

function assemble(table: RouteTable, virtualHosts: EnvoyVirtualHost[]): RouteConfiguration {
  const own = new Set(table.virtualHosts.flatMap((v) => v.domains));
  const misdirected = table.misdirectedDomains.filter((d) => !own.has(d));
  if (misdirected.length > 0) {
    // Hosts of the port's other TLS listeners, reached through this listener's SNI: 421 Misdirected Request.
    virtualHosts.push({
      name: `${table.name}/misdirected`,
      domains: [...misdirected].sort(),
      routes: [
        { name: `${table.name}/misdirected`, match: { prefix: "/" }, direct_response: { status: 421 } },
      ],
    });
  }
  return { name: table.name, virtual_hosts: virtualHosts, ignore_port_in_host_matching: true };
}

/**
 * The table's RouteConfiguration, and the parts left out of it: a route that
 * does not encode is left out alone, a virtual host whose own fields do not
 * encode is left out with its routes; every other route is served. The whole
 * is checked first (the encoding is kept for the xDS cache); the parts only
 * when it fails, to find which.
 */
export function buildRouteConfiguration(table: RouteTable): {
  readonly json: RouteConfiguration;
  readonly excluded: readonly Exclusion[];
} {
  const whole = assemble(
    table,
    table.virtualHosts.map((vh) => ({
      name: vh.name,
      domains: [...vh.domains],
      routes: vh.routes.map(routeJson),
    })),
  );
  if (resourceEncodes(TYPE_URLS.routeConfiguration, whole)) return { json: whole, excluded: [] };
  const checker = new PartChecker("route", table.name);
  const virtualHosts: EnvoyVirtualHost[] = [];
  for (const vh of table.virtualHosts) {
    const shell: EnvoyVirtualHost = { name: vh.name, domains: [...vh.domains], routes: [] };
    if (!checker.accept("virtualHost", PART_TYPES.virtualHost, vh.name, shell, virtualHostSources(vh)))
      continue;
    const routes: EnvoyRoute[] = [];
    for (const route of vh.routes) {
      const json = routeJson(route);
      if (checker.accept("route", PART_TYPES.route, route.name, json, route.sources)) routes.push(json);
    }
    virtualHosts.push({ ...shell, routes });
  }
  return { json: assemble(table, virtualHosts), excluded: checker.excluded };
}
