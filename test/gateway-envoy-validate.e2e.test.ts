/**
 * The real Envoy (build/bin/envoy, 1.40.0) accepts the listeners and clusters
 * of every gateway golden case (HTTP, HTTPS, TLSRoute passthrough/terminate
 * chains with tcp_proxy, GRPCRoute's HTTP/2 clusters, the GAMMA mesh
 * listener with its destination- and source-matched chains): they go into a
 * bootstrap as static resources, their RDS/SDS/EDS references to an ADS
 * cluster, and `envoy --mode validate` must pass. Quick and without ports;
 * serving them over xDS is the Envoy end-to-end tests' part.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEFAULT_ENVOY_BINARY } from "../src/envoy/binary.ts";

const ROOT = join(import.meta.dirname, "../testdata/gateway");
const cases = readdirSync(ROOT).filter((d) => existsSync(join(ROOT, d, "envoy.yaml")));
const dir = mkdtempSync(join(tmpdir(), "strait-gateway-validate-"));

const XDS_CLUSTER = {
  name: "xds",
  type: "STATIC",
  typed_extension_protocol_options: {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      explicit_http_config: { http2_protocol_options: {} },
    },
  },
  load_assignment: {
    cluster_name: "xds",
    endpoints: [
      {
        lb_endpoints: [
          { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } } },
        ],
      },
    ],
  },
};

describe("the node's Envoy accepts the gateway configuration", () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("has the route kinds' cases", () => {
    expect(cases).toEqual(
      expect.arrayContaining([
        "TLSRouteMixedTermination",
        "GRPCRouteExactMethodMatching",
        "MeshBasic",
        "MeshConsumerRoute",
      ]),
    );
  });

  it.each(cases)(
    "%s",
    (name) => {
      const envoy = parse(readFileSync(join(ROOT, name, "envoy.yaml"), "utf8")) as {
        Listener?: Record<string, unknown>;
        Cluster?: Record<string, unknown>;
      };
      const file = join(dir, `${name}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          node: { id: `validate-${name}`, cluster: "strait" },
          dynamic_resources: {
            ads_config: {
              api_type: "GRPC",
              transport_api_version: "V3",
              grpc_services: [{ envoy_grpc: { cluster_name: "xds" } }],
            },
          },
          static_resources: {
            listeners: Object.values(envoy.Listener ?? {}),
            clusters: [XDS_CLUSTER, ...Object.values(envoy.Cluster ?? {})],
          },
        }),
      );
      const run = spawnSync(
        DEFAULT_ENVOY_BINARY,
        ["--mode", "validate", "-c", file, "--disable-hot-restart"],
        {
          encoding: "utf8",
          timeout: 60_000,
        },
      );
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    },
    120_000,
  );
});
