/**
 * The agent-to-agent mutual-auth handshake, on its own port (Cilium's 4250):
 *
 * 1. TLS 1.3. The client (the node whose datapath dropped the flow) presents
 *    the SVID of its local identity L and asks for server name `R.<td>`, R
 *    being the remote identity; the server answers with R's SVID, and asks
 *    for the client's certificate.
 * 2. Each side validates the other's chain as an X.509-SVID (x509-svid.ts)
 *    against the bundle of its trust domain: the client expects exactly
 *    `spiffe://<td>/identity/R`.
 * 3. The client sends one line, `{"v":1,"identity":L}`; the server checks
 *    the client's SVID names exactly L and answers `{"ok":true}` (or
 *    `{"ok":false,"reason":…}`), then both close.
 * The client writes the auth map entry, valid until the earlier of the two
 * leaves' notAfter. Nothing here runs in the packet path.
 */
import type { PeerCertificate, TLSSocket } from "node:tls";

export const DEFAULT_AUTH_PORT = 4250;
export const PROTOCOL_VERSION = 1;
/** Longest line either side accepts. */
export const MAX_LINE = 512;

/** The chain a peer sent, leaf first, as DER (node:tls links them through issuerCertificate). */
export function peerChain(socket: TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  let c: PeerCertificate | undefined = socket.getPeerCertificate(true) as PeerCertificate | undefined;
  const seen = new Set<string>();
  while (c !== undefined && c.raw !== undefined && c.raw.length > 0) {
    const key = c.raw.toString("base64");
    if (seen.has(key)) break; // a self-signed certificate links to itself
    seen.add(key);
    out.push(c.raw);
    c = (c as PeerCertificate & { issuerCertificate?: PeerCertificate }).issuerCertificate;
  }
  return out;
}

/** Reads one newline-terminated line, at most MAX_LINE bytes. */
export function readLine(socket: TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const onData = (chunk: Buffer) => {
      buf += chunk.toString("utf8");
      const nl = buf.indexOf("\n");
      if (nl !== -1) {
        done();
        resolve(buf.slice(0, nl));
      } else if (buf.length > MAX_LINE) {
        done();
        reject(new Error("line too long"));
      }
    };
    const onEnd = () => {
      done();
      reject(new Error("peer closed before its line"));
    };
    const onError = (e: Error) => {
      done();
      reject(e);
    };
    const done = () => {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onError);
    };
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("error", onError);
  });
}
