/**
 * The xDS server's TLS from the built-in CA (--xds-tls-builtin-ca): a server
 * certificate made and signed in this replica for the xDS server names,
 * renewed at half its lifetime, and the CA root as the only CA client
 * certificates may chain to. Every replica makes its own certificate from the
 * shared root, so clients see the same trust on each.
 */
import type { PeerCertificate } from "node:tls";
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import type { CertificateAuthority } from "../auth/builtin-ca/authority.ts";
import { issueXdsServerCertificate, RenewingCertificate } from "../auth/builtin-ca/xds-certificates.ts";
import { derToPem, parseCertificate } from "../auth/certificate.ts";
import { parseSpiffeId, type TrustDomain } from "../auth/spiffe-id.ts";
import { announcedNode, type NodeInfo } from "../xds/cache/node.ts";
import type { XdsTls, XdsTlsSource } from "../xds/server/index.ts";

export interface BuiltinXdsTls {
  readonly source: XdsTlsSource;
  /** A node's certificate speaks only for that node (see nodeAuthorization). */
  readonly authorizeNode: (node: NodeInfo, peer: PeerCertificate | undefined) => string | undefined;
  stop(): void;
}

const NODE_CERT = /^\/strait-node\/([^/]+)\/(agent|envoy)$/;

/**
 * The built-in CA's rule for xDS clients: the certificate must be a node's
 * (`spiffe://<td>/strait-node/<node>/<role>`), and the node the client
 * announces (`strait.dev/node` metadata, else its node id) must be that node,
 * so one node's certificate never gets another node's resources (its
 * policies, its Envoy's listeners and secrets).
 */
export function nodeAuthorization(
  trustDomain: TrustDomain,
): (node: NodeInfo, peer: PeerCertificate | undefined) => string | undefined {
  return (node, peer) => {
    if (peer?.raw === undefined) return "no client certificate";
    const parsed = parseCertificate(peer.raw);
    if (!parsed.ok) return `client certificate: ${parsed.error}`;
    const uri = parsed.value.uriSans.length === 1 ? parsed.value.uriSans[0] : undefined;
    const id = uri === undefined ? undefined : parseSpiffeId(uri);
    const m = id?.ok && id.value.trustDomain === trustDomain ? NODE_CERT.exec(id.value.path) : null;
    if (m === null) return "the client certificate is not a node's xDS certificate";
    const certNode = m[1] ?? "";
    const announced = announcedNode(node) ?? node.id;
    return announced === certNode
      ? undefined
      : `node ${certNode}'s certificate cannot speak for node "${announced}"`;
  };
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
    authorizeNode: nodeAuthorization(ca.trustDomain),
    stop: () => certificate.stop(),
  };
}
