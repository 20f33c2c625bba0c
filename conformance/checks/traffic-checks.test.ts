/**
 * The traffic judges against the upstream helpers they follow
 * (conformance/utils/http, v1.6.1): each case is a response the official suite
 * refuses (or accepts), given by an engine that answers with it.
 */
import { describe, expect, it } from "vitest";
import type { CheckData } from "../catalogue.ts";
import type { CheckContext } from "./context.ts";
import type { TrafficRequest, TrafficResult } from "./traffic.ts";
import { httpNot200, judgeMeshResponse, judgeResponse, meshClientNamespaces } from "./traffic-checks.ts";

function answering(result: TrafficResult): CheckContext {
  return {
    cluster: undefined as never, // no check here reads the cluster
    controllerName: "strait.dev/gateway-controller",
    gatewayClassName: "strait",
    issued: new Map(),
    traffic: {
      send: async () => result,
      grpc: async () => ({ code: 12, message: "unused" }),
      connect: async () => ({ kind: "failed", reason: "unused" }),
      gatewayAddress: () => "127.0.1.1:80",
    },
  };
}

const NOT_200: CheckData = {
  check: "httpNot200",
  via: "gateway-conformance-infra/same-namespace",
  request: { path: "/backendtlspolicy" },
} as CheckData;

const response = (status: number): TrafficResult => ({ kind: "response", status, headers: {}, mirrors: [] });

describe("httpNot200 (WaitForConsistentFailureResponse)", () => {
  it("passes on a non-200, non-timeout answer", async () => {
    expect((await httpNot200(answering(response(503)), NOT_200)).ok).toBe(true);
    expect((await httpNot200(answering(response(404)), NOT_200)).ok).toBe(true);
  });
  it("fails on a 200", async () => {
    expect((await httpNot200(answering(response(200)), NOT_200)).message).toMatch(/got 200/);
  });
  it("does not pass on a timeout (504, 408): upstream keeps waiting", async () => {
    expect((await httpNot200(answering(response(504)), NOT_200)).ok).toBe(false);
    expect((await httpNot200(answering(response(408)), NOT_200)).ok).toBe(false);
  });
  it("does not pass when no HTTP response comes back at all", async () => {
    const refused: TrafficResult = { kind: "failed", reason: "connection refused" };
    expect((await httpNot200(answering(refused), NOT_200)).message).toMatch(/no HTTP response/);
  });
});

const REQUEST: TrafficRequest = {
  gateway: { namespace: "gateway-conformance-infra", name: "same-namespace" },
  scheme: "http",
  method: "GET",
  path: "/?animal=whale",
  headers: { "X-Echo-Set-Header": "", Version: "one" },
  random: 0.5,
};

function served(path: string, headers: Record<string, readonly string[]>): TrafficResult {
  return {
    kind: "response",
    status: 200,
    headers: {},
    mirrors: [],
    backend: {
      pod: "infra-backend-v1-abc",
      namespace: "gateway-conformance-infra",
      request: { method: "GET", path, host: "", headers },
    },
  };
}

describe("CompareRoundTrip", () => {
  const expected = { backend: "infra-backend-v1", namespace: "gateway-conformance-infra" };
  it("accepts the request as sent", async () => {
    expect(judgeResponse(REQUEST, served("/?animal=whale", { version: ["one"] }), expected)).toBeUndefined();
  });
  it("compares the query string as sent", async () => {
    expect(judgeResponse(REQUEST, served("/?animal=dolphin", { version: ["one"] }), expected)).toMatch(
      /path \/\?animal=dolphin, want \/\?animal=whale/,
    );
    expect(judgeResponse(REQUEST, served("/", { version: ["one"] }), expected)).toMatch(/path/);
  });
  it("without an expected request, the backend must see the headers as sent", async () => {
    expect(judgeResponse(REQUEST, served("/?animal=whale", {}), expected)).toMatch(
      /did not receive header Version/,
    );
    expect(judgeResponse(REQUEST, served("/?animal=whale", { version: ["two"] }), expected)).toMatch(
      /Version: two, want one/,
    );
  });
  it("a timeout meets any expected timeout code", async () => {
    expect(judgeResponse(REQUEST, response(504), { statusCode: 408 })).toBeUndefined();
    expect(judgeResponse(REQUEST, response(504), { statusCode: 503 })).toMatch(/status 504/);
  });
});

describe("judgeMeshResponse (MeshPod compareRequest)", () => {
  const served = (pod: string, headers: Record<string, string[]> = {}): TrafficResult => ({
    kind: "response",
    status: 200,
    headers,
    backend: {
      pod,
      namespace: "gateway-conformance-mesh",
      request: { method: "GET", path: "/x", host: "echo", headers: {} },
    },
    mirrors: [],
  });
  it("judges status, the served Pod's prefix and response headers, not what the backend saw", () => {
    expect(judgeMeshResponse(served("echo-v1-abc"), { backend: "echo-v1" })).toBeUndefined();
    // The backend saw /x, the check expects another path: the mesh client's output does not show it.
    expect(judgeMeshResponse(served("echo-v1-abc"), { backendReceives: { path: "/y" } })).toBeUndefined();
    expect(judgeMeshResponse(served("echo-v2-abc"), { backend: "echo-v1" })).toMatch(/served by pod/);
    expect(judgeMeshResponse(served("echo-v1-abc"), { statusCode: 302 })).toMatch(/status 200/);
    expect(judgeMeshResponse({ kind: "failed", reason: "reset" }, {})).toMatch(/failed/);
  });
  it("wants the first value of a header and no value of an absent one", () => {
    const r = served("echo-v1-abc", { "x-header-set": ["set", "other"] });
    expect(judgeMeshResponse(r, { responseHeaders: { "X-Header-Set": "set" } })).toBeUndefined();
    expect(judgeMeshResponse(r, { responseHeaders: { "X-Header-Set": "other" } })).toMatch(/want "other"/);
    expect(judgeMeshResponse(r, { responseAbsentHeaders: ["X-Header-Set"] })).toMatch(/want none/);
  });
  it("sends MeshConsumerRoute's first request from the consumer namespace's client", () => {
    const checks = [
      {
        check: "http",
        via: "mesh client pod",
        name: "request from consumer route's namespace modified by HTTPRoute",
      },
      { check: "http", via: "mesh client pod", name: "other" },
      { check: "http", via: "gateway-conformance-infra/same-namespace" },
    ] as CheckData[];
    expect(meshClientNamespaces(checks)).toEqual([
      "gateway-conformance-mesh",
      "gateway-conformance-mesh-consumer",
    ]);
    expect(meshClientNamespaces(checks.slice(2))).toEqual([]);
  });
});
