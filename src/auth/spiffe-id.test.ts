import { describe, expect, it } from "vitest";
import {
  DEFAULT_TRUST_DOMAIN,
  formatSpiffeId,
  identityOfServerName,
  identityOfSpiffeId,
  identityServerName,
  identitySpiffeId,
  parseSpiffeId,
  parseTrustDomain,
  type TrustDomain,
} from "./spiffe-id.ts";

describe("parseSpiffeId (SPIFFE ID spec 2.1-2.3)", () => {
  it.each([
    ["spiffe://strait.local", "strait.local", ""],
    ["spiffe://strait.local/identity/1002", "strait.local", "/identity/1002"],
    ["spiffe://a-b_c.d0/ns/Default/sa/x.y-z_", "a-b_c.d0", "/ns/Default/sa/x.y-z_"],
  ])("accepts %s", (text, td, path) => {
    const r = parseSpiffeId(text);
    expect(r).toEqual({ ok: true, value: { trustDomain: td, path } });
    if (r.ok) expect(formatSpiffeId(r.value)).toBe(text);
  });

  it.each([
    ["", /scheme/],
    ["http://strait.local/x", /scheme/],
    ["SPIFFE://strait.local/x", /scheme/],
    ["spiffe:///path", /trust domain is missing/],
    ["spiffe://Strait.local/x", /lowercase/],
    ["spiffe://strait.local:8443/x", /port/],
    ["spiffe://user@strait.local/x", /userinfo/],
    ["spiffe://strait.local/x?q=1", /query/],
    ["spiffe://strait.local/x#f", /fragment/],
    ["spiffe://strait.local/a%20b", /percent/],
    ["spiffe://strait.local/", /trailing slash/],
    ["spiffe://strait.local/a/", /trailing slash/],
    ["spiffe://strait.local//a", /empty segments/],
    ["spiffe://strait.local/a/../b", /dot segments/],
    ["spiffe://strait.local/./b", /dot segments/],
    ["spiffe://strait.local/a b", /letters, numbers/],
    ["spiffe://strait.local/é", /letters, numbers/],
    [`spiffe://strait.local/${"a".repeat(2048)}`, /2048 bytes/],
    [`spiffe://${"a".repeat(256)}/x`, /255/],
  ])("rejects %s", (text, reason) => {
    const r = parseSpiffeId(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(reason);
  });
});

describe("identity mapping", () => {
  const td = DEFAULT_TRUST_DOMAIN;
  it("maps identity N to spiffe://<td>/identity/N and back", () => {
    expect(formatSpiffeId(identitySpiffeId(td, 1002))).toBe("spiffe://strait.local/identity/1002");
    expect(identityOfSpiffeId(identitySpiffeId(td, 1002), td)).toEqual({ ok: true, value: 1002 });
  });
  it("refuses IDs of another trust domain or another path", () => {
    const other = parseTrustDomain("other.example");
    if (!other.ok) throw new Error(other.error);
    expect(identityOfSpiffeId(identitySpiffeId(other.value, 5), td).ok).toBe(false);
    const r = parseSpiffeId("spiffe://strait.local/identity/01");
    if (!r.ok) throw new Error(r.error);
    expect(identityOfSpiffeId(r.value, td).ok).toBe(false);
    const big = parseSpiffeId("spiffe://strait.local/identity/4294967296");
    if (!big.ok) throw new Error(big.error);
    expect(identityOfSpiffeId(big.value, td).ok).toBe(false);
  });
  it("names the server N.<td> and parses it back strictly", () => {
    expect(identityServerName(td, 1002)).toBe("1002.strait.local");
    expect(identityOfServerName("1002.strait.local", td)).toEqual({ ok: true, value: 1002 });
    expect(identityOfServerName("1002.other.local", td).ok).toBe(false);
    expect(identityOfServerName("x.strait.local", td).ok).toBe(false);
    expect(identityOfServerName("1002.strait.local.evil", "strait.local.evil" as TrustDomain).ok).toBe(true);
  });
});
