/**
 * What Envoy refuses, shown where it comes from, and contained: a real NACK
 * from Envoy 1.40 lands on the listener and the routes that produced the
 * resource (with Envoy's error), is cleared when a later version is ACKed,
 * and leaves the other routes served. Also the configurations that pass
 * protobuf validation but that Envoy refuses, now caught in translation:
 * each is refused in its own route's status while the rest of the listener
 * is served by Envoy.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayLab } from "./support/gateway-lab.ts";

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Condition = { type: string; status: string; reason: string; message: string };
type RouteStatus = { parents?: { conditions: Condition[] }[] };
type GatewayStatus = { listeners?: { name: string; conditions: Condition[] }[] };

function routeCondition(status: unknown, type: string): Condition | undefined {
  return (status as RouteStatus | undefined)?.parents?.[0]?.conditions.find((c) => c.type === type);
}

function listenerCondition(status: unknown, type: string): Condition | undefined {
  return (status as GatewayStatus | undefined)?.listeners?.[0]?.conditions.find((c) => c.type === type);
}

function route(name: string, match: string, extra = ""): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: lab }
spec:
  parentRefs: [{ name: gw }]
  rules:
    - matches: [{ path: ${match} }]
${extra}      backendRefs: [{ name: s0-g0, port: 80 }]
`;
}

describe("a real NACK from Envoy, in status", () => {
  let lab: GatewayLab;

  beforeAll(async () => {
    lab = await GatewayLab.create(2);
    lab.writeRoute(0, [0]);
    await lab.startStrait();
    // An Envoy whose runtime allows RE2 programs of 10 instructions only: any real regex route
    // is refused by Envoy itself, past every check strait makes (its own limit is Istio's 32768).
    await lab.startEnvoy("delta", { "re2.max_program_size.error_level": 10 });
    await until("route 0", async () => ((await lab.get(0)).status === 200 ? true : undefined));
  }, 120_000);
  afterAll(async () => {
    await lab?.close();
  });

  it("puts Envoy's error on the listener and the routes of the refused route table, and clears it on the next ACK", async () => {
    lab.writeFile(
      "regex.yaml",
      route("regex", '{ type: RegularExpression, value: "/rx/(alpha|beta|gamma)+[0-9]{2,4}" }'),
    );
    const rejected = await until("the NACK in the route's status", async () => {
      const c = routeCondition(await lab.status("HTTPRoute", "regex"), "strait.dev/Programmed");
      return c?.status === "False" ? c : undefined;
    });
    expect(rejected.reason).toBe("RejectedByDataPlane");
    expect(rejected.message).toContain("Envoy rejected route lab/gw/");
    expect(rejected.message).toContain("RE2 program size");
    expect(routeCondition(await lab.status("HTTPRoute", "regex"), "Accepted")?.status).toBe("True");
    const listener = listenerCondition(await lab.status("Gateway", "gw"), "Programmed");
    expect(listener).toMatchObject({ status: "False", reason: "Invalid" });
    expect(listener?.message).toContain("RE2 program size");
    // Envoy keeps the route table it had: the routes that were there still answer.
    expect((await lab.get(0)).status).toBe(200);
    const rejections = (await (await fetch(`http://${lab.opsAddress}/api/v1/xds/rejections`)).json()) as {
      rejections: { resource: string; name: string }[];
    };
    expect(rejections.rejections.map((r) => r.resource)).toEqual(["route"]);

    // A version Envoy accepts: the conditions go away and the new route answers.
    lab.writeFile("regex.yaml", route("regex", "{ type: PathPrefix, value: /rx/ }"));
    await until("the rejection cleared", async () => {
      const status = await lab.status("HTTPRoute", "regex");
      return routeCondition(status, "strait.dev/Programmed") === undefined ? true : undefined;
    });
    expect(listenerCondition(await lab.status("Gateway", "gw"), "Programmed")?.status).toBe("True");
    await until("the accepted route", async () =>
      (await lab.get("/rx/a")).status === 200 ? true : undefined,
    );
  }, 120_000);
});

describe("configurations Envoy would refuse, caught in translation", () => {
  let lab: GatewayLab;

  beforeAll(async () => {
    lab = await GatewayLab.create(2);
    lab.writeRoute(0, [0]);
    await lab.startStrait();
    await lab.startEnvoy("delta");
    await until("route 0", async () => ((await lab.get(0)).status === 200 ? true : undefined));
  }, 120_000);
  afterAll(async () => {
    await lab?.close();
  });

  it("sets Host with a RequestHeaderModifier as a host rewrite, and refuses adding one in its own status only", async () => {
    // Envoy refuses a RouteConfiguration that mutates Host (":-prefixed or host headers may not be modified").
    const setHost = `      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: Host, value: rewritten.example.com }] }
`;
    lab.writeFile("set-host.yaml", route("set-host", "{ type: PathPrefix, value: /set-host/ }", setHost));
    lab.writeFile(
      "add-host.yaml",
      route("add-host", "{ type: PathPrefix, value: /add-host/ }", setHost.replace("set:", "add:")),
    );
    const answer = await until("the set-host route", async () => {
      const r = await lab.get("/set-host/x");
      return r.status === 200 ? (JSON.parse(r.body) as { host: string }) : undefined;
    });
    expect(answer.host).toBe("rewritten.example.com");
    const refused = await until("the add-host status", async () => {
      const c = routeCondition(await lab.status("HTTPRoute", "add-host"), "Accepted");
      return c?.status === "False" ? c : undefined;
    });
    expect(refused).toMatchObject({ reason: "UnsupportedValue" });
    expect(refused.message).toContain("cannot add or remove the Host header");
    expect((await lab.get("/add-host/x")).status).toBe(404);
    // The same check of Envoy's covers response headers: no Host there either.
    lab.writeFile(
      "resp-host.yaml",
      route(
        "resp-host",
        "{ type: PathPrefix, value: /resp-host/ }",
        setHost
          .replace("RequestHeaderModifier", "ResponseHeaderModifier")
          .replace("requestHeaderModifier", "responseHeaderModifier"),
      ),
    );
    const refusedResponse = await until("the resp-host status", async () => {
      const c = routeCondition(await lab.status("HTTPRoute", "resp-host"), "Accepted");
      return c?.status === "False" ? c : undefined;
    });
    expect(refusedResponse.message).toContain("ResponseHeaderModifier cannot change a Host header");
    expect((await lab.get(0)).status).toBe(200);
    const rejections = (await (await fetch(`http://${lab.opsAddress}/api/v1/xds/rejections`)).json()) as {
      rejections: unknown[];
    };
    expect(rejections.rejections).toEqual([]);
  }, 120_000);

  it("serves a regex route whose RE2 program is larger than Envoy's default limit of 100", async () => {
    lab.writeFile(
      "big-regex.yaml",
      route(
        "big-regex",
        '{ type: RegularExpression, value: "/big/(alpha|beta|gamma|delta|epsilon|zeta|eta|theta|iota|kappa){1,8}/[a-z0-9]{1,32}" }',
      ),
    );
    await until("the big regex route", async () =>
      (await lab.get("/big/alphabeta/x1")).status === 200 ? true : undefined,
    );
    expect((await lab.get(0)).status).toBe(200);
  }, 60_000);
});
