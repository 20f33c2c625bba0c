/**
 * Listener conditions that depend on the other listeners of a port, and the
 * Gateway conditions that sum up its listeners.
 *
 * - OverlappingTLSConfig (Gateway API ListenerConditionOverlappingTLSConfig):
 *   the spec's own example, listeners A foo.example.com, B foo.example.org,
 *   C *.example.com on one port: A and C get it, B does not; never across
 *   ports; negative polarity (absent, not False, when it does not apply);
 *   ListenerSet listeners count (they share the Gateway's ports).
 * - A listener rejected as unsupported (UnsupportedProtocol) or invalid
 *   (Accepted=False) claims no port: a valid listener after it on the same
 *   port is not Conflicted (spec: Conflicted is between listeners that
 *   could both be served).
 * - Gateway ResolvedRefs is never True while a listener's is False.
 */
import { describe, expect, it } from "vitest";
import {
  BASE,
  conditionOf,
  listenerOf,
  onePass,
  statusOf,
  storeOf,
} from "../../test/support/gateway-one-pass.ts";

const SECRET = `
apiVersion: v1
kind: Secret
metadata: { name: cert, namespace: apps }
type: kubernetes.io/tls
data: { tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJxVENDQVZDZ0F3SUJBZ0lVVnFmbEk0cnNtdnBacTVGOFRyYzVNTjVva0dNd0NnWUlLb1pJemowRUF3SXcKRmpFVU1CSUdBMVVFQXd3TFpYaGhiWEJzWlM1amIyMHdJQmNOTWpZeE1USXlNVFl3TXpRM1doZ1BNakV5TmpFdwpNamt4TmpBek5EZGFNQll4RkRBU0JnTlZCQU1NQzJWNFlXMXdiR1V1WTI5dE1Ga3dFd1lIS29aSXpqMENBUVlJCktvWkl6ajBEQVFjRFFnQUVlSnFJZ3pQWmlWVXQyOSswaExTU0R5Z2NHcDROM0REaTFVL05MclF2dXVzN25QQXQKKzNMNTRWRzdEckF5RG5xNzBDZHprZjZZcUIrWkJQR2RVWS9LTGFONk1IZ3dIUVlEVlIwT0JCWUVGT3Bvdy91Rgp5UTFMSDRCSEcyajMrd0dFWmdBY01COEdBMVVkSXdRWU1CYUFGT3Bvdy91RnlRMUxINEJIRzJqMyt3R0VaZ0FjCk1BOEdBMVVkRXdFQi93UUZNQU1CQWY4d0pRWURWUjBSQkI0d0hJSUxaWGhoYlhCc1pTNWpiMjJDRFNvdVpYaGgKYlhCc1pTNWpiMjB3Q2dZSUtvWkl6ajBFQXdJRFJ3QXdSQUlnUitKS01qY25CYVVoWUptSmtPOEwvKytJZTh4cgpGNllnamYvdE5nOFRFNThDSURoYXBKcHZBcWRjYTE4YUFKYVdPMDNDaWNXWlRnL0VuYU5sbXFONGc1Sy8KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=, tls.key: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JR0hBZ0VBTUJNR0J5cUdTTTQ5QWdFR0NDcUdTTTQ5QXdFSEJHMHdhd0lCQVFRZ2VHbXpRSXF2cm1GNmxFVDgKU0tETTF2UmtKMXhQZGQvQWxhdE9VZVdldDZhaFJBTkNBQVI0bW9pRE05bUpWUzNiMzdTRXRKSVBLQndhbmczYwpNT0xWVDgwdXRDKzY2enVjOEMzN2N2bmhVYnNPc0RJT2VydlFKM09SL3Bpb0g1a0U4WjFSajhvdAotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg== }
`;

function gateway(listeners: string, extra = ""): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: apps, generation: 1 }
spec:
  gatewayClassName: strait
  ${extra}
  listeners:
${listeners}`;
}

const https = (name: string, port: number, hostname?: string) =>
  `  - { name: ${name}, protocol: HTTPS, port: ${port}, ${hostname === undefined ? "" : `hostname: "${hostname}", `}tls: { certificateRefs: [{ name: cert }] } }\n`;

describe("OverlappingTLSConfig", () => {
  it("the spec's example: A and C overlap, B does not, and nothing overlaps across ports", () => {
    const out = onePass(
      storeOf(
        BASE,
        SECRET,
        gateway(
          https("a", 443, "foo.example.com") +
            https("b", 443, "foo.example.org") +
            https("c", 443, "*.example.com") +
            https("d", 8443, "foo.example.com"),
        ),
      ),
    );
    const gw = statusOf(out, "Gateway", "apps", "gw");
    for (const name of ["a", "c"])
      expect(conditionOf(listenerOf(gw, name).conditions, "OverlappingTLSConfig")).toMatchObject({
        status: "True",
        reason: "OverlappingHostnames",
      });
    for (const name of ["b", "d"])
      expect(conditionOf(listenerOf(gw, name).conditions, "OverlappingTLSConfig")).toBeUndefined();
    // Both keep serving: the condition warns, it does not reject.
    for (const name of ["a", "b", "c", "d"])
      expect(conditionOf(listenerOf(gw, name).conditions, "Programmed")?.status).toBe("True");
  });

  it("a listener without a hostname overlaps every other TLS listener of its port; HTTP listeners never", () => {
    const out = onePass(
      storeOf(
        BASE,
        SECRET,
        gateway(
          `${https("any", 443)}${https("one", 443, "one.example.com")}  - { name: plain, protocol: HTTP, port: 80 }\n`,
        ),
      ),
    );
    const gw = statusOf(out, "Gateway", "apps", "gw");
    expect(conditionOf(listenerOf(gw, "any").conditions, "OverlappingTLSConfig")?.status).toBe("True");
    expect(conditionOf(listenerOf(gw, "one").conditions, "OverlappingTLSConfig")?.status).toBe("True");
    expect(conditionOf(listenerOf(gw, "plain").conditions, "OverlappingTLSConfig")).toBeUndefined();
  });

  it("a ListenerSet listener overlapping a Gateway listener: both get it", () => {
    const out = onePass(
      storeOf(
        BASE,
        SECRET,
        gateway(https("wild", 443, "*.example.com"), "allowedListeners: { namespaces: { from: Same } }"),
        `apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: { name: ls, namespace: apps, generation: 1 }
