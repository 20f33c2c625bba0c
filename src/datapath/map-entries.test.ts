import { describe, expect, it } from "vitest";
import type { PolicyEntry } from "../model/endpoint-policy.ts";
import { decodeMeshSvcInfo, decodeMeshSvcKey } from "./codecs/mesh.ts";
import { decodePolicyKey } from "./codecs/policy.ts";
import { meshServiceEntries, policyEntries } from "./map-entries.ts";

const entry = (e: Partial<PolicyEntry>): PolicyEntry => ({
  direction: "egress",
  remoteIdentity: 300,
  protocol: "TCP",
  port: 80,
  verdict: "allow",
  sources: [],
  ...e,
});

describe("policy map content", () => {
  it("writes a port range as one key per port (the datapath matches ports exactly)", () => {
    const content = policyEntries([
      {
        endpointId: 1,
        ingressEnforced: false,
        egressEnforced: true,
        sources: [],
        entries: [entry({ port: 80, endPort: 83 })],
      },
    ]);
    expect([...content.values()].map((e) => decodePolicyKey(e.key).port).sort()).toEqual([80, 81, 82, 83]);
  });

  it("keeps the deny where a range and a single-port deny share a key", () => {
    const content = policyEntries([
      {
        endpointId: 1,
        ingressEnforced: false,
        egressEnforced: true,
        sources: [],
        entries: [entry({ port: 80, endPort: 81 }), entry({ port: 81, verdict: "deny" })],
      },
    ]);
    const byPort = new Map([...content.values()].map((e) => [decodePolicyKey(e.key).port, e.value[0]]));
    expect(byPort.get(80)).toBe(0);
    expect(byPort.get(81)).toBe(1);
  });
});

describe("mesh services map content", () => {
  it("has one entry per ClusterIP, port and protocol, the port in network order and the proxy port in host order", () => {
    const content = meshServiceEntries([
      { service: "apps/web", address: "10.96.0.10", port: 80, protocol: "TCP", proxyPort: 15003 },
      { service: "apps/api", address: "10.96.0.11", port: 8080, protocol: "TCP", proxyPort: 15003 },
    ]);
    const entries = [...content.values()];
    expect(entries.map((e) => decodeMeshSvcKey(e.key))).toEqual([
      { address: "10.96.0.10", port: 80, protocol: 6 },
      { address: "10.96.0.11", port: 8080, protocol: 6 },
    ]);
    expect(entries[0]?.key.toString("hex")).toBe("0a60000a00500600");
    expect(entries.map((e) => decodeMeshSvcInfo(e.value))).toEqual([15003, 15003]);
  });
});
