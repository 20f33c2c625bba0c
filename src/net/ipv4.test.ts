import { describe, expect, it } from "vitest";
import { parseIpv4, parseIpv4Prefix } from "./ipv4.ts";

describe("IPv4 parsing", () => {
  it("takes dotted quads of 0..255 without leading zeros, and nothing else", () => {
    expect(parseIpv4("10.0.255.1")).toEqual({ ok: true, value: [10, 0, 255, 1] });
    expect(parseIpv4("0.0.0.0")).toEqual({ ok: true, value: [0, 0, 0, 0] });
    for (const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "1..2.3",
      "1.2.3.",
      ".1.2.3",
      "01.2.3.4",
      "1.2.3.256",
      "1.2.3.4 ",
      "1.2.3.a",
      "1.2.3.1000",
      "1.2.3.٣",
    ]) {
      expect(parseIpv4(bad), bad).toEqual({ ok: false, error: `"${bad}" is not an IPv4 address` });
    }
  });

  it("takes a.b.c.d/0..32 or a bare address as /32, with host bits clear", () => {
    expect(parseIpv4Prefix("10.1.0.0/16")).toEqual({
      ok: true,
      value: { octets: [10, 1, 0, 0], length: 16 },
    });
    expect(parseIpv4Prefix("10.1.2.3")).toEqual({ ok: true, value: { octets: [10, 1, 2, 3], length: 32 } });
    expect(parseIpv4Prefix("0.0.0.0/0")).toEqual({ ok: true, value: { octets: [0, 0, 0, 0], length: 0 } });
    for (const bad of [
      "10.0.0.0/",
      "10.0.0.0/33",
      "10.0.0.0/08",
      "10.0.0.0/00",
      "10.0.0.0/8/8",
      "10.0.0.0/x",
      "10.0.0.0/100",
    ]) {
      expect(parseIpv4Prefix(bad), bad).toEqual({
        ok: false,
        error: `"${bad}" is not an IPv4 prefix (a.b.c.d/0..32)`,
      });
    }
    expect(parseIpv4Prefix("10.0.0.1/24")).toEqual({
      ok: false,
      error: '"10.0.0.1/24" has host bits set past /24',
    });
    expect(parseIpv4Prefix("10.0.0.01/24")).toEqual({
      ok: false,
      error: '"10.0.0.01" is not an IPv4 address',
    });
  });
});
