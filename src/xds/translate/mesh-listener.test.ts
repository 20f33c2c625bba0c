/**
 * The mesh listener's strict encoding: a chain that does not encode is left
 * out alone (reported on the objects it came from), the other Services'
 * chains are served; no mesh service, no listener.
 */
import { describe, expect, it } from "vitest";
import { MESH_LISTENER_NAME, type MeshChain } from "../../model/mesh-service.ts";
import { TYPE_URLS } from "../proto/envoy-protos.ts";
import { encodeResource } from "../proto/index.ts";
import { buildMeshListener } from "./mesh-listener.ts";

function chain(name: string, port: number, sources: string[] = []): MeshChain {
  return {
    name,
    service: `app/${name}`,
    address: "10.96.0.5",
    port,
    sourcePrefixes: sources,
    action: { kind: "tcp", cluster: `app/${name}:${port}` },
    sources: [{ group: "", kind: "Service", namespace: "app", name }],
  };
}

describe("buildMeshListener", () => {
  it("builds nothing without mesh chains", () => {
    expect(buildMeshListener({ services: [], chains: [] })).toEqual({ json: undefined, excluded: [] });
  });

  it("serves the chains that encode and reports the one that does not", () => {
    // Port 70000 breaks FilterChainMatch.destination_port's validate rule (1..65535).
    const { json, excluded } = buildMeshListener({
      services: [],
      chains: [chain("good", 80), chain("bad", 70000), chain("consumer", 80, ["10.244.0.7/32"])],
    });
    expect(json?.name).toBe(MESH_LISTENER_NAME);
    expect(json?.filter_chains?.map((c) => c.name)).toEqual(["good", "consumer"]);
    expect(json?.filter_chains?.[1]?.filter_chain_match?.source_prefix_ranges).toEqual([
      { address_prefix: "10.244.0.7", prefix_len: 32 },
    ]);
    expect(excluded).toHaveLength(1);
    expect(excluded[0]).toMatchObject({
      name: "bad",
      resourceName: MESH_LISTENER_NAME,
      sources: [{ kind: "Service", namespace: "app", name: "bad" }],
    });
    expect(excluded[0]?.message).toContain("destination_port");
    expect(encodeResource(TYPE_URLS.listener, json as object).issues).toEqual([]);
  });

  it("runs routes on an HTTP connection manager with codec AUTO: h2c with prior knowledge (gRPC) and HTTP/1.1", () => {
    const { json } = buildMeshListener({
      services: [],
      chains: [{ ...chain("grpc", 7070), action: { kind: "http", routeTable: "strait/mesh/app/grpc:7070" } }],
    });
    const filter = json?.filter_chains?.[0]?.filters?.[0];
    expect(filter?.name).toBe("envoy.filters.network.http_connection_manager");
    const hcm = filter?.typed_config as { codec_type?: string; rds?: { route_config_name?: string } };
    expect(hcm.codec_type).toBe("AUTO");
    expect(hcm.rds?.route_config_name).toBe("strait/mesh/app/grpc:7070");
    expect(encodeResource(TYPE_URLS.listener, json as object).issues).toEqual([]);
  });
});
