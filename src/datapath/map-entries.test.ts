import { describe, expect, it } from "vitest";
import type { PolicyEntry } from "../model/endpoint-policy.ts";
import { decodeEncryptInfo, decodeEncryptKey } from "./codecs/encrypt.ts";
import { decodeMeshSvcInfo, decodeMeshSvcKey } from "./codecs/mesh.ts";
import { decodePolicyKey } from "./codecs/policy.ts";
import { encryptEntries, entryBytes, meshServiceEntries, policyEntries } from "./map-entries.ts";

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
    expect([...content.keys()].map((k) => decodePolicyKey(entryBytes(k)).port).sort()).toEqual([
      80, 81, 82, 83,
    ]);
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
    const byPort = new Map(
      [...content].map(([k, v]) => [decodePolicyKey(entryBytes(k)).port, entryBytes(v)[0]]),
    );
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
    const entries = [...content].map(([key, value]) => ({ key: entryBytes(key), value: entryBytes(value) }));
    expect(entries.map((e) => decodeMeshSvcKey(e.key))).toEqual([
      { address: "10.96.0.10", port: 80, protocol: 6 },
      { address: "10.96.0.11", port: 8080, protocol: 6 },
    ]);
    expect(entries[0]?.key.toString("hex")).toBe("0a60000a00500600");
    expect(entries.map((e) => decodeMeshSvcInfo(e.value))).toEqual([15003, 15003]);
  });
});

describe("encrypt map content", () => {
  it("has one entry per identity pair and port, any port as 0, the port in network order and the proxy port in host order", () => {
    const content = encryptEntries([
      { localIdentity: 1001, remoteIdentity: 1002, protocol: "TCP", port: 8080, proxyPort: 15004 },
      { localIdentity: 1001, remoteIdentity: 1003, protocol: "TCP", port: "any", proxyPort: 15004 },
    ]);
    const entries = [...content].map(([key, value]) => ({ key: entryBytes(key), value: entryBytes(value) }));
    expect(entries.map((e) => decodeEncryptKey(e.key))).toEqual([
      { localIdentity: 1001, remoteIdentity: 1002, port: 8080, protocol: 6 },
      { localIdentity: 1001, remoteIdentity: 1003, port: 0, protocol: 6 },
    ]);
    // local 1001 (LE), remote 1002 (LE), dport 8080 (BE), TCP, pad.
    expect(entries[0]?.key.toString("hex")).toBe("e9030000ea0300001f900600");
    expect(entries[0]?.value.toString("hex")).toBe("9c3a0000");
    expect(entries.map((e) => decodeEncryptInfo(e.value))).toEqual([15004, 15004]);
  });
});
