/**
 * The handshake's client side (protocol.ts): authenticates local identity L
 * to remote identity R on the remote node's agent. Result values only: every
 * failure comes back with a reason; the caller fails closed.
 */
import { connect, createSecureContext, type SecureContext } from "node:tls";
import { err, ok, type Result } from "../../model/result.ts";
import { derToPem } from "../certificate.ts";
import type { IdentityProvider, Svid } from "../identity-provider.ts";
import { identityServerName, identitySpiffeId } from "../spiffe-id.ts";
import { validateX509Svid } from "../x509-svid.ts";
import { PROTOCOL_VERSION, peerChain, readLine } from "./protocol.ts";

/** One TLS context per SVID: building it (parsing the key and chain) is a good part of a handshake's cost. */
const contexts = new WeakMap<Svid, SecureContext>();

function contextOf(svid: Svid): SecureContext {
  let c = contexts.get(svid);
  if (c === undefined) {
    c = createSecureContext({
      minVersion: "TLSv1.3",
      cert: svid.chainDer.map((d) => derToPem(d)).join(""),
      key: svid.keyPem,
    });
    contexts.set(svid, c);
  }
  return c;
}

export type HandshakeFailure =
  | "no-local-svid"
  | "no-trust-bundle"
  | "unreachable"
  | "timeout"
  | "tls"
  | "peer-svid-rejected"
  | "refused-by-peer";

export interface HandshakeRequest {
  readonly localIdentity: number;
  readonly remoteIdentity: number;
  readonly host: string;
  readonly port: number;
}

export interface HandshakeOk {
  /** When the auth entry must expire: the earlier leaf notAfter. */
  readonly expires: Date;
  readonly durationMs: number;
}

export function authenticate(
  provider: IdentityProvider,
  req: HandshakeRequest,
  options: { readonly timeoutMs?: number; readonly now?: () => Date } = {},
): Promise<Result<HandshakeOk, { reason: HandshakeFailure; message: string }>> {
  const now = options.now ?? (() => new Date());
  const started = performance.now();
  const svid = provider.svidFor(req.localIdentity);
  if (svid === undefined) {
    return Promise.resolve(
      err({ reason: "no-local-svid", message: `no SVID for identity ${req.localIdentity}` }),
    );
  }
  const bundles = provider.bundles();
  if (bundles === undefined) {
    return Promise.resolve(err({ reason: "no-trust-bundle", message: "no trust bundle yet" }));
  }
  const timeoutMs = options.timeoutMs ?? 3000;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: Result<HandshakeOk, { reason: HandshakeFailure; message: string }>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const socket = connect({
      host: req.host,
      port: req.port,
      servername: identityServerName(provider.trustDomain, req.remoteIdentity),
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3",
      secureContext: contextOf(svid),
      // Validated below as an X.509-SVID of exactly the remote identity.
      rejectUnauthorized: false,
    });
    const timer = setTimeout(
      () =>
        finish(
          err({
            reason: "timeout",
            message: `no answer from ${req.host}:${req.port} within ${timeoutMs} ms`,
          }),
        ),
      timeoutMs,
    );
    socket.on("error", (e: NodeJS.ErrnoException) => {
      const reason =
        e.code === "ECONNREFUSED" || e.code === "EHOSTUNREACH" || e.code === "ECONNRESET"
          ? "unreachable"
          : "tls";
      finish(err({ reason, message: `${req.host}:${req.port}: ${e.message}` }));
    });
    socket.once("secureConnect", () => {
      void (async () => {
        const expected = identitySpiffeId(provider.trustDomain, req.remoteIdentity);
        const v = validateX509Svid(peerChain(socket), bundles, {
          role: "server",
          now: now(),
          expectedId: expected,
        });
        if (!v.ok) {
          finish(err({ reason: "peer-svid-rejected", message: `${v.error.reason}: ${v.error.message}` }));
          return;
        }
        socket.write(`${JSON.stringify({ v: PROTOCOL_VERSION, identity: req.localIdentity })}\n`);
        let answer: { ok?: unknown; reason?: unknown };
        try {
          answer = JSON.parse(await readLine(socket)) as typeof answer;
        } catch (error) {
          finish(
            err({
              reason: "refused-by-peer",
              message: error instanceof Error ? error.message : String(error),
            }),
          );
          return;
        }
        if (answer.ok !== true) {
          finish(err({ reason: "refused-by-peer", message: String(answer.reason ?? "no reason given") }));
          return;
        }
        const expires = new Date(Math.min(svid.notAfter.getTime(), v.value.notAfter.getTime()));
        finish(ok({ expires, durationMs: performance.now() - started }));
      })();
    });
  });
}