spec:
  parentRef: { name: gw }
  listeners: [{ name: foo, protocol: HTTPS, port: 443, hostname: foo.example.com, tls: { certificateRefs: [{ name: cert }] } }]`,
      ),
    );
    expect(
      conditionOf(
        listenerOf(statusOf(out, "Gateway", "apps", "gw"), "wild").conditions,
        "OverlappingTLSConfig",
      )?.message,
    ).toMatch(/listener foo of ListenerSet apps\/ls/);
    expect(
      conditionOf(
        listenerOf(statusOf(out, "ListenerSet", "apps", "ls"), "foo").conditions,
        "OverlappingTLSConfig",
      )?.status,
    ).toBe("True");
  });
});

describe("a rejected listener claims no port", () => {
  it.each([
    ["an unsupported protocol", "  - { name: first, protocol: UDP, port: 80 }\n", "UnsupportedProtocol"],
    [
      "an allowedRoutes that admits nothing",
      "  - { name: first, protocol: HTTP, port: 80, allowedRoutes: { namespaces: { from: Selector } } }\n",
      "UnsupportedValue",
    ],
  ])("%s", (_name, first, reason) => {
    const out = onePass(
      storeOf(
        BASE,
        SECRET,
        gateway(
          `${first}  - { name: second, protocol: HTTPS, port: 80, tls: { certificateRefs: [{ name: cert }] } }\n`,
        ),
      ),
    );
    const gw = statusOf(out, "Gateway", "apps", "gw");
    expect(conditionOf(listenerOf(gw, "first").conditions, "Accepted")).toMatchObject({
      status: "False",
      reason,
    });
    const second = listenerOf(gw, "second");
    expect(conditionOf(second.conditions, "Conflicted")).toMatchObject({
      status: "False",
      reason: "NoConflicts",
    });
    expect(conditionOf(second.conditions, "Programmed")?.status).toBe("True");
    expect(out.model.ports.map((p) => p.port)).toEqual([80]);
  });
});

describe("a listener of a protocol strait does not serve", () => {
  // The official suite (ListenerSetProtocolConflict, ListenerSetAllowedRoutesSupportedKinds) expects
  // the conflict and route-kind reasons whatever the protocol.
  it("is Conflicted when it conflicts with an earlier listener, and claims nothing either way", () => {
    const out = onePass(
      storeOf(
        BASE,
        SECRET,
        gateway(`  - { name: web, protocol: HTTP, port: 80 }\n  - { name: tcp, protocol: TCP, port: 80 }\n`),
      ),
    );
    const tcp = listenerOf(statusOf(out, "Gateway", "apps", "gw"), "tcp");
    expect(conditionOf(tcp.conditions, "Accepted")).toMatchObject({
      status: "False",
      reason: "ProtocolConflict",
    });
    expect(conditionOf(tcp.conditions, "Conflicted")).toMatchObject({
      status: "True",
      reason: "ProtocolConflict",
    });
  });

  it("reports route kinds it cannot carry as InvalidRouteKinds", () => {
    const out = onePass(
      storeOf(
        BASE,
        gateway(
          `  - { name: udp, protocol: UDP, port: 5353, allowedRoutes: { kinds: [{ kind: HTTPRoute }] } }\n`,
        ),
      ),
    );
    const udp = listenerOf(statusOf(out, "Gateway", "apps", "gw"), "udp");
    expect(conditionOf(udp.conditions, "Accepted")?.reason).toBe("UnsupportedProtocol");
    expect(conditionOf(udp.conditions, "ResolvedRefs")).toMatchObject({
      status: "False",
      reason: "InvalidRouteKinds",
    });
  });
});

describe("Gateway conditions sum up the listeners", () => {
  it("ResolvedRefs is False, with the listener's reason, when a listener's is", () => {
    const out = onePass(
      storeOf(
        BASE,
        SECRET,
        gateway(
          `  - { name: web, protocol: HTTP, port: 80 }\n  - { name: broken, protocol: HTTPS, port: 443, tls: { certificateRefs: [{ name: missing }] } }\n`,
        ),
      ),
    );
    const gw = statusOf(out, "Gateway", "apps", "gw");
    expect(conditionOf(listenerOf(gw, "broken").conditions, "ResolvedRefs")).toMatchObject({
      status: "False",
      reason: "InvalidCertificateRef",
    });
    expect(conditionOf(gw.status.conditions, "ResolvedRefs")).toMatchObject({
      status: "False",
      reason: "InvalidCertificateRef",
    });
  });

  it("ResolvedRefs is True when every listener's is", () => {
    const out = onePass(storeOf(BASE, SECRET, gateway(https("ok", 443))));
    expect(
      conditionOf(statusOf(out, "Gateway", "apps", "gw").status.conditions, "ResolvedRefs")?.status,
    ).toBe("True");
  });
});
