/**
 * The agent's --xds-tls-builtin-ca settings, and the Envoy's SDS file it
 * writes: one complete file per certificate, replaced whole, that Envoy's
 * proto for a Secret accepts.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { captureLogger } from "../../test/support/capture-logger.ts";
import { CertificateAuthority } from "../auth/builtin-ca/authority.ts";
import { derToPem } from "../auth/certificate.ts";
import { DEFAULT_TRUST_DOMAIN } from "../auth/spiffe-id.ts";
import { resolveSettings } from "../controller/config.ts";
import { XDS_CLIENT_SECRET, XDS_CLIENT_SECRET_FILE } from "../envoy/bootstrap.ts";
import { validateResource } from "../xds/proto/index.ts";
import { AGENT_SETTINGS } from "./settings.ts";
import { startAgentXdsCertificates, writeEnvoyXdsCertificate } from "./xds-builtin-tls.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "strait-agent-xds-tls-"));
  dirs.push(d);
  return d;
};
const settings = (flags: Record<string, unknown>) => resolveSettings(AGENT_SETTINGS, flags, {}, undefined);
const logger = captureLogger("silent").logger;

describe("the agent's xDS certificates from the built-in CA", () => {
  it("are off without --xds-tls-builtin-ca, need the issuer's settings with it, and exclude the TLS files", async () => {
    expect(startAgentXdsCertificates(settings({}), logger)).toBeUndefined();
    expect(() => startAgentXdsCertificates(settings({ "xds-tls-builtin-ca": true }), logger)).toThrow(
      /--builtin-ca-root is required for --xds-tls-builtin-ca/,
    );
    expect(() =>
      startAgentXdsCertificates(settings({ "xds-tls-builtin-ca": true, "xds-tls-cert": "/x.crt" }), logger),
    ).toThrow(/--xds-tls-builtin-ca contradicts --xds-tls-cert/);
    const dir = tmp();
    const ca = await CertificateAuthority.generate(DEFAULT_TRUST_DOMAIN, new Date());
    writeFileSync(join(dir, "ca.crt"), derToPem(ca.rootDer));
    writeFileSync(join(dir, "token"), "token-of-node-a-0123456789");
    const certs = startAgentXdsCertificates(
      settings({
        "xds-tls-builtin-ca": true,
        "builtin-ca-url": "https://127.0.0.1:1",
        "builtin-ca-root": join(dir, "ca.crt"),
        "builtin-ca-token-file": join(dir, "token"),
      }),
      logger,
      { retryMinMs: 10_000 },
    );
    // The issuer is not there: no certificate, so no TLS to offer yet (the xDS source waits).
    expect(certs?.tls()).toBeUndefined();
    expect(certs?.envoy).toBeUndefined();
    certs?.stop();
  });

  it("writes the Envoy's certificate as one SDS Secret, mode 0600, replaced whole", () => {
    const dir = join(tmp(), "xds-tls");
    const pair = (n: number) => ({
      chainPem: `-----BEGIN CERTIFICATE-----\nchain${n}\n-----END CERTIFICATE-----\n`,
      keyPem: `-----BEGIN PRIVATE KEY-----\nkey${n}\n-----END PRIVATE KEY-----\n`,
      notAfter: new Date(),
    });
    writeEnvoyXdsCertificate(dir, pair(1));
    writeEnvoyXdsCertificate(dir, pair(2));
    expect(readdirSync(dir)).toEqual([XDS_CLIENT_SECRET_FILE]); // no temporary file left
    const file = join(dir, XDS_CLIENT_SECRET_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const doc = parse(readFileSync(file, "utf8")) as { resources: Record<string, unknown>[] };
    expect(doc.resources).toHaveLength(1);
    const secret = doc.resources[0] ?? {};
    expect(secret.name).toBe(XDS_CLIENT_SECRET);
    expect(JSON.stringify(secret)).toContain("chain2");
    const { "@type": typeUrl, ...body } = secret;
    expect(validateResource(String(typeUrl), body)).toEqual([]);
  });
});
