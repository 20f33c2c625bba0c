/**
 * What Envoy would refuse is refused in the route's own status, and only
 * there: the bad rule (or route) is not served, every other route of the
 * listener is, and every Envoy resource of the pass encodes with the real
 * protos. So `strait status` (what is accepted) and `strait translate` (what
 * is served) cannot disagree.
 *
 * - Header values: the Gateway API schema allows any value up to 4096
 *   characters, Envoy refuses NUL, CR and LF in a header value (PGV
 *   HTTP_HEADER_VALUE), and a refused route configuration takes down every
 *   route on the port.
 * - Filters under a backendRef: Envoy can apply only header mutations per
 *   weighted cluster; any other filter there would be dropped, so the rule is
 *   refused (HTTPBackendRef.filters support is implementation-specific).
 * - An unsupported filter type is never skipped silently.
 * - PartiallyInvalid's message starts with "Dropped Rule" (the spec's MUST
 *   for implementations that drop invalid rules).
 */
import { describe, expect, it } from "vitest";
import {
  BASE,
  conditionOf,
  parentsOf,
  statusOf,
  storeOf,
  TEST_NOW,
} from "../../test/support/gateway-one-pass.ts";
import { statusesSchemaProblems } from "../../test/support/status-schema.ts";
import { runPipeline } from "../controller/pipeline.ts";
import { encodeResource } from "../xds/proto/index.ts";

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: apps, generation: 1 }
spec: { gatewayClassName: strait, listeners: [{ name: web, protocol: HTTP, port: 80 }] }
`;

const GOOD = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: good, namespace: apps, generation: 1 }
spec:
  parentRefs: [{ name: gw }]
  hostnames: [good.example]
  rules: [{ backendRefs: [{ name: echo, port: 8080 }] }]
`;

function badRoute(rules: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: bad, namespace: apps, generation: 1 }
spec:
  parentRefs: [{ name: gw }]
  hostnames: [bad.example]
  rules:
${rules}`;
}

const ruleWithFilter = (filter: string) =>
  `  - filters: [${filter}]\n    backendRefs: [{ name: echo, port: 8080 }]\n`;
const ruleWithBackendFilter = (filter: string) =>
  `  - backendRefs: [{ name: echo, port: 8080, filters: [${filter}] }]\n`;

const REFUSED = [
  [
    "a CR/LF in a request header value",
    ruleWithFilter(
      '{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-a, value: "a\\r\\nx-injected: 1" }] } }',
    ),
    /RequestHeaderModifier header "x-a".*CR or LF/,
  ],
  [
    "a LF in a response header value",
    ruleWithFilter(
      '{ type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: x-b, value: "b\\nc" }] } }',
    ),
    /ResponseHeaderModifier header "x-b"/,
  ],
  [
    "a NUL in a backendRef's header value",
    ruleWithBackendFilter(
      '{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-c, value: "c\\0" }] } }',
    ),
    /backendRef echo: RequestHeaderModifier header "x-c"/,
  ],
  [
    "a CR in a redirect path",
    `  - filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplaceFullPath, replaceFullPath: "/a\\rb" } } }]\n`,
    /RequestRedirect path/,
  ],
  [
    "a LF in a rewrite path",
    ruleWithFilter(
      '{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: "/a\\nb" } } }',
    ),
    /URLRewrite path/,
  ],
  [
    "a LF in a replacePrefixMatch",
    `  - matches: [{ path: { type: PathPrefix, value: /p } }]\n    filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: "/a\\nb" } } }]\n    backendRefs: [{ name: echo, port: 8080 }]\n`,
    /URLRewrite path: value "\/a\\nb" contains a NUL, CR or LF/,
  ],
  [
    "an empty RegularExpression path",
    `  - matches: [{ path: { type: RegularExpression, value: "" } }]\n    backendRefs: [{ name: echo, port: 8080 }]\n`,
    /path regular expression is empty/,
  ],
  [
    "a RequestMirror under a backendRef",
    ruleWithBackendFilter(
      "{ type: RequestMirror, requestMirror: { backendRef: { name: echo, port: 8080 } } }",
    ),
    /filter RequestMirror is not supported under a backendRef/,
  ],
  [
    "a URLRewrite under a backendRef",
    ruleWithBackendFilter("{ type: URLRewrite, urlRewrite: { hostname: other.example } }"),
    /filter URLRewrite is not supported under a backendRef/,
  ],
] as const;

function served(out: ReturnType<typeof runPipeline>): string[] {
  return out.model.routeTables.flatMap((t) =>
    t.virtualHosts.flatMap((vh) => vh.routes.flatMap((r) => r.sources.map((s) => s.name))),
  );
}

describe("a route Envoy would refuse is refused in its own status, the others are served", () => {
  it.each(REFUSED)("%s", (_name, rules, why) => {
    const store = storeOf(BASE, GATEWAY, GOOD, badRoute(rules));
    const out = runPipeline(store, { now: TEST_NOW, addressPool: ["127.0.1.0/24"] });
    const [bad] = parentsOf(statusOf(out, "HTTPRoute", "apps", "bad"));
    const accepted = conditionOf(bad?.conditions, "Accepted");
    expect(accepted).toMatchObject({ status: "False", reason: "UnsupportedValue" });
    expect(accepted?.message).toMatch(why);
    const [good] = parentsOf(statusOf(out, "HTTPRoute", "apps", "good"));
    expect(conditionOf(good?.conditions, "Accepted")?.status).toBe("True");
    // What translate serves: the good route, not the bad one, and every resource encodes.
    expect(served(out)).toContain("good");
    expect(served(out)).not.toContain("bad");
    for (const [type, byName] of Object.entries(out.resources))
      for (const [name, json] of byName) expect(encodeResource(type, json).issues, name).toEqual([]);
    expect(statusesSchemaProblems(out.statuses)).toEqual([]);
  });

  it("only the bad rule is dropped when the route has good ones: PartiallyInvalid, 'Dropped Rule'", () => {
    const store = storeOf(
      BASE,
      GATEWAY,
      badRoute(
        `  - backendRefs: [{ name: echo, port: 8080 }]\n${ruleWithFilter(
          '{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-a, value: "a\\r\\n" }] } }',
        )}`,
      ),
    );
    const out = runPipeline(store, { now: TEST_NOW, addressPool: ["127.0.1.0/24"] });
    const [bad] = parentsOf(statusOf(out, "HTTPRoute", "apps", "bad"));
    expect(conditionOf(bad?.conditions, "Accepted")?.status).toBe("True");
    const partial = conditionOf(bad?.conditions, "PartiallyInvalid");
    expect(partial).toMatchObject({ status: "True", reason: "UnsupportedValue" });
    expect(partial?.message.startsWith("Dropped Rule")).toBe(true);
    expect(served(out)).toContain("bad");
  });

  it("header modifiers under a backendRef are served (the filters Envoy can apply per backend)", () => {
    const store = storeOf(
      BASE,
      GATEWAY,
      badRoute(
        ruleWithBackendFilter(
          "{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-backend, value: one }] } }",
        ),
      ),
    );
    const out = runPipeline(store, { now: TEST_NOW, addressPool: ["127.0.1.0/24"] });
    expect(
      conditionOf(parentsOf(statusOf(out, "HTTPRoute", "apps", "bad"))[0]?.conditions, "Accepted")?.status,
    ).toBe("True");
    expect(JSON.stringify([...Object.values(out.resources)].map((m) => [...m.values()]))).toContain(
      "x-backend",
    );
  });
});
