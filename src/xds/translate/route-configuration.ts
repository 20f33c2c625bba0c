/**
 * Route tables → RouteConfigurations, one per HTTP port or HTTPS listener,
 * with a virtual host per domain. The port in the Host header is ignored for
 * virtual host selection (but kept in the header the backend sees), so
 * `Host: example.com:8080` reaches the `example.com` virtual host.
 */
import type { RouteTable } from "../../model/gateway.ts";
import type {
  envoy_config_route_v3_RouteConfiguration as RouteConfiguration,
  envoy_config_route_v3_VirtualHost as VirtualHost,
} from "../proto/envoy-types.ts";
import { buildRoute } from "./route.ts";

export function buildRouteConfiguration(table: RouteTable): RouteConfiguration {
  const own = new Set(table.virtualHosts.flatMap((v) => v.domains));
  const misdirected = table.misdirectedDomains.filter((d) => !own.has(d));
  const virtualHosts: VirtualHost[] = table.virtualHosts.map((vh) => ({
    name: vh.name,
    domains: [...vh.domains],
    routes: vh.routes.map(buildRoute),
  }));
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
  return {
    name: table.name,
    virtual_hosts: virtualHosts,
    ignore_port_in_host_matching: true,
  };
}
