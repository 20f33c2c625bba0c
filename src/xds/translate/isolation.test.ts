/**
 * Isolation by construction: a part that does not encode is left out of its
 * resource alone, with an exclusion naming it, and the shared resource is
 * still published with everyone else's parts (the regressions of issue 16:
 * a CR/LF header value withheld the whole route table; an empty endpoint
 * address froze every update).
 */
import { describe, expect, it } from "vitest";
import type { ServiceBackend } from "../../model/backend.ts";
import type { Route, RouteTable } from "../../model/gateway.ts";
import { encodeResource, TYPE_URLS } from "../proto/index.ts";
import { buildClusterLoadAssignment } from "./cluster-load-assignment.ts";
import { buildRouteConfiguration } from "./route-configuration.ts";

const NO_HEADERS = { set: [], add: [], remove: [] };

function route(name: string, headerValue: string): Route {
  return {
    name,
    match: { path: { type: "PathPrefix", value: `/${name}` }, headers: [], queryParams: [] },
    action: {
      kind: "forward",
      backends: [{ cluster: "a/svc:80", weight: 1 }],
      mirrors: [],
      websocket: false,
    },
    requestHeaders: { ...NO_HEADERS, set: [{ name: "x-team", value: headerValue }] },
    responseHeaders: NO_HEADERS,
    sources: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: name, name }],
  };
}

describe("translation isolation", () => {
  it("leaves a route whose header value has CR/LF out of the shared route table, and serves the others", () => {
    const table: RouteTable = {
      name: "infra/edge/8080",
      misdirectedDomains: [],
      virtualHosts: [
        {
          name: "infra/edge/8080/*",
          domains: ["*"],
          routes: [route("good", "a"), route("evil", "a\r\nb"), route("also-good", "b")],
        },
      ],
    };
    const { json, excluded } = buildRouteConfiguration(table);
    expect(encodeResource(TYPE_URLS.routeConfiguration, json).issues).toEqual([]);
    const vh = (json.virtual_hosts as { routes: { name: string }[] }[])[0];
    expect(vh?.routes.map((r) => r.name)).toEqual(["good", "also-good"]);
    expect(excluded).toHaveLength(1);
    expect(excluded[0]).toMatchObject({
      part: "route",
      name: "evil",
      resource: "route",
      resourceName: "infra/edge/8080",
      sources: [{ kind: "HTTPRoute", namespace: "evil", name: "evil" }],
    });
    expect(excluded[0]?.message).toMatch(/header\.value: is not a valid HTTP header value/);
  });

  it("leaves an empty endpoint address out of its load assignment, and keeps the other endpoints", () => {
    const backend: ServiceBackend = {
      kind: "Service",
      clusterName: "evil/svc:80",
      namespace: "evil",
      service: "svc",
      port: 80,
      protocol: "http1",
      endpoints: [
        { address: "", port: 8080 },
        { address: "10.0.0.2", port: 8080 },
      ],
      sources: [{ group: "", kind: "Service", namespace: "evil", name: "svc" }],
    };
    const { json, excluded } = buildClusterLoadAssignment(backend);
    expect(encodeResource(TYPE_URLS.clusterLoadAssignment, json).issues).toEqual([]);
    expect(JSON.stringify(json)).toContain("10.0.0.2");
    expect(excluded.map((e) => `${e.part} ${e.name}`)).toEqual(["endpoint :8080"]);
  });

  it("adds no exclusion and no second encoding when everything encodes", () => {
    const table: RouteTable = {
      name: "t",
      misdirectedDomains: [],
      virtualHosts: [{ name: "t/*", domains: ["*"], routes: [route("one", "a")] }],
    };
    expect(buildRouteConfiguration(table).excluded).toEqual([]);
  });
});
