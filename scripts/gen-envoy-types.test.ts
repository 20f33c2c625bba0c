/**
 * The generated Envoy types are current (CI fails when the protos or the
 * generator changed and the file was not regenerated), and they refuse what
 * the Envoy API refuses: the `@ts-expect-error` lines below fail `npm run
 * typecheck` the day a wrong field or type would compile.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type {
  envoy_config_cluster_v3_Cluster,
  envoy_config_route_v3_RouteAction,
} from "../src/xds/proto/envoy-types.ts";
import { OUTPUT, renderEnvoyTypes } from "./gen-envoy-types.ts";

describe("generated Envoy types", () => {
  it("are up to date with the protos (node scripts/gen-envoy-types.ts)", () => {
    expect(readFileSync(OUTPUT, "utf8")).toBe(renderEnvoyTypes());
  });

  it("take the proto3 JSON form and refuse unknown fields and wrong types", () => {
    const route: envoy_config_route_v3_RouteAction = {
      cluster: "c",
      timeout: "15s",
      cluster_not_found_response_code: "SERVICE_UNAVAILABLE",
    };
    // @ts-expect-error: no such field in envoy.config.route.v3.RouteAction
    const unknownField: envoy_config_route_v3_RouteAction = { clusterr: "c" };
    // @ts-expect-error: Duration is a string in proto3 JSON
    const wrongDuration: envoy_config_route_v3_RouteAction = { timeout: 15 };
    // @ts-expect-error: not a value of envoy.config.cluster.v3.Cluster.DiscoveryType
    const wrongEnum: envoy_config_cluster_v3_Cluster = { type: "DNS" };
    const eds = { eds_config: { ads: { x: 1 }, resource_api_version: "V3" } } as const;
    // @ts-expect-error: an empty message (AggregatedConfigSource) takes no fields
    const wrongEmpty: envoy_config_cluster_v3_Cluster = { name: "c", eds_cluster_config: eds };
    expect([route, unknownField, wrongDuration, wrongEnum, wrongEmpty].length).toBe(5);
  });
});
