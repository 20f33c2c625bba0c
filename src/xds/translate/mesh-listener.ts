/**
 * The mesh model → the mesh listener (`strait/mesh`), the same on every
 * node: transparent on 127.0.0.1:15003, where the agent's TPROXY rules steer
 * the flows of local pods to a mesh Service (strait.v1.MeshService), so the
 * accepted socket's local address is the original `ClusterIP:port`.
 *
 * One filter chain per mesh chain, matched on that destination (port, then
 * address /32) and, for a consumer namespace's chain, on the client's
 * address: Envoy takes the most specific source match, so a consumer
 * namespace's clients get its chain and all others the producer chain. A
 * flow to an address no chain names is closed (there is no default chain).
 * A chain with routes (HTTPRoutes or GRPCRoutes) runs an HTTP connection
 * manager with codec AUTO: HTTP/1.1, or HTTP/2 when the client opens with
 * the HTTP/2 preface (h2c with prior knowledge, what a gRPC client sends).
 *
 * As on the L7 policy listeners, the upstream connection keeps the client's
 * address (original_src) and carries the from-proxy mark, so the
 * destination's datapath sees the client and Envoy's own connections are not
 * redirected again.
 */
import type { Exclusion } from "../../model/exclusion.ts";
import {
  MESH_LISTENER_NAME,
  MESH_PROXY_PORT,
  type MeshChain,
  type MeshModel,
} from "../../model/mesh-service.ts";
import { TYPE_URLS } from "../proto/envoy-protos.ts";
import type {
  envoy_config_listener_v3_FilterChain as FilterChain,
  envoy_config_listener_v3_Listener as Listener,
} from "../proto/envoy-types.ts";
import { packAny } from "../proto/pack-any.ts";
import { cidr, transparentListenerOptions } from "./l7-policy.ts";
import { connectionManager } from "./listener.ts";
import { PART_TYPES, PartChecker, resourceEncodes } from "./strict-check.ts";

function meshChain(chain: MeshChain): FilterChain {
  return {
    name: chain.name,
    filter_chain_match: {
      destination_port: chain.port,
      prefix_ranges: [cidr(`${chain.address}/32`)],
      ...(chain.sourcePrefixes.length === 0 ? {} : { source_prefix_ranges: chain.sourcePrefixes.map(cidr) }),
    },
    filters: [
      chain.action.kind === "http"
        ? connectionManager(`strait_mesh_${chain.name}`, chain.action.routeTable)
        : {
            name: "envoy.filters.network.tcp_proxy",
            typed_config: packAny("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", {
              stat_prefix: `strait_mesh_${chain.name}`,
              cluster: chain.action.cluster,
            }),
          },
    ],
  };
}

function assemble(chains: readonly FilterChain[]): Listener {
  return {
    name: MESH_LISTENER_NAME,
    address: { socket_address: { address: "127.0.0.1", port_value: MESH_PROXY_PORT } },
    ...transparentListenerOptions(),
    filter_chains: [...chains],
  };
}

/**
 * The mesh listener, or undefined when there is no mesh service. A chain
 * that does not encode is left out alone and reported, as a Gateway's TLS
 * chains are (the whole is encoded first; the chains only when it fails).
 */
export function buildMeshListener(mesh: MeshModel): {
  readonly json: Listener | undefined;
  readonly excluded: readonly Exclusion[];
} {
  if (mesh.chains.length === 0) return { json: undefined, excluded: [] };
  const chains = mesh.chains.map((chain) => ({ chain, json: meshChain(chain) }));
  const whole = assemble(chains.map((c) => c.json));
  if (resourceEncodes(TYPE_URLS.listener, whole)) return { json: whole, excluded: [] };
  const checker = new PartChecker("listener", MESH_LISTENER_NAME);
  const good = chains
    .filter(({ chain, json }) =>
      checker.accept("tlsChain", PART_TYPES.tlsChain, chain.name, json, chain.sources),
    )
    .map(({ json }) => json);
  if (good.length === 0) return { json: undefined, excluded: checker.excluded };
  const json = assemble(good);
  const ok = checker.accept("listener", PART_TYPES.listener, MESH_LISTENER_NAME, json, []);
  return { json: ok ? json : undefined, excluded: checker.excluded };
}
