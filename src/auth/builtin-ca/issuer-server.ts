/**
 * The built-in CA's issuing endpoint (in the controller): HTTPS, TLS 1.3
 * only, the server presenting its own SVID (`spiffe://<td>/strait-controller`).
 * An agent authenticates with its node token (Authorization: Bearer), sends
 * the public key it made for a security identity, and gets an X.509-SVID
 * back when `mayIssue(node, identity)` allows it (the identity has endpoints
 * on that node). The agent trusts the server through the bundle it was
 * given out of band (the Secret's ca.crt, as SPIRE's trust_bundle_path).
 *
 *   GET  /v1/bundle            { trustDomain, roots: [base64 DER] }
 *   POST /v1/svids             { identity, publicKey: SPKI PEM } → { chain: [base64 DER] }
 *   POST /v1/xds-certificates  { role: "agent" | "envoy", publicKey } → { chain }
 *
 * The xDS certificate names the node the token belongs to
 * (`spiffe://<td>/strait-node/<node>/<role>`, xds-certificates.ts): the
 * client certificate that node's agent and Envoy present to the xDS server.
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { derToPem } from "../certificate.ts";
import { generateKeyPair, privateKeyPem } from "../issue.ts";
import { identitySpiffeId, type SpiffeId } from "../spiffe-id.ts";
import type { CertificateAuthority } from "./authority.ts";
import { CONTROLLER_PATH, XDS_CLIENT_ROLES, xdsClientId } from "./names.ts";
import { DEFAULT_XDS_CERT_TTL_MS } from "./xds-certificates.ts";

const MAX_BODY = 16 * 1024;

export interface IssuerServerOptions {
  readonly ca: CertificateAuthority;
  /** Node token → node name. */
  readonly nodeTokens: ReadonlyMap<string, string>;
  readonly mayIssue: (node: string, identity: number) => boolean;
  readonly svidTtlMs?: number;
  readonly now?: () => Date;
  readonly onIssued?: (node: string, identity: number) => void;
  /** Lifetime of the xDS client certificates (default DEFAULT_XDS_CERT_TTL_MS). */
  readonly xdsCertTtlMs?: number;
  readonly onXdsIssued?: (node: string, role: string) => void;
}

export interface RunningIssuer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

function nodeOf(header: string | undefined, tokens: ReadonlyMap<string, string>): string | undefined {
  const m = /^Bearer (\S+)$/.exec(header ?? "");
  if (m === null) return undefined;
  const given = Buffer.from(m[1] ?? "");
  for (const [token, node] of tokens) {
    const want = Buffer.from(token);
    if (want.length === given.length && timingSafeEqual(want, given)) return node;
  }
  return undefined;
}

export async function startIssuerServer(
  options: IssuerServerOptions,
  listen: { readonly host: string; readonly port: number },
): Promise<RunningIssuer> {
  const now = options.now ?? (() => new Date());
  const { ca } = options;
  const keys = await generateKeyPair();
  const { createPublicKey } = await import("node:crypto");
  const { webcrypto } = await import("node:crypto");
  const spki = Buffer.from(await webcrypto.subtle.exportKey("spki", keys.publicKey));
  const publicKeyPem = createPublicKey({ key: spki, format: "der", type: "spki" }).export({
    type: "spki",
    format: "pem",
  }) as string;
  const self: SpiffeId = { trustDomain: ca.trustDomain, path: CONTROLLER_PATH };
  const issued = await ca.issue(self, publicKeyPem, now(), 30 * 24 * 3600_000);
  if (!issued.ok) throw new TypeError(issued.error);

  const issueXds = async (
    node: string,
    body: { role?: unknown; publicKey?: unknown },
    send: (status: number, body: unknown) => void,
  ) => {
    const role = XDS_CLIENT_ROLES.find((r) => r === body.role);
    if (role === undefined) {
      send(400, { error: `role: must be one of ${XDS_CLIENT_ROLES.join(", ")}` });
      return;
    }
    if (typeof body.publicKey !== "string") {
      send(400, { error: "publicKey: must be an SPKI PEM string" });
      return;
    }
    const id = xdsClientId(ca.trustDomain, node, role);
    const r = await ca.issue(id, body.publicKey, now(), options.xdsCertTtlMs ?? DEFAULT_XDS_CERT_TTL_MS);
    if (!r.ok) {
      send(400, { error: r.error });
      return;
    }
    options.onXdsIssued?.(node, role);
    send(200, { chain: [r.value.toString("base64")] });
  };

  const server = createServer(
    {
      minVersion: "TLSv1.3",
      cert: derToPem(issued.value),
      key: await privateKeyPem(keys.privateKey),
    },
    (req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (req.method === "GET" && req.url === "/v1/bundle") {
        send(200, { trustDomain: ca.trustDomain, roots: [ca.rootDer.toString("base64")] });
        return;
      }
      const path = req.url;
      if (req.method !== "POST" || (path !== "/v1/svids" && path !== "/v1/xds-certificates")) {
        send(404, { error: "not found" });
        return;
      }
      const node = nodeOf(req.headers.authorization, options.nodeTokens);
      if (node === undefined) {
        send(401, { error: "unknown node token" });
        req.resume();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy();
        else chunks.push(c);
      });
      req.on("end", () => {
        void (async () => {
          let body: { identity?: unknown; publicKey?: unknown; role?: unknown };
          try {
            body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof body;
          } catch {
            send(400, { error: "body is not JSON" });
            return;
          }
          if (typeof body !== "object" || body === null) {
            send(400, { error: "body must be a JSON object" });
            return;
          }
          if (path === "/v1/xds-certificates") {
            await issueXds(node, body, send);
            return;
          }
          const identity = body.identity;
          if (
            typeof identity !== "number" ||
            !Number.isInteger(identity) ||
            identity < 1 ||
            identity > 0xffffffff
          ) {
            send(400, { error: "identity: must be an integer in 1..4294967295" });
            return;
          }
          if (typeof body.publicKey !== "string") {
            send(400, { error: "publicKey: must be an SPKI PEM string" });
            return;
          }
          if (!options.mayIssue(node, identity)) {
            send(403, { error: `node ${node} has no endpoint of identity ${identity}` });
            return;
          }
          const r = await ca.issue(
            identitySpiffeId(ca.trustDomain, identity),
            body.publicKey,
            now(),
            options.svidTtlMs,
          );
          if (!r.ok) {
            send(400, { error: r.error });
            return;
          }
          options.onIssued?.(node, identity);
          send(200, { chain: [r.value.toString("base64")] });
        })();
      });
    },
  );
  // A slow or silent client must not hold a connection for long.
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `https://${host}:${address.port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
