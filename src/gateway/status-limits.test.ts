/**
 * Statuses stay inside the CRDs' limits however large the input is.
 * BackendTLSPolicy status.ancestors has maxItems 16 (GEP-713: "A maximum of
 * 16 ancestors will be represented in this list ... If this slice is full,
 * implementations MUST NOT add further entries", and the policy is
 * unimplementable through the other Gateways); condition messages have
 * maxLength 32768 (metav1.Condition).
 */
import { describe, expect, it } from "vitest";
import {
  BASE,
  conditionOf,
  onePass,
  statusOf,
  storeOf,
  TEST_NOW,
} from "../../test/support/gateway-one-pass.ts";
import { statusesSchemaProblems } from "../../test/support/status-schema.ts";
import { buildConditions, cond } from "./conditions.ts";

function gatewaysUsingPolicy(count: number): string {
  const docs = [
    `apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: { name: tls, namespace: apps, generation: 1 }
spec:
  targetRefs: [{ group: "", kind: Service, name: echo }]
  validation: { wellKnownCACertificates: System, hostname: echo.example }`,
  ];
  for (let i = 0; i < count; i++) {
    const n = String(i).padStart(2, "0");
    docs.push(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw-${n}, namespace: apps, generation: 1, creationTimestamp: "2026-01-01T00:00:${n}Z" }
spec: { gatewayClassName: strait, listeners: [{ name: web, protocol: HTTP, port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r-${n}, namespace: apps, generation: 1 }
spec: { parentRefs: [{ name: gw-${n} }], rules: [{ backendRefs: [{ name: echo, port: 8080 }] }] }`);
  }
  return docs.join("\n---\n");
}

describe("status limits", () => {
  it("a BackendTLSPolicy used through 20 Gateways lists 16 ancestors, the oldest Gateways", () => {
    const out = onePass(storeOf(BASE, gatewaysUsingPolicy(20)));
    const policy = statusOf(out, "BackendTLSPolicy", "apps", "tls");
    const ancestors = policy.status.ancestors as { ancestorRef: { name: string } }[];
    expect(ancestors.map((a) => a.ancestorRef.name)).toEqual(
      Array.from({ length: 16 }, (_, i) => `gw-${String(i).padStart(2, "0")}`),
    );
    expect(statusesSchemaProblems(out.statuses)).toEqual([]);
    // Beyond the 16th the policy is unimplementable (GEP-713: "they MUST consider the policy
    // unimplementable and signal that on any related resources such as the ancestor"): the
    // Gateway says so, and its routes do not send to the policy's backends (500, never clear text).
    const backendsOf = (gw: string) =>
      out.model.routeTables
        .filter((t) => t.name.startsWith(`apps/${gw}/`))
        .flatMap((t) => t.virtualHosts.flatMap((v) => v.routes))
        .flatMap((r) => (r.action.kind === "forward" ? r.action.backends : []));
    for (const [gw, full] of [
      ["gw-15", false],
      ["gw-16", true],
      ["gw-19", true],
    ] as const) {
      const condition = conditionOf(
        statusOf(out, "Gateway", "apps", gw).status.conditions,
        "strait.dev/BackendTLSPolicyAncestorsFull",
      );
      expect(condition?.status, gw).toBe(full ? "True" : undefined);
      const backends = backendsOf(gw);
      expect(backends.length, gw).toBeGreaterThan(0);
      expect(
        backends.every((b) => (full ? b.cluster === undefined : b.cluster === "apps/echo:8080")),
        gw,
      ).toBe(true);
    }
  });

  it("other controllers' ancestor entries count against the 16", () => {
    const others = Array.from({ length: 10 }, (_, i) => ({
      ancestorRef: {
        group: "gateway.networking.k8s.io",
        kind: "Gateway",
        namespace: "apps",
        name: `theirs-${i}`,
      },
      controllerName: "example.com/other",
      conditions: [
        {
          type: "Accepted",
          status: "True",
          reason: "Accepted",
          message: "",
          lastTransitionTime: "2026-01-01T00:00:00Z",
        },
      ],
    }));
    const store = storeOf(BASE, gatewaysUsingPolicy(8));
    const policy = store.get("BackendTLSPolicy", "apps", "tls");
    if (policy === undefined) throw new Error("no policy");
    store.upsert("BackendTLSPolicy", { ...policy, status: { ancestors: others } });
    const out = onePass(store);
    const ancestors = statusOf(out, "BackendTLSPolicy", "apps", "tls").status.ancestors as unknown[];
    expect(ancestors).toHaveLength(16);
    expect(statusesSchemaProblems(out.statuses)).toEqual([]);
  });

  it("a condition message never exceeds 32768 characters", () => {
    const [c] = buildConditions([cond("Accepted", false, "Invalid", "x".repeat(40000))], 1, TEST_NOW);
    expect(c?.message.length).toBe(32768);
    expect(c?.message.endsWith("…")).toBe(true);
  });
});
