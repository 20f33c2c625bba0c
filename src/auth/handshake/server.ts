/**
 * The handshake's server side (protocol.ts), one per agent. It only answers:
 * it writes nothing into the datapath. What keeps one bad peer from hurting
 * the others:
 * - a handshake timeout and a timeout for the client's line;
 * - a global connection limit and a smaller one per peer address;
 * - per-peer back-off: after repeated failures a peer address is refused
 *   outright for a while (doubling, capped), which costs it nothing to
 *   retry and us nothing to refuse.
 * Everything is asynchronous, so a slow client only holds its own socket.
 */
import type { AddressInfo, Socket } from "node:net";
import { createSecureContext, createServer, type SecureContext, type Server, type TLSSocket } from "node:tls";
import { derToPem } from "../certificate.ts";
import type { IdentityProvider } from "../identity-provider.ts";
import { identityOfServerName, identityOfSpiffeId, identitySpiffeId } from "../spiffe-id.ts";
import { validateX509Svid } from "../x509-svid.ts";
import { PROTOCOL_VERSION, peerChain, readLine } from "./protocol.ts";

export interface HandshakeServerOptions {
  readonly provider: IdentityProvider;
  readonly handshakeTimeoutMs?: number;
  readonly maxConnections?: number;
  readonly maxPerPeer?: number;
  /** Failures of a peer address before it is backed off. */
  readonly failuresBeforeBackoff?: number;
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
  readonly now?: () => Date;
  readonly onResult?: (r: { peer: string; ok: boolean; reason?: string }) => void;
}

interface PeerState {
  active: number;
  failures: number;
  blockedUntil: number;
  backoffMs: number;
}

export class HandshakeServer {
  readonly #o: HandshakeServerOptions;
  readonly #server: Server;
  readonly #peers = new Map<string, PeerState>();
  readonly #contexts = new Map<string, { context: SecureContext; leaf: Buffer }>();
  readonly #now: () => Date;
  readonly #sockets = new Set<Socket>();

  constructor(options: HandshakeServerOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    const timeout = options.handshakeTimeoutMs ?? 2000;
    this.#server = createServer({
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3",
      requestCert: true,
      // The chain is validated as an X.509-SVID below, against the bundle of its trust domain.
      rejectUnauthorized: false,
      handshakeTimeout: timeout,
      SNICallback: (name, cb) => {
        const ctx = this.#contextFor(name);
        if (typeof ctx === "string") cb(new Error(ctx));
        else cb(null, ctx);
      },
    });
    this.#server.maxConnections = options.maxConnections ?? 256;
    this.#server.on("connection", (socket) => {
      const peer = socket.remoteAddress ?? "?";
      const st = this.#peer(peer);
      if (st.blockedUntil > Date.now() || st.active >= (this.#o.maxPerPeer ?? 16)) {
        socket.destroy();
        return;
      }
      st.active++;
      this.#sockets.add(socket);
      socket.once("close", () => {
        st.active--;
        this.#sockets.delete(socket);
      });
      socket.on("error", () => undefined);
    });
    this.#server.on("tlsClientError", (error, socket) => {
      this.#failed(socket.remoteAddress ?? "?", `tls: ${error.message}`);
      socket.destroy();
    });
    this.#server.on("secureConnection", (socket) => void this.#serve(socket, timeout));
    // A rotated SVID must be served from then on.
    options.provider.onRotate((what) => {
      if (what === "bundle") this.#contexts.clear();
      else this.#contexts.delete(String(what));
    });
  }

  #peer(address: string): PeerState {
    let st = this.#peers.get(address);
    if (st === undefined) {
      st = { active: 0, failures: 0, blockedUntil: 0, backoffMs: 0 };
      this.#peers.set(address, st);
    }
    return st;
  }

  #failed(peer: string, reason: string): void {
    const st = this.#peer(peer);
    st.failures++;
    if (st.failures >= (this.#o.failuresBeforeBackoff ?? 5)) {
      st.backoffMs = Math.min(
        this.#o.backoffMaxMs ?? 30_000,
        Math.max(this.#o.backoffMinMs ?? 1000, st.backoffMs * 2),
      );
      st.blockedUntil = Date.now() + st.backoffMs;
      st.failures = 0;
    }
    this.#o.onResult?.({ peer, ok: false, reason });
  }

  #contextFor(serverName: string): SecureContext | string {
    const { provider } = this.#o;
    const identity = identityOfServerName(serverName, provider.trustDomain);
    if (!identity.ok) return identity.error;
    const svid = provider.svidFor(identity.value);
    if (svid === undefined) return `no SVID for identity ${identity.value} on this node`;
    const cached = this.#contexts.get(String(identity.value));
    if (cached !== undefined && cached.leaf === svid.chainDer[0]) return cached.context;
    const context = createSecureContext({
      minVersion: "TLSv1.3",
      cert: svid.chainDer.map((d) => derToPem(d)).join(""),
      key: svid.keyPem,
    });
    this.#contexts.set(String(identity.value), { context, leaf: svid.chainDer[0] as Buffer });
    return context;
  }

  async #serve(socket: TLSSocket, timeoutMs: number): Promise<void> {
    const peer = socket.remoteAddress ?? "?";
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    const answer = (ok: boolean, reason?: string) => {
      socket.end(`${JSON.stringify(ok ? { ok } : { ok, reason })}\n`);
      if (ok) {
        this.#peer(peer).failures = 0;
        this.#o.onResult?.({ peer, ok: true });
      } else this.#failed(peer, reason ?? "refused");
    };
    try {
      const { provider } = this.#o;
      const bundles = provider.bundles();
      if (bundles === undefined) return answer(false, "no trust bundle on this node");
      const v = validateX509Svid(peerChain(socket), bundles, {
        role: "client",
        now: this.#now(),
        expectedTrustDomain: provider.trustDomain,
      });
      if (!v.ok) return answer(false, `client SVID rejected (${v.error.reason}): ${v.error.message}`);
      let hello: { v?: unknown; identity?: unknown };
      try {
        hello = JSON.parse(await readLine(socket)) as typeof hello;
      } catch (error) {
        return answer(false, `bad hello: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (hello.v !== PROTOCOL_VERSION || typeof hello.identity !== "number") {
        return answer(false, "bad hello: expected {v:1, identity:<number>}");
      }
      const claimed = identityOfSpiffeId(v.value.id, provider.trustDomain);
      if (!claimed.ok || claimed.value !== hello.identity) {
        const expected = identitySpiffeId(provider.trustDomain, hello.identity);
        return answer(false, `client SVID does not name spiffe://${expected.trustDomain}${expected.path}`);
      }
      return answer(true);
    } finally {
      clearTimeout(timer);
    }
  }

  listen(port: number, host: string): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, host, () => {
        const a = this.#server.address() as AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
