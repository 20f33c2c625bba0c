import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { CommandIO } from "../command.ts";
import { main } from "../main.ts";

const QUICKSTART = join(import.meta.dirname, "../../../examples/quickstart");

async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIO = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env: {} };
  const code = await main(args, io);
  return { code, out: out.join(""), err: err.join("") };
}

describe("strait status", () => {
  it("prints every owned object's status", async () => {
    const r = await run(["status", "-f", QUICKSTART, "-o", "json"]);
    expect(r.code).toBe(0);
    const objects = JSON.parse(r.out) as {
      kind: string;
      name: string;
      status: { conditions?: { type: string; status: string }[] };
    }[];
    expect(objects.map((o) => `${o.kind}/${o.name}`).sort()).toEqual([
      "Gateway/edge",
      "GatewayClass/strait",
      "HTTPRoute/shop",
    ]);
    const gw = objects.find((o) => o.kind === "Gateway");
    expect(gw?.status.conditions?.find((c) => c.type === "Programmed")?.status).toBe("True");
  });

  it("exits 1 when a manifest is invalid but still prints the rest", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-status-"));
    writeFileSync(
      join(dir, "bad.yaml"),
      "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: x }\nspec: { rules: [{ matches: [{ path: { type: Nope } }] }] }\n",
    );
    const r = await run(["status", "-f", QUICKSTART, "-f", dir]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("bad.yaml#0 HTTPRoute default/x: spec.rules[0].matches[0].path.type");
    expect((parse(r.out) as unknown[]).length).toBe(3);
  });

  it("exits 2 without -f", async () => {
    expect((await run(["status"])).code).toBe(2);
  });
});

describe("strait translate", () => {
  it("prints the Envoy resources, decoded from their protobuf form, with keys redacted", async () => {
    const r = await run(["translate", "-f", QUICKSTART, "-o", "json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as Record<string, { name?: string; cluster_name?: string }[]>;
    expect(out.listeners?.map((l) => l.name)).toEqual(["infra/edge/8080"]);
    expect(out.clusters?.map((c) => c.name)).toEqual(["shop/landing:80", "shop/store:80"]);
    expect(out.endpoints?.map((c) => c.cluster_name)).toEqual(["shop/landing:80", "shop/store:80"]);
  });
});

describe("strait simulate", () => {
  const base = ["simulate", "-f", QUICKSTART, "--gateway", "infra/edge", "-o", "json"];

  it("answers where a request goes", async () => {
    const r = await run([
      ...base,
      "--request",
      "GET http://shop.example.com:8080/store/x",
      "-H",
      "x-test: 1",
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as {
      route: string;
      outcome: { kind: string; cluster: string; request: { headers: string[] } };
    };
    expect(out.route).toBe("shop/shop/rule-0/match-0");
    expect(out.outcome.cluster).toBe("shop/store:80");
    expect(out.outcome.request.headers).toContain("x-test: 1");
  });

  it("reports a 404 for an unknown host", async () => {
    const r = await run([...base, "--request", "GET http://other.example.com:8080/"]);
    const out = JSON.parse(r.out) as { outcome: { kind: string; status: number; reason: string } };
    expect(out.outcome).toMatchObject({ kind: "local-response", status: 404 });
    expect(out.outcome.reason).toMatch(/no virtual host/);
  });

  it("refuses a connection to a port with no listener", async () => {
    const r = await run([...base, "--request", "GET http://shop.example.com:9999/"]);
    const out = JSON.parse(r.out) as { outcome: { kind: string; reason: string } };
    expect(out.outcome.kind).toBe("connection-failed");
    // The reason names the ports the Gateway's address does listen on.
    expect(out.outcome.reason).toMatch(/listens on port 8080$/);
  });

  it("gives clear errors for bad input", async () => {
    const unknown = await run([
      ...base.slice(0, 3),
      "--gateway",
      "infra/missing",
      "--request",
      "GET http://x/",
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain("Gateway infra/missing not found");
    const badUrl = await run([...base, "--request", "GET nowhere"]);
    expect(badUrl.code).toBe(2);
    expect(badUrl.err).toContain('"nowhere" is not an http:// or https:// URL');
    const badHeader = await run([...base, "--request", "GET http://x/", "-H", "no colon"]);
    expect(badHeader.code).toBe(2);
    expect(badHeader.err).toContain('must be "name: value"');
  });
});

describe("strait simulate --to (a mesh request)", () => {
  const GOLDEN = join(import.meta.dirname, "../../../testdata/gateway");
  const files = ["common.yaml", "mesh.yaml", "MeshConsumerRoute/input.yaml"].flatMap((f) => [
    "-f",
    join(GOLDEN, f),
  ]);
  const ask = (to: string, from?: string) =>
    run([
      "simulate",
      ...files,
      "--to",
      to,
      ...(from === undefined ? [] : ["--from", from]),
      "--request",
      "GET http://echo-v1.gateway-conformance-mesh/",
      "-o",
      "json",
    ]);

  it("gives a consumer namespace's pod its route, by Service name or ClusterIP", async () => {
    for (const to of ["gateway-conformance-mesh/echo-v1:80", "10.96.10.11:80"]) {
      const r = await ask(to, "10.244.2.11");
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      const out = JSON.parse(r.out) as { filterChain: string; route: string; outcome: { kind: string } };
      expect(out.filterChain).toBe(
        "gateway-conformance-mesh/echo-v1:80/consumer/gateway-conformance-mesh-consumer",
      );
      expect(out.route).toBe("gateway-conformance-mesh-consumer/mesh-echo-add-header/rule-0/match-0");
      expect(out.outcome.kind).toBe("forward");
    }
  });

  it("proxies other clients' streams to the endpoints", async () => {
    const out = JSON.parse((await ask("gateway-conformance-mesh/echo-v1:80", "10.244.1.11")).out) as {
      outcome: { kind: string; cluster: string };
    };
    expect(out.outcome).toMatchObject({
      kind: "tcp-forward",
      cluster: "strait/mesh-tcp/gateway-conformance-mesh/echo-v1:80",
    });
  });

  it("refuses a destination that is no mesh Service port, and --to with --gateway", async () => {
    const r = await ask("10.96.10.11:81");
    expect(r.code).toBe(1);
    expect(r.err).toContain("no mesh Service port");
    const both = await run([
      "simulate",
      ...files,
      "--to",
      "10.96.10.11:80",
      "--gateway",
      "a/b",
      "--request",
      "GET http://x/",
    ]);
    expect(both.code).toBe(2);
  });

  it("answers a gRPC call to a GRPCRoute's Service port (HTTP/2 on the mesh chain)", async () => {
    const r = await run([
      "simulate",
      ...["common.yaml", "mesh.yaml", "MeshGRPCRouteWeight/input.yaml"].flatMap((f) => [
        "-f",
        join(GOLDEN, f),
      ]),
      "--to",
      "gateway-conformance-mesh/echo:7070",
      "--from",
      "10.244.1.11",
      "--request",
      "POST http://echo:7070/proto.EchoTestService/Echo",
      "-H",
      "content-type: application/grpc",
      "-o",
      "json",
    ]);
    expect(r.err).toBe("");
    const out = JSON.parse(r.out) as { route: string; outcome: { kind: string; cluster: string } };
    expect(out.route).toBe("gateway-conformance-mesh/mesh-grpc-weighted-backends/rule-0/match-0");
    expect(out.outcome).toMatchObject({ kind: "forward", cluster: "gateway-conformance-mesh/echo-v1:7070" });
  });
});
