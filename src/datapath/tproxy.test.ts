import { describe, expect, it } from "vitest";
import { tproxyRuleset } from "./tproxy.ts";

describe("TPROXY ruleset", () => {
  it("has one TPROXY rule per proxy port and protocol, matching Cilium's mark, after the transparent-socket rule", () => {
    const rules = tproxyRuleset([15002, 15001, 15001]);
    const lines = rules.split("\n").map((l) => l.trim());
    expect(lines).toContain("type filter hook prerouting priority mangle; policy accept;");
    const socketRule = lines.findIndex((l) => l.startsWith("meta l4proto { tcp, udp } socket transparent 1"));
    const first = lines.findIndex((l) => l.includes("tproxy to"));
    expect(socketRule).toBeGreaterThan(0);
    expect(first).toBeGreaterThan(socketRule);
    expect(lines.filter((l) => l.includes("tproxy to"))).toEqual([
      "meta mark 0x993a0200 meta l4proto tcp tproxy to 127.0.0.1:15001 meta mark set 0x00000200 accept",
      "meta mark 0x993a0200 meta l4proto udp tproxy to 127.0.0.1:15001 meta mark set 0x00000200 accept",
      "meta mark 0x9a3a0200 meta l4proto tcp tproxy to 127.0.0.1:15002 meta mark set 0x00000200 accept",
      "meta mark 0x9a3a0200 meta l4proto udp tproxy to 127.0.0.1:15002 meta mark set 0x00000200 accept",
    ]);
  });

  it("leaves the flows marked for a proxy untracked, before any NAT rule of the node could rewrite their destination", () => {
    const lines = tproxyRuleset([15003])
      .split("\n")
      .map((l) => l.trim());
    const raw = lines.indexOf("type filter hook prerouting priority raw; policy accept;");
    expect(raw).toBeGreaterThan(0);
    expect(lines[raw + 1]).toBe("meta mark & 0x00000f00 == 0x00000200 notrack");
    expect(lines.indexOf("type filter hook prerouting priority mangle; policy accept;")).toBeGreaterThan(raw);
  });

  it("leaves the proxy's side of those flows untracked too, by the mark its transparent listeners set", () => {
    const lines = tproxyRuleset([15003])
      .split("\n")
      .map((l) => l.trim());
    const output = lines.indexOf("type filter hook output priority raw; policy accept;");
    expect(output).toBeGreaterThan(0);
    expect(lines[output + 1]).toBe("meta mark & 0x00000f00 == 0x00000b00 notrack");
  });
});
