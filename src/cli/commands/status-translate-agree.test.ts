/**
 * `strait status` and `strait translate` read the same pass: a route with a
 * CR/LF in a header value is refused in its status, and translate serves
 * every other route (exit 0, every resource encodes) and not that one.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BASE } from "../../../test/support/gateway-one-pass.ts";
import type { CommandIO } from "../command.ts";
import { main } from "../main.ts";

async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIO = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env: {} };
  const code = await main(args, io);
  return { code, out: out.join(""), err: err.join("") };
}

const MANIFESTS = `${BASE}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: apps }
spec: { gatewayClassName: strait, listeners: [{ name: web, protocol: HTTP, port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: good, namespace: apps }
spec: { parentRefs: [{ name: gw }], hostnames: [good.example], rules: [{ backendRefs: [{ name: echo, port: 8080 }] }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: bad, namespace: apps }
spec:
  parentRefs: [{ name: gw }]
  hostnames: [bad.example]
  rules:
  - filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-a, value: "a\\r\\nx-injected: 1" }] } }]
    backendRefs: [{ name: echo, port: 8080 }]
`;

describe("strait status and strait translate agree", () => {
  it("on a route with a CR/LF header value", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-agree-"));
    writeFileSync(join(dir, "m.yaml"), MANIFESTS);
    const status = await run(["status", "-f", dir, "-o", "json"]);
    expect(status.code).toBe(0);
    const objects = JSON.parse(status.out) as {
      kind: string;
      name: string;
      status: { parents?: { conditions: { type: string; status: string }[] }[] };
    }[];
    const accepted = (name: string) =>
      objects
        .find((o) => o.kind === "HTTPRoute" && o.name === name)
        ?.status.parents?.[0]?.conditions.find((c) => c.type === "Accepted")?.status;
    expect(accepted("good")).toBe("True");
    expect(accepted("bad")).toBe("False");

    const translate = await run(["translate", "-f", dir, "-o", "json"]);
    expect(translate.err).toBe("");
    expect(translate.code).toBe(0);
    const routes = JSON.parse(translate.out).routes as { virtual_hosts: { domains: string[] }[] }[];
    const domains = routes.flatMap((r) => r.virtual_hosts.flatMap((v) => v.domains));
    expect(domains).toContain("good.example");
    expect(domains).not.toContain("bad.example");
  });
});
