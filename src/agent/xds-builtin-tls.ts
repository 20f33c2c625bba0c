/**
 * The agent's xDS certificates from the built-in CA (--xds-tls-builtin-ca):
 * its own client certificate, which each new xDS connection uses, and, with
 * --envoy-xds-cert-dir, the node's Envoy's, written as a file-based SDS
 * secret that Envoy's bootstrap watches (a complete new file renamed over
 * the old, so Envoy reloads it whole). Both come from the issuer with the
 * node token, the way the agent's SVIDs do, and are renewed at half their
 * lifetime; while the issuer cannot be reached the agent retries with
 * back-off, and the xDS source waits for a first certificate.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { PeerCertificate } from "node:tls";
import type { Logger } from "pino";
import { agentTrustDomain, builtinCaIssuerSettings } from "../auth/agent-auth.ts";
import type { IssuerEndpoint } from "../auth/builtin-ca/issuer-client.ts";
import { controllerId } from "../auth/builtin-ca/names.ts";
import {
  type CertificatePair,
  fetchXdsClientCertificate,
  RenewingCertificate,
} from "../auth/builtin-ca/xds-certificates.ts";
import { derToPem } from "../auth/certificate.ts";
import { bundleSet, trustBundle } from "../auth/trust-bundle.ts";
import { validateX509Svid } from "../auth/x509-svid.ts";
import { booleanSetting, type Settings, stringSetting } from "../controller/config.ts";
import { sdsTlsCertificateFile, XDS_CLIENT_SECRET, XDS_CLIENT_SECRET_FILE } from "../envoy/bootstrap.ts";
import { ERROR_CODES, StraitError } from "../errors.ts";
import type { XdsClientTls } from "./xds-source.ts";

export interface AgentXdsCertificates {
  /** The agent's TLS for a new xDS connection; undefined until a first certificate arrived. */
  tls(): XdsClientTls | undefined;
  readonly agent: RenewingCertificate;
  readonly envoy: RenewingCertificate | undefined;
  stop(): void;
}

/** Writes `pair` as Envoy's SDS file in `dir`: a new file, then one rename over the old. */
export function writeEnvoyXdsCertificate(dir: string, pair: CertificatePair): void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, XDS_CLIENT_SECRET_FILE);
  const tmp = join(dir, `.${XDS_CLIENT_SECRET_FILE}.${process.pid}.tmp`);
  writeFileSync(tmp, sdsTlsCertificateFile(XDS_CLIENT_SECRET, pair.chainPem, pair.keyPem), { mode: 0o600 });
  renameSync(tmp, path);
}

/** Undefined without --xds-tls-builtin-ca. Issuing starts in the background. */
export function startAgentXdsCertificates(
  settings: Settings,
  logger: Logger,
  options: { readonly now?: () => Date; readonly retryMinMs?: number } = {},
): AgentXdsCertificates | undefined {
  if (!booleanSetting(settings, "xdsTlsBuiltinCa")) return undefined;
  for (const [key, flag] of [
    ["xdsTlsCert", "--xds-tls-cert"],
    ["xdsTlsKey", "--xds-tls-key"],
    ["xdsCa", "--xds-ca"],
  ] as const) {
    if (stringSetting(settings, key) !== undefined)
      throw new StraitError(ERROR_CODES.CONFIG, `--xds-tls-builtin-ca contradicts ${flag}: pick one`);
  }
  const trustDomain = agentTrustDomain(settings);
  const given = builtinCaIssuerSettings(settings, "--xds-tls-builtin-ca");
  const bundle = trustBundle(trustDomain, [given.rootDer]);
  if (!bundle.ok) throw new StraitError(ERROR_CODES.CONFIG, `--builtin-ca-root: ${bundle.error}`);
  const now = options.now ?? (() => new Date());
  const issuer: IssuerEndpoint = {
    url: given.url,
    nodeToken: given.nodeToken,
    trustDomain,
    rootDer: given.rootDer,
    bundles: bundleSet(bundle.value),
    now,
  };
  const node = stringSetting(settings, "nodeName") ?? hostname();
  const log = logger.child({ component: "xds-tls" });
  const renewing = (role: "agent" | "envoy") =>
    new RenewingCertificate({
      what: `xDS client (${role})`,
      issue: () => fetchXdsClientCertificate(issuer, node, role),
      now,
      logger: log,
      ...(options.retryMinMs === undefined ? {} : { retryMinMs: options.retryMinMs }),
    });
  const agent = renewing("agent");
  const dir = stringSetting(settings, "envoyXdsCertDir");
  const envoy = dir === undefined ? undefined : renewing("envoy");
  if (dir !== undefined && envoy !== undefined) {
    envoy.onChange((pair) => {
      try {
        writeEnvoyXdsCertificate(dir, pair);
      } catch (error) {
        log.error({ err: error, dir }, "cannot write the Envoy's xDS client certificate");
      }
    });
  }
  void agent.start();
  void envoy?.start();
  const ca = Buffer.from(derToPem(given.rootDer));
  const server = controllerId(trustDomain);
  // The server is known by its SPIFFE ID under the root, as the issuer is.
  const checkServer = (cert: PeerCertificate): Error | undefined => {
    const v = validateX509Svid([cert.raw], issuer.bundles, {
      role: "server",
      now: now(),
      expectedId: server,
    });
    return v.ok ? undefined : new Error(`the xDS server is not the controller: ${v.error.message}`);
  };
  return {
    agent,
    envoy,
    tls() {
      const pair = agent.current();
      if (pair === undefined) return undefined;
      return { ca, cert: Buffer.from(pair.chainPem), key: Buffer.from(pair.keyPem), checkServer };
    },
    stop() {
      agent.stop();
      envoy?.stop();
    },
  };
}
