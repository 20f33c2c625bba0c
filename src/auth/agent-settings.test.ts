import { describe, expect, it } from "vitest";
import { authSettingsMismatch } from "./agent-auth.ts";
import { parseTrustDomain } from "./spiffe-id.ts";

describe("the controller's AuthSettings against the agent's own", () => {
  const td = parseTrustDomain("strait.local");
  if (!td.ok) throw new Error(td.error);

  it("fit when the trust domains agree or the controller sends none", () => {
    expect(authSettingsMismatch(td.value, { trustDomain: "strait.local" })).toBeUndefined();
    expect(authSettingsMismatch(td.value, {})).toBeUndefined();
  });

  it("report another trust domain, naming both and the flag", () => {
    expect(authSettingsMismatch(td.value, { trustDomain: "prod.example" })).toBe(
      'the controller\'s trust domain is "prod.example", this agent\'s --trust-domain is "strait.local": handshakes with agents of the controller\'s trust domain will fail',
    );
  });
});
