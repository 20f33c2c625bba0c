/**
 * No blast radius, on the real Envoy 1.40: hostile objects of another team
 * land on the same Gateway listener (the same RouteConfiguration) while a
 * load generator sends requests to the good routes; every good route keeps
 * answering 200, and each hostile edit is followed by a marker route that
 * must reach Envoy, which proves the shared RouteConfiguration was still
 * accepted (a NACK or a withheld resource would keep the marker out). A
 * sample of the corpus (scripts/hostile-corpus.ts), as all of it through
 * Envoy would take too long for CI; the in-process corpus test runs every case.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ManifestCase, manifestCases } from "../scripts/hostile-corpus.ts";
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

/** The corpus's shared Gateway (`infra/edge`) is the lab's Gateway (`lab/gw`) here. */
const EDGE_REF = /- name: edge\n(\s+)namespace: infra/g;

function onLab(c: ManifestCase): string | undefined {
  const text = c.files["hostile.yaml"];
  if (text === undefined || !EDGE_REF.test(text)) return undefined;
  return text.replace(EDGE_REF, "- name: gw\n$1namespace: lab");
}

/** Route-level cases (one file on the shared Gateway), every `step`-th of them. */
function sample(step: number): { id: string; text: string }[] {
  const out: { id: string; text: string }[] = [];
  for (const c of manifestCases()) {
    const text = onLab(c);
    if (text !== undefined) out.push({ id: c.id, text });
  }
  return out.filter((_, i) => i % step === 0);
}

function marker(n: number, service: string): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: marker, namespace: lab }
spec:
  parentRefs: [{ name: gw }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /marker-${n}/ } }]
      backendRefs: [{ name: ${service}, port: 80 }]
`;
}

const EMPTY_ADDRESS_SLICE = `apiVersion: v1
kind: Namespace
metadata: { name: other-team }
---
apiVersion: v1
kind: Service
metadata: { name: bad, namespace: other-team }
spec: { ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: bad-1, namespace: other-team, labels: { kubernetes.io/service-name: bad } }
addressType: IPv4
ports: [{ name: http, port: 8080 }]
endpoints:
  - addresses: [""]
    conditions: { ready: true }
`;

type Condition = { type: string; status: string; reason: string; message: string };

describe("one team's bad objects never break another's routes, on Envoy", () => {
  let lab: GatewayLab;

  beforeAll(async () => {
    lab = await GatewayLab.create(2);
    lab.writeRoute(0, [0]);
    lab.writeRoute(1, [1]);
    // Present from the start: an empty endpoint address in another namespace must not block start-up.
    lab.writeFile("other-team.yaml", EMPTY_ADDRESS_SLICE);
    await lab.startStrait();
    await lab.startEnvoy("delta");
    await until("routes 0 and 1", async () =>
      (await lab.get(0)).status === 200 && (await lab.get(1)).status === 200 ? true : undefined,
    );
  }, 120_000);
  afterAll(async () => {
    await lab?.close();
  });

  it("leaves a route Envoy would refuse out of the shared route table, and serves the rest of it", async () => {
    lab.writeFile(
      "crlf.yaml",
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: crlf, namespace: lab }
spec:
  parentRefs: [{ name: gw }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /crlf/ } }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: x-a, value: "a\\r\\nInjected: yes" }] }
      backendRefs: [{ name: s0-g0, port: 80 }]
    - matches: [{ path: { type: PathPrefix, value: /crlf-good/ } }]
      backendRefs: [{ name: s0-g0, port: 80 }]
`,
    );
    lab.writeFile("marker.yaml", marker(0, "s0-g0"));
    await until("the marker route through Envoy", async () =>
      (await lab.get("/marker-0/x")).status === 200 ? true : undefined,
    );
    // The bad rule is out; the same route's good rule and every other route are served.
    expect((await lab.get("/crlf/x")).status).toBe(404);
    await until("the good rule of the same route", async () =>
      (await lab.get("/crlf-good/x")).status === 200 ? true : undefined,
    );
    expect((await lab.get(0)).status).toBe(200);
    expect((await lab.get(1)).status).toBe(200);
    const status = (await lab.status("HTTPRoute", "crlf")) as { parents?: { conditions: Condition[] }[] };
    // Refused in translation, before Envoy sees it: the spec's drop-rule condition names the rule and why.
    const refused = status.parents?.[0]?.conditions.find((c) => c.type === "PartiallyInvalid");
    expect(refused).toMatchObject({ status: "True", reason: "UnsupportedValue" });
    expect(refused?.message).toMatch(/^Dropped Rule\(s\): .*RequestHeaderModifier header "x-a"/);
    expect(status.parents?.[0]?.conditions.find((c) => c.type === "Accepted")?.status).toBe("True");
    const rejections = (await (await fetch(`http://${lab.opsAddress}/api/v1/xds/rejections`)).json()) as {
      rejections: unknown[];
    };
    expect(rejections.rejections).toEqual([]);
  }, 120_000);

  it("keeps every good route answering under load while a sample of the hostile corpus is applied", async () => {
    const cases = sample(8);
    expect(cases.length).toBeGreaterThanOrEqual(50);
    let done!: () => void;
    const stop = new Promise<void>((r) => {
      done = r;
    });
    const load = lab.load([0, 1], 100, stop);
    const stuck: string[] = [];
    try {
      for (const [n, c] of cases.entries()) {
        lab.writeFile("hostile.yaml", c.text);
        lab.writeFile("marker.yaml", marker(n + 1, n % 2 === 0 ? "s0-g0" : "s1-g0"));
        // The marker reaching Envoy means the shared route table (with the hostile objects' part) was accepted.
        await until(`marker after ${c.id}`, async () =>
          (await lab.get(`/marker-${n + 1}/x`)).status === 200 ? true : undefined,
        ).catch(() => stuck.push(c.id));
      }
    } finally {
      done();
    }
    const result = await load;
    expect(stuck).toEqual([]);
    expect(result.errors).toEqual({});
    expect(result.non2xx).toEqual({});
    expect(result.ok).toBe(result.sent);
    expect(result.sent).toBeGreaterThan(100);
    const rejections = (await (await fetch(`http://${lab.opsAddress}/api/v1/xds/rejections`)).json()) as {
      rejections: unknown[];
    };
    expect(rejections.rejections).toEqual([]);
    console.log(
      `blast radius on Envoy: ${cases.length} hostile cases applied under load, ${result.sent} requests to the good routes, ${result.ok} answered 200`,
    );
  }, 600_000);
});
