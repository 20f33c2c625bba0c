import { describe, expect, it } from "vitest";
import { formatFlow } from "../cli/flow-format.ts";
import { matchesFlow } from "./flow-filter.ts";
import type { Flow } from "./flows.ts";

const flow: Flow = {
  time: "2026-12-01T08:10:48.123Z",
  verdict: "DROPPED",
  dropReason: "policy denied",
  eventType: "drop",
  direction: "egress",
  observationPoint: "from-endpoint",
  endpointId: 1,
  protocol: "TCP",
  source: { ip: "10.0.0.1", port: 40000, identity: 1001, pod: "default/a" },
  destination: { ip: "10.0.0.2", port: 80, identity: 1002 },
  tcpFlags: ["SYN"],
};

describe("strait observe filters and format", () => {
  it("matches by IP, pod, identity, verdict and port", () => {
    expect(matchesFlow(flow, { from: ["default/a"], to: ["10.0.0.2"] })).toBe(true);
    expect(matchesFlow(flow, { from: ["ID:1001"], to: ["identity:1002"] })).toBe(true);
    expect(matchesFlow(flow, { from: ["10.0.0.2"] })).toBe(false);
    expect(matchesFlow(flow, { verdict: ["dropped"] })).toBe(true);
    expect(matchesFlow(flow, { verdict: ["FORWARDED"] })).toBe(false);
    expect(matchesFlow(flow, { port: [40000] })).toBe(true);
    expect(matchesFlow(flow, { port: [443] })).toBe(false);
  });

  it("prints like hubble observe", () => {
    expect(formatFlow(flow)).toBe(
      "Dec  1 08:10:48.123: default/a:40000 (ID:1001) -> 10.0.0.2:80 (ID:1002) policy denied DROPPED (TCP Flags: SYN)",
    );
    expect(
      formatFlow({ ...flow, verdict: "REDIRECTED", eventType: "policy-verdict", proxyPort: 15001 }),
    ).toBe(
      "Dec  1 08:10:48.123: default/a:40000 (ID:1001) -> 10.0.0.2:80 (ID:1002) policy-verdict:L3-L4 EGRESS REDIRECTED to-proxy:15001 (TCP Flags: SYN)",
    );
  });
});
