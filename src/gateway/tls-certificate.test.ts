import { describe, expect, it } from "vitest";
import { ENCRYPTED_KEY, OTHER_KEY, PUBLIC_KEY, TEST_CERT, TEST_KEY } from "../../scripts/hostile-corpus.ts";
import type { ObjectOf } from "../resources/objects.ts";
import { validateCaBundle, validateTlsSecret } from "./tls-certificate.ts";

const secret = (crt: string, key: string) =>
  ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "cert", namespace: "ns" },
    type: "kubernetes.io/tls",
    data: { "tls.crt": Buffer.from(crt).toString("base64"), "tls.key": Buffer.from(key).toString("base64") },
  }) as unknown as ObjectOf<"Secret">;

const problem = (crt: string, key: string) => {
  const r = validateTlsSecret(secret(crt, key));
  return r.ok ? undefined : r.error;
};

describe("TLS Secrets and CA bundles (the corpus' real certificates)", () => {
  it("accepts a certificate with its key, and names the certificate's DNS names", () => {
    const r = validateTlsSecret(secret(TEST_CERT, TEST_KEY));
    expect(r.ok && r.value.dnsNames).toEqual(["hostile.example"]);
  });

  it("refuses keys that do not fit, each with a reason a user can act on", () => {
    expect(problem(TEST_CERT, OTHER_KEY)).toBe("tls.key does not match the certificate in tls.crt");
    expect(problem(TEST_CERT, ENCRYPTED_KEY)).toBe(
      "tls.key is encrypted with a passphrase; Envoy needs an unencrypted private key",
    );
    expect(problem(TEST_CERT, PUBLIC_KEY)).toMatch(/^tls.key is not a valid private key/);
    expect(problem(TEST_KEY, TEST_CERT)).toBe("tls.crt holds no PEM certificate");
    expect(problem(TEST_CERT, "")).toBe("Secret has no tls.key");
  });

  it("takes a CA bundle of certificates only", () => {
    expect(validateCaBundle(TEST_CERT).ok).toBe(true);
    expect(validateCaBundle(TEST_KEY)).toMatchObject({ ok: false, error: "ca.crt holds no PEM certificate" });
    expect(validateCaBundle("")).toMatchObject({ ok: false, error: "no ca.crt" });
  });
});
