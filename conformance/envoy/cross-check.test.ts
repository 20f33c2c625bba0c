/**
 * The cross-check must catch every kind of difference between the
 * simulator's prediction and what Envoy did, and let through only what no
 * configuration decides.
 */
import { describe, expect, it } from "vitest";
import type { BackendHit, TrafficResult } from "../checks/traffic.ts";
import { differences } from "./cross-check.ts";

function hit(pod: string, headers: Record<string, string[]> = {}, path = "/"): BackendHit {
  return {
    pod,
    namespace: "infra",
    request: { method: "GET", path, host: "example.com", headers: { host: ["example.com"], ...headers } },
  };
}

function answer(overrides: Partial<Extract<TrafficResult, { kind: "response" }>> = {}): TrafficResult {
  return {
    kind: "response",
    status: 200,
    headers: { "content-type": ["application/json"] },
    backend: hit("infra-backend-v1-abc-00001", { "x-forwarded-proto": ["http"] }),
    mirrors: [],
    ...overrides,
  };
}

describe("simulator/Envoy cross-check", () => {
  it("agrees when only transport headers, request ids and the replica differ", () => {
    const envoy = answer({
      headers: {
        "content-type": ["application/json"],
        date: ["now"],
        server: ["envoy"],
        "content-length": ["2"],
      },
      backend: hit("infra-backend-v1-abc-00002", { "x-forwarded-proto": ["http"], "x-request-id": ["r"] }),
    });
    expect(differences(answer(), envoy)).toEqual([]);
  });

  it("catches another status, another Deployment, a missing or extra header", () => {
    expect(differences(answer(), answer({ status: 503 }))).toContain("status: simulator 200, Envoy 503");
    expect(differences(answer(), answer({ backend: hit("infra-backend-v2-abc-00001") })).join("\n")).toMatch(
      /backend pod: simulator "infra\/infra-backend-v1-abc", Envoy "infra\/infra-backend-v2-abc"/,
    );
    expect(
      differences(answer(), answer({ backend: hit("infra-backend-v1-abc-00001", {}) })).join("\n"),
    ).toMatch(/backend header x-forwarded-proto: simulator "http", Envoy absent/);
    expect(
      differences(
        answer(),
        answer({
          backend: hit("infra-backend-v1-abc-00001", { "x-forwarded-proto": ["http"], "x-extra": ["1"] }),
        }),
      ).join("\n"),
    ).toMatch(/backend header x-extra: simulator absent, Envoy "1"/);
  });

  it("catches a redirect Location and response headers that differ", () => {
    const redirect = (location: string) =>
      answer({ status: 302, headers: { location: [location] }, mirrors: [] });
    const { backend: _b, ...withoutBackend } = redirect("http://a/") as { backend?: unknown };
    const a = withoutBackend as TrafficResult;
    const { backend: _c, ...other } = redirect("http://a:8080/") as { backend?: unknown };
    expect(differences(a, other as TrafficResult)).toEqual([
      'response header location: simulator "http://a/", Envoy "http://a:8080/"',
    ]);
  });

  it("catches missing mirrors and a connection that fails on one side only", () => {
    const mirrored = answer({ mirrors: [hit("infra-backend-v2-abc-00001", {}, "/mirror")] });
    expect(differences(mirrored, answer())).toContain("mirrors: simulator 1, Envoy 0");
    expect(differences(answer(), { kind: "failed", reason: "ECONNREFUSED" })).toEqual([
      "simulator HTTP 200, Envoy no response (ECONNREFUSED)",
    ]);
  });

  it("catches a gateway that asks for a client certificate when the simulator says it does not, and back", () => {
    expect(differences(answer(), answer({ clientCertRequested: true }))).toEqual([
      "client certificate requested: simulator false, Envoy true",
    ]);
    expect(
      differences(answer({ clientCertRequested: true }), answer({ clientCertRequested: false })),
    ).toHaveLength(1);
    expect(differences(answer({ clientCertRequested: true }), answer())).toEqual([]);
  });

  it("lets the expected timeout shrink only on a retried request", () => {
    const withTimeout = (ms: string) =>
      answer({
        backend: hit("infra-backend-v1-abc-00001", {
          "x-forwarded-proto": ["http"],
          "x-envoy-expected-rq-timeout-ms": [ms],
        }),
      });
    expect(differences(withTimeout("15000"), withTimeout("14950"), { retried: true })).toEqual([]);
    expect(differences(withTimeout("15000"), withTimeout("14950"))).toHaveLength(1);
    expect(differences(withTimeout("15000"), withTimeout("500"), { retried: true })).toHaveLength(1);
  });
});
