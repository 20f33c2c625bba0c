import { describe, expect, it } from "vitest";
import { decodeResource, encodeResource, TYPE_URLS } from "./index.ts";

const HCM =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

function listener(overrides: Record<string, unknown> = {}, hcm: Record<string, unknown> = {}) {
  return {
    name: "infra/edge/http",
    address: { socket_address: { address: "0.0.0.0", port_value: 8080 } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM,
              stat_prefix: "infra/edge/http",
              rds: {
                route_config_name: "infra/edge/http",
                config_source: { ads: {}, resource_api_version: "V3" },
              },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
              common_http_protocol_options: { idle_timeout: "3600s" },
              ...hcm,
            },
          },
        ],
      },
    ],
    per_connection_buffer_limit_bytes: 32768,
    ...overrides,
  };
}

function issuesOf(typeUrl: string, json: unknown): string[] {
  return encodeResource(typeUrl, json).issues.map((i) => `${i.path}: ${i.message}`);
}

describe("strict Envoy encoding", () => {
  it("encodes a valid listener and decodes it back to the same JSON", () => {
    const json = listener();
    const { bytes, issues } = encodeResource(TYPE_URLS.listener, json);
    expect(issues).toEqual([]);
    expect(bytes?.length).toBeGreaterThan(50);
    expect(decodeResource(TYPE_URLS.listener, bytes ?? new Uint8Array())).toEqual(json);
  });

  it("rejects an unknown field, with its path", () => {
    expect(issuesOf(TYPE_URLS.listener, listener({ colour: "blue" }))).toEqual([
      'colour: unknown field "colour" in envoy.config.listener.v3.Listener',
    ]);
    expect(issuesOf(TYPE_URLS.listener, listener({}, { bogus_option: 1 }))).toEqual([
      'filter_chains[0].filters[0].typed_config.bogus_option: unknown field "bogus_option" in envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    ]);
  });

  it("rejects wrong types: string for a number, number for a duration, bad enum", () => {
    expect(issuesOf(TYPE_URLS.listener, listener({ per_connection_buffer_limit_bytes: "lots" }))).toEqual([
      'per_connection_buffer_limit_bytes: must be an integer (uint32), got "lots"',
    ]);
    expect(
      issuesOf(TYPE_URLS.listener, listener({}, { common_http_protocol_options: { idle_timeout: 30 } }))[0],
    ).toContain("idle_timeout: must be a duration string");
    expect(issuesOf(TYPE_URLS.listener, listener({}, { codec_type: "HTTP4" }))[0]).toContain(
      'unknown CodecType value "HTTP4"',
    );
  });

  it("rejects two members of one oneof", () => {
    const json = listener({}, { route_config: { name: "x" } });
    expect(issuesOf(TYPE_URLS.listener, json).join("\n")).toMatch(
      /both set, but they are members of oneof route_specifier/,
    );
  });

  it("enforces validate.rules: min_len, required oneof, header name regex, numeric range", () => {
    expect(
      issuesOf(TYPE_URLS.routeConfiguration, { name: "r", virtual_hosts: [{ name: "", domains: ["*"] }] }),
    ).toEqual(["virtual_hosts[0].name: must be at least 1 characters long"]);
    expect(
      issuesOf(TYPE_URLS.routeConfiguration, {
        name: "r",
        virtual_hosts: [{ name: "vh", domains: ["*"], routes: [{ match: {}, route: { cluster: "c" } }] }],
      }),
    ).toEqual([
      "virtual_hosts[0].routes[0].match.path_specifier: one of prefix, path, safe_regex, connect_matcher, path_separated_prefix, path_match_policy is required",
    ]);
    expect(
      issuesOf(TYPE_URLS.routeConfiguration, {
        name: "r",
        virtual_hosts: [
          {
            name: "vh",
            domains: ["*"],
            request_headers_to_add: [{ header: { key: "bad header", value: "v" } }],
          },
        ],
      }),
    ).toEqual(["virtual_hosts[0].request_headers_to_add[0].header.key: is not a valid HTTP header name"]);
    expect(
      issuesOf(TYPE_URLS.cluster, {
        name: "c",
        type: "EDS",
        eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" } },
        connect_timeout: "-1s",
      }),
    ).toEqual(["connect_timeout: must be longer than 0s"]);
  });

  it("requires a known @type inside Any", () => {
    const json = listener();
    (json.filter_chains[0]?.filters[0]?.typed_config as Record<string, unknown>)["@type"] =
      "type.googleapis.com/envoy.Nope";
    expect(issuesOf(TYPE_URLS.listener, json)).toEqual([
      "filter_chains[0].filters[0].typed_config.@type: unknown message type type.googleapis.com/envoy.Nope",
    ]);
  });

  it("round-trips wrappers, durations and weighted clusters", () => {
    const json = {
      name: "r",
      virtual_hosts: [
        {
          name: "vh",
          domains: ["a.example.com"],
          routes: [
            {
              match: { prefix: "/", case_sensitive: false },
              route: {
                weighted_clusters: {
                  clusters: [
                    { name: "a", weight: 3 },
                    { name: "b", weight: 1 },
                  ],
                },
                timeout: "1.500s",
                retry_policy: { num_retries: 2, retry_on: "5xx" },
              },
            },
          ],
        },
      ],
    };
    const { bytes, issues } = encodeResource(TYPE_URLS.routeConfiguration, json);
    expect(issues).toEqual([]);
    const back = decodeResource(TYPE_URLS.routeConfiguration, bytes ?? new Uint8Array()) as typeof json;
    expect(back.virtual_hosts[0]?.routes[0]?.route.timeout).toBe("1.5s");
    expect(back.virtual_hosts[0]?.routes[0]?.match.case_sensitive).toBe(false);
    expect(back.virtual_hosts[0]?.routes[0]?.route.weighted_clusters.clusters[1]).toEqual({
      name: "b",
      weight: 1,
    });
  });

  it("keeps Struct values both ways (a node's strait.dev/node metadata, listener metadata)", () => {
    const json = {
      name: "l",
      address: { socket_address: { address: "127.0.0.1", port_value: 1 } },
      metadata: {
        filter_metadata: {
          strait: { node: "node-a", n: 2, ok: true, none: null, list: ["x", 1], nested: { a: "b" } },
        },
      },
    };
    const { bytes, issues } = encodeResource(TYPE_URLS.listener, json);
    expect(issues).toEqual([]);
    const back = decodeResource(TYPE_URLS.listener, bytes ?? new Uint8Array()) as typeof json;
    expect(back.metadata).toEqual(json.metadata);
  });
});
