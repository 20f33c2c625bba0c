/**
 * The xDS server's TLS from the built-in CA (--xds-tls-builtin-ca): a server
 * certificate made and signed in this replica for the xDS server names,
 * renewed at half its lifetime, and the CA root as the only CA client
 * certificates may chain to. Every replica makes its own certificate from the
 * shared root, so clients see the same trust on each.
 */
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import type { CertificateAuthority } from "../auth/builtin-ca/authority.ts";
import { issueXdsServerCertificate, RenewingCertificate } from "../auth/builtin-ca/xds-certificates.ts";
import { derToPem } from "../auth/certificate.ts";
import type { XdsTls, XdsTlsSource } from "../xds/server/index.ts";

export interface BuiltinXdsTls {
  readonly source: XdsTlsSource;
  stop(): void;
}

export async function startBuiltinXdsTls(
  ca: CertificateAuthority,
  config: { readonly serverNames: readonly string[]; readonly certTtlMs: number },
  logger: Logger,
  registry: Registry,
): Promise<BuiltinXdsTls> {
  const renewed = new Counter({
    name: "strait_xds_server_certificates_issued_total",
    help: "xDS server certificates the built-in CA made for this replica (the first, then one per renewal).",
    registers: [registry],
  });
  const clientCa = Buffer.from(derToPem(ca.rootDer));
  const certificate = new RenewingCertificate({
    what: "xDS server",
    issue: () => issueXdsServerCertificate(ca, config.serverNames, new Date(), config.certTtlMs),
    logger: logger.child({ component: "xds-tls" }),
  });
  certificate.onChange(() => renewed.inc());
  // Signing here cannot fail for want of a peer; a failure is a bug, and the start fails with it.
  if (!(await certificate.start())) {
    certificate.stop();
    throw new Error("the built-in CA could not make the xDS server certificate");
  }
  const tlsOf = (): XdsTls => {
    const pair = certificate.current();
    if (pair === undefined) throw new Error("the xDS server certificate expired without renewal");
    return { cert: Buffer.from(pair.chainPem), key: Buffer.from(pair.keyPem), clientCa };
  };
  return {
    source: {
      current: tlsOf,
      onChange: (listener) => certificate.onChange(() => listener(tlsOf())),
    },
    stop: () => certificate.stop(),
  };
}
