import { describe, expect, it } from "vitest";
import { runPipeline } from "../src/controller/pipeline.ts";
import { parseManifestText } from "../src/sources/manifests.ts";
import { ResourceStore } from "../src/sources/store.ts";
import { prepareNodeConfig, simulate } from "../src/xds/simulate/index.ts";
import { firstIngress, INGRESS_CASES, INGRESS_TLS_SECRET } from "./support/ingress-cases.ts";

const data = INGRESS_CASES;

/** Each Service `lab/<name>` (ports 8080 "http") with one endpoint, 10.9.0.<i>. */
function services(): { text: string; byAddress: Map<string, string> } {
  const byAddress = new Map<string, string>();
  const text = data.services
    .map((name, i) => {
      const address = `10.9.0.${i + 1}`;
      byAddress.set(address, name);
      return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: lab }
spec: { ports: [{ name: http, port: 8080, targetPort: 9000 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: lab, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: http, port: 9000 }]
endpoints: [{ addresses: ["${address}"] }]
`;
    })
    .join("---\n");
  return { text, byAddress };
}

const SECRET = INGRESS_TLS_SECRET;

describe("Ingress (ingress-controller-conformance semantics)", () => {
  it("has the cases", () => expect(data.cases.length).toBeGreaterThanOrEqual(6));

  it.each(data.cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const { text, byAddress } = services();
    const store = new ResourceStore();
    const manifests = [
      data.common,
      "apiVersion: v1\nkind: Namespace\nmetadata: { name: lab }\n",
      SECRET,
      text,
      c.manifests,
    ].join("\n---\n");
    const set = parseManifestText(`${c.name}.yaml`, manifests);
    expect(set.diagnostics).toEqual([]);
    for (const o of set.objects) store.upsert(o.kind, o.object);
    const out = runPipeline(store, { now: new Date("2026-01-01T00:00:00Z"), addressPool: ["127.0.1.0/24"] });
    const addressOf = (name: string) =>
      (
        out.statuses.find((s) => s.ref.kind === "Ingress" && s.ref.name === name)?.status as
          | { loadBalancer?: { ingress?: { ip: string }[] } }
          | undefined
      )?.loadBalancer?.ingress?.[0]?.ip;
    const { config, issues } = prepareNodeConfig(out.resources);
    expect(issues).toEqual([]);
    const first = firstIngress(c);
    for (const r of c.requests) {
      const address = addressOf(r.ingress ?? first);
      expect(address, `${c.name}: Ingress ${r.ingress ?? first} has an address`).toBeDefined();
      const scheme = r.scheme ?? "http";
      const result = simulate(config, {
        address: address ?? "",
        port: scheme === "https" ? 443 : 80,
        ...(scheme === "https" ? { tls: { sni: r.host.replace(/:\d+$/, "") } } : {}),
        method: "GET",
        scheme,
        authority: r.host,
        path: r.path,
        headers: [],
      });
      const o = result.outcome;
      const what = `${c.name}: ${scheme}://${r.host}${r.path}`;
      if (r.connectionFails === true) {
        expect(o.kind, what).toBe("connection-failed");
      } else if (r.backend !== undefined) {
        expect(o.kind === "forward" ? byAddress.get(o.endpoint.address) : JSON.stringify(o), what).toBe(
          r.backend,
        );
      } else {
        expect(o.kind === "local-response" ? o.status : JSON.stringify(o), what).toBe(r.status);
      }
    }
    const problems = out.ingressProblems.flatMap((p) => p.problems);
    expect(problems).toEqual(c.problems ?? []);
    for (const name of c.notServed ?? [])
      expect(
        out.statuses.some((s) => s.ref.kind === "Ingress" && s.ref.name === name),
        name,
      ).toBe(false);
    if (c.distinctAddresses !== undefined) {
      const addresses = c.distinctAddresses.map(addressOf);
      expect(new Set(addresses).size).toBe(addresses.length);
    }
  });
});
