/**
 * A TLSRoute whose hostnames intersect no listener's hostname gets no SNI
 * to be served by: its Gateway parent says Accepted=False with reason
 * NoMatchingListenerHostname (the spec's reason; the official
 * TLSRouteInvalidNoMatchingListenerHostname test), no filter chain serves its
 * names, and a route beside it that does intersect is accepted and served.
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
import { runPipeline } from "../controller/pipeline.ts";
import { TYPE_URLS } from "../xds/proto/index.ts";

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: apps, generation: 1 }
spec:
  gatewayClassName: strait
  listeners:
    - { name: tls, port: 443, protocol: TLS, hostname: "*.example.com", tls: { mode: Passthrough } }
`;

function tlsRoute(name: string, hostnames: string[]): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: { name: ${name}, namespace: apps, generation: 1 }
spec:
  parentRefs: [{ name: gw }]
  hostnames: [${hostnames.map((h) => JSON.stringify(h)).join(", ")}]
  rules: [{ backendRefs: [{ name: echo, port: 8080 }] }]
`;
}

describe("TLSRoute hostnames that intersect no listener", () => {
  it.each([
    ["an exact name outside the listener's wildcard", ["abc.example.org"]],
    ["a wildcard of another domain", ["*.example.net"]],
    ["the bare parent domain of the listener's wildcard", ["example.com"]],
  ])("refuse %s with Accepted=False/NoMatchingListenerHostname", (_what, hostnames) => {
    const store = storeOf(BASE, GATEWAY, tlsRoute("miss", hostnames), tlsRoute("hit", ["abc.example.com"]));
    const out = runPipeline(store, { now: TEST_NOW, addressPool: ["127.0.1.0/24"] });
    const [miss] = parentsOf(statusOf(out, "TLSRoute", "apps", "miss"));
    const accepted = conditionOf(miss?.conditions, "Accepted");
    expect(accepted?.status).toBe("False");
    expect(accepted?.reason).toBe("NoMatchingListenerHostname");
    const [hit] = parentsOf(statusOf(out, "TLSRoute", "apps", "hit"));
    expect(conditionOf(hit?.conditions, "Accepted")?.status).toBe("True");

    const listeners = JSON.stringify([...out.resources[TYPE_URLS.listener].values()]);
    expect(listeners).toContain('"abc.example.com"');
    for (const h of hostnames) expect(listeners).not.toContain(JSON.stringify(h));
  });
});
