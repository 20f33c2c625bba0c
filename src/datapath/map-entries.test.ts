import { describe, expect, it } from "vitest";
import type { PolicyEntry } from "../model/endpoint-policy.ts";
import { decodePolicyKey } from "./codecs/policy.ts";
import { entryBytes, policyEntries } from "./map-entries.ts";

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
