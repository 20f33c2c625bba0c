import { describe, expect, it } from "vitest";
import { BASE, onePass, storeOf } from "../../test/support/gateway-one-pass.ts";
import { methodPath } from "./grpcroute.ts";

describe("GRPCRoute method matches as path matches", () => {
  it.each([
    [undefined, { type: "PathPrefix", value: "/" }],
    [{}, { type: "PathPrefix", value: "/" }],
    [
      { service: "pkg.Svc", method: "Get" },
      { type: "Exact", value: "/pkg.Svc/Get" },
    ],
    [{ service: "pkg.Svc" }, { type: "RegularExpression", value: "/pkg\\.Svc/[^/]+" }],
    [{ method: "Get" }, { type: "RegularExpression", value: "/[^/]+/Get" }],
    [
      { type: "RegularExpression", service: "pkg\\..*", method: "Get.*" },
      { type: "RegularExpression", value: "/pkg\\..*/Get.*" },
    ],
    [
      { type: "RegularExpression", method: "Get" },
      { type: "RegularExpression", value: "/[^/]+/Get" },
    ],
  ])("%j → %j", (method, path) => {
    expect(methodPath(method)).toEqual(path);
  });

  it("an exact service-only match does not match another service that shares its prefix", () => {
    const { value } = methodPath({ service: "pkg.Svc" });
    const re = new RegExp(`^${value}$`);
    expect(re.test("/pkg.Svc/Get")).toBe(true);
    expect(re.test("/pkg.SvcTwo/Get")).toBe(false);
    expect(re.test("/pkgXSvc/Get")).toBe(false);
    expect(re.test("/pkg.Svc/Get/extra")).toBe(false);
  });
});

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: apps, generation: 1 }
spec: { gatewayClassName: strait, listeners: [{ name: web, protocol: HTTP, port: 80 }] }
`;

function grpcRoute(name: string, created: string, rules: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: ${name}, namespace: apps, generation: 1, creationTimestamp: "${created}" }
spec:
  parentRefs: [{ name: gw }]
  hostnames: [grpc.example]
  rules:
${rules}`;
}

/** The route names of grpc.example's virtual host, in the order Envoy tries them. */
function order(...routes: string[]): string[] {
  const out = onePass(storeOf(BASE, GATEWAY, ...routes));
  const host = out.model.routeTables
    .flatMap((t) => t.virtualHosts)
    .find((v) => v.domains.includes("grpc.example"));
  if (host === undefined) throw new Error("no virtual host for grpc.example");
  return host.routes.map((r) => r.name);
}

describe("GRPCRoute precedence (GRPCRoute rules: service characters, method characters, header matches)", () => {
  it("the longer service wins over a longer method, where HTTP precedence would pick the longer regex", () => {
    const route = grpcRoute(
      "r",
      "2026-01-01T00:00:00Z",
      `  - name: by-method
    matches: [{ method: { method: EchoTwoThreeFour } }]
    backendRefs: [{ name: echo, port: 8080 }]
  - name: by-service
    matches: [{ method: { service: pkg.Svc } }]
    backendRefs: [{ name: echo, port: 8080 }]
`,
    );
    // A call to /pkg.Svc/EchoTwoThreeFour matches both; the service match has 7 characters of
    // service against none, so it is tried first.
    expect(order(route)).toEqual(["apps/r/by-service/match-0", "apps/r/by-method/match-0"]);
  });

  it("then the longer method, then more header matches, then the older route", () => {
    const older = grpcRoute(
      "older",
      "2026-01-01T00:00:00Z",
      `  - name: headers
    matches: [{ headers: [{ name: a, value: "1" }, { name: b, value: "2" }] }]
    backendRefs: [{ name: echo, port: 8080 }]
  - name: svc-get
    matches: [{ method: { service: pkg.Svc, method: Get } }]
    backendRefs: [{ name: echo, port: 8080 }]
`,
    );
    const newer = grpcRoute(
      "newer",
      "2026-02-01T00:00:00Z",
      `  - name: svc-get-header
    matches: [{ method: { service: pkg.Svc, method: Get }, headers: [{ name: a, value: "1" }] }]
    backendRefs: [{ name: echo, port: 8080 }]
  - name: svc-getall
    matches: [{ method: { service: pkg.Svc, method: GetAll } }]
    backendRefs: [{ name: echo, port: 8080 }]
  - name: one-header
    matches: [{ headers: [{ name: a, value: "1" }] }]
    backendRefs: [{ name: echo, port: 8080 }]
  - name: older-tie
    matches: [{ headers: [{ name: c, value: "1" }, { name: d, value: "2" }] }]
    backendRefs: [{ name: echo, port: 8080 }]
`,
    );
    expect(order(newer, older)).toEqual([
      "apps/newer/svc-getall/match-0",
      "apps/newer/svc-get-header/match-0",
      "apps/older/svc-get/match-0",
      "apps/older/headers/match-0",
      "apps/newer/older-tie/match-0",
      "apps/newer/one-header/match-0",
    ]);
  });
});
