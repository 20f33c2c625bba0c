import { describe, expect, it } from "vitest";
import { validateDesiredState } from "./validate.ts";

const good = {
  endpoints: [{ id: 1, identity: 1001, addresses: ["10.0.0.5"], hostInterface: "veth1", pod: "default/a" }],
  policies: [
    {
      endpointId: 1,
      ingressEnforced: true,
      egressEnforced: false,
      entries: [
        {
          direction: "ingress",
          remoteIdentity: 1002,
          protocol: "TCP",
          port: 80,
          verdict: "allow",
          proxyPort: 15001,
        },
        { direction: "ingress", remoteIdentity: "any", protocol: "ANY", verdict: "deny" },
      ],
    },
  ],
  ipcache: [{ prefix: "10.0.0.0/24", identity: 2000, node: "192.0.2.1" }],
};

describe("validateDesiredState", () => {
  it("accepts a valid state, filling defaults (port any, no sources)", () => {
    const r = validateDesiredState(good);
    expect(r.ok).toBe(true);
    if (r.ok)
      expect(r.value.policies[0]?.entries[1]).toMatchObject({ port: "any", protocol: "ANY", sources: [] });
  });

  it("names every invalid field", () => {
    const bad = {
      endpoints: [{ id: 0, identity: 1001, addresses: ["10.0.0.300"], hostInterface: "a-name-far-too-long" }],
      policies: [
        {
          endpointId: 9,
          ingressEnforced: "yes",
          egressEnforced: false,
          entries: [
            { direction: "up", remoteIdentity: -1, protocol: "QUIC", port: 0, verdict: "deny", proxyPort: 1 },
          ],
        },
      ],
      ipcache: [{ prefix: "10.0.0.1/24", identity: 5 }],
      extra: true,
    };
    const r = validateDesiredState(bad);
    expect(r.ok).toBe(false);
    const fields = r.ok ? [] : r.error.map((e) => e.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        "extra",
        "endpoints[0].id",
        "endpoints[0].addresses[0]",
        "endpoints[0].hostInterface",
        "policies[0].ingressEnforced",
        "policies[0].entries[0].direction",
        "policies[0].entries[0].remoteIdentity",
        "policies[0].entries[0].protocol",
        "policies[0].entries[0].port",
        "policies[0].entries[0]",
        "ipcache[0].prefix",
      ]),
    );
  });

  it("rejects a policy for an endpoint that does not exist, and duplicate endpoint ids", () => {
    const r = validateDesiredState({
      endpoints: [good.endpoints[0], good.endpoints[0]],
      policies: [{ ...good.policies[0], endpointId: 2 }],
    });
    expect(r.ok ? [] : r.error.map((e) => `${e.field}: ${e.message}`)).toEqual([
      "endpoints[1].id: 1 is also endpoints[0].id",
      "policies[0].endpointId: no endpoint has id 2",
    ]);
  });

  it("takes mesh services (protocol TCP by default, none when absent) and names their bad fields", () => {
    const web = { service: "apps/web", address: "10.96.0.10", port: 80, proxyPort: 15003 };
    const r = validateDesiredState({ meshServices: [web] });
    expect(r.ok && r.value.meshServices).toEqual([{ ...web, protocol: "TCP" }]);
    const none = validateDesiredState({});
    expect(none.ok && none.value.meshServices).toEqual([]);
    const bad = validateDesiredState({
      meshServices: [
        { service: "", address: "10.96.0.300", port: 0, protocol: "UDP", proxyPort: 70000, weight: 1 },
        web,
        { ...web, proxyPort: 15004 },
      ],
    });
    expect(bad.ok ? [] : bad.error.map((e) => `${e.field}: ${e.message}`)).toEqual([
      "meshServices[0].weight: unknown field",
      "meshServices[0].service: must name the Service (namespace/name)",
      'meshServices[0].address: "10.96.0.300" is not an IPv4 address',
      "meshServices[0].port: must be an integer in 1..65535",
      'meshServices[0].protocol: must be "TCP"',
      "meshServices[0].proxyPort: must be an integer in 1..65535",
      "meshServices[2]: 10.96.0.10:80 is also meshServices[1]",
    ]);
  });

  it("takes encrypt entries (protocol TCP and any port by default, none when absent) and names their bad fields", () => {
    const flow = { localIdentity: 1001, remoteIdentity: 1002, port: 8080, proxyPort: 15004 };
    const r = validateDesiredState({ encrypt: [flow, { ...flow, port: "any" }] });
    expect(r.ok && r.value.encrypt).toEqual([
      { ...flow, protocol: "TCP" },
      { ...flow, port: "any", protocol: "TCP" },
    ]);
    const noPort = validateDesiredState({
      encrypt: [{ localIdentity: 1001, remoteIdentity: 1002, proxyPort: 15004 }],
    });
    expect(noPort.ok && noPort.value.encrypt[0]?.port).toBe("any");
    const none = validateDesiredState({});
    expect(none.ok && none.value.encrypt).toEqual([]);
    const bad = validateDesiredState({
      encrypt: [
        { localIdentity: 0, remoteIdentity: "web", protocol: "UDP", port: 70000, proxyPort: 0, node: "a" },
        flow,
        { ...flow, proxyPort: 15005 },
        "flow",
      ],
    });
    expect(bad.ok ? [] : bad.error.map((e) => `${e.field}: ${e.message}`)).toEqual([
      "encrypt[0].node: unknown field",
      "encrypt[0].localIdentity: must be an integer in 1..4294967295",
      "encrypt[0].remoteIdentity: must be an integer in 1..4294967295",
      'encrypt[0].protocol: must be "TCP"',
      "encrypt[0].port: must be an integer in 1..65535",
      "encrypt[0].proxyPort: must be an integer in 1..65535",
      "encrypt[3]: must be an object",
      "encrypt[2]: 1001>1002:8080 is also encrypt[1]",
    ]);
  });

  it("takes the mtls-spiffe-encrypted auth type of a policy entry", () => {
    const r = validateDesiredState({
      endpoints: [{ id: 1, identity: 1001, hostInterface: "veth1" }],
      policies: [
        {
          endpointId: 1,
          ingressEnforced: true,
          egressEnforced: false,
          entries: [
            {
              direction: "ingress",
              remoteIdentity: 1002,
              protocol: "TCP",
              port: 80,
              verdict: "allow",
              auth: "mtls-spiffe-encrypted",
            },
          ],
        },
      ],
    });
    expect(r.ok && r.value.policies[0]?.entries[0]?.auth).toBe("mtls-spiffe-encrypted");
  });

  it("rejects what is not an object", () => {
    expect(validateDesiredState([1, 2])).toEqual({
      ok: false,
      error: [{ field: "(root)", message: "must be an object" }],
    });
  });
});
