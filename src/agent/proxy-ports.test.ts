import { describe, expect, it } from "vitest";
import { EMPTY_DESIRED_STATE } from "./desired-state.ts";
import { proxyPortsOf } from "./proxy-ports.ts";

describe("the TPROXY ports of a desired state", () => {
  it("are the policy's proxy ports, the mesh listeners' and the encryption listener's, each once, sorted", () => {
    const ports = proxyPortsOf({
      ...EMPTY_DESIRED_STATE,
      policies: [
        {
          endpointId: 1,
          ingressEnforced: true,
          egressEnforced: false,
          sources: [],
          entries: [
            {
              direction: "ingress",
              remoteIdentity: "any",
              protocol: "TCP",
              port: 80,
              verdict: "allow",
              proxyPort: 15002,
              sources: [],
            },
            {
              direction: "ingress",
              remoteIdentity: "any",
              protocol: "TCP",
              port: 81,
              verdict: "allow",
              sources: [],
            },
          ],
        },
      ],
      meshServices: [
        { service: "a/web", address: "10.96.0.10", port: 80, protocol: "TCP", proxyPort: 15003 },
        { service: "a/api", address: "10.96.0.11", port: 80, protocol: "TCP", proxyPort: 15003 },
      ],
      encrypt: [
        { localIdentity: 1001, remoteIdentity: 1002, protocol: "TCP", port: 80, proxyPort: 15004 },
        { localIdentity: 1001, remoteIdentity: 1003, protocol: "TCP", port: "any", proxyPort: 15004 },
      ],
    });
    expect(ports).toEqual([15002, 15003, 15004]);
    expect(proxyPortsOf(EMPTY_DESIRED_STATE)).toEqual([]);
  });
});
