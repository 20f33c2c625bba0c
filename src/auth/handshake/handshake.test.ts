/**
 * The handshake over real TLS 1.3 (node:tls, OpenSSL) on loopback, free ports.
 */
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority } from "../builtin-ca/authority.ts";
import { MemoryIdentityProvider } from "../memory-provider.ts";
import { DEFAULT_TRUST_DOMAIN, identitySpiffeId, type TrustDomain } from "../spiffe-id.ts";
import { svidFrom } from "../test-certificates.ts";
import { bundleSet, trustBundle } from "../trust-bundle.ts";
import { authenticate } from "./client.ts";
import { HandshakeServer } from "./server.ts";

const TD = DEFAULT_TRUST_DOMAIN;
const CLIENT = 1001;
const SERVER = 1002;

describe("mutual-auth handshake", () => {
  let ca: CertificateAuthority;
  let clientSide: MemoryIdentityProvider;
  let serverSide: MemoryIdentityProvider;
  let server: HandshakeServer;
  let port: number;
  const results: { ok: boolean; reason?: string }[] = [];

  beforeAll(async () => {
    ca = await CertificateAuthority.generate(TD, new Date());
    const bundle = trustBundle(TD, [ca.rootDer]);
    if (!bundle.ok) throw new Error(bundle.error);
    clientSide = new MemoryIdentityProvider(TD);
    serverSide = new MemoryIdentityProvider(TD);
    clientSide.setBundles(bundleSet(bundle.value));
    serverSide.setBundles(bundleSet(bundle.value));
    clientSide.setSvid(CLIENT, await svidFrom(ca, identitySpiffeId(TD, CLIENT), { ttlMs: 600_000 }));
    serverSide.setSvid(SERVER, await svidFrom(ca, identitySpiffeId(TD, SERVER), { ttlMs: 300_000 }));
    server = new HandshakeServer({
      provider: serverSide,
      handshakeTimeoutMs: 500,
      failuresBeforeBackoff: 1000,
      onResult: (r) => results.push(r),
    });
    port = (await server.listen(0, "127.0.0.1")).port;
  });
  afterAll(async () => {
    await server?.close();
  });

  const req = () => ({ localIdentity: CLIENT, remoteIdentity: SERVER, host: "127.0.0.1", port });

  it("authenticates both identities; the entry expires with the earlier leaf", async () => {
    const r = await authenticate(clientSide, req());
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (r.ok) expect(r.value.expires).toEqual(serverSide.svidFor(SERVER)?.notAfter);
    expect(results.at(-1)).toMatchObject({ ok: true });
  });

  it("refuses a server whose SVID names another identity", async () => {
    const saved = serverSide.svidFor(SERVER);
    serverSide.setSvid(SERVER, await svidFrom(ca, identitySpiffeId(TD, 1003)));
    try {
      const r = await authenticate(clientSide, req());
      expect(r).toMatchObject({ ok: false, error: { reason: "peer-svid-rejected" } });
      if (!r.ok) expect(r.error.message).toMatch(/wrong-spiffe-id/);
    } finally {
      serverSide.setSvid(SERVER, saved);
    }
  });

  it("refuses a server whose SVID comes from another trust domain", async () => {
    const otherTd = "other.example" as TrustDomain;
    const otherCa = await CertificateAuthority.generate(otherTd, new Date());
    const saved = serverSide.svidFor(SERVER);
    serverSide.setSvid(SERVER, await svidFrom(otherCa, identitySpiffeId(otherTd, SERVER)));
    try {
      const r = await authenticate(clientSide, req());
      expect(r).toMatchObject({ ok: false, error: { reason: "peer-svid-rejected" } });
      if (!r.ok) expect(r.error.message).toMatch(/no-bundle-for-trust-domain|wrong/);
    } finally {
      serverSide.setSvid(SERVER, saved);
    }
  });

  it("refuses an expired server SVID", async () => {
    const saved = serverSide.svidFor(SERVER);
    serverSide.setSvid(
      SERVER,
      await svidFrom(ca, identitySpiffeId(TD, SERVER), {
        now: new Date(Date.now() - 7200_000),
        ttlMs: 60_000,
      }),
    );
    try {
      const r = await authenticate(clientSide, req());
      expect(r).toMatchObject({ ok: false, error: { reason: "peer-svid-rejected" } });
      if (!r.ok) expect(r.error.message).toMatch(/^expired/);
    } finally {
      serverSide.setSvid(SERVER, saved);
    }
  });

  it("the server refuses a client whose SVID is not the identity it claims", async () => {
    const liar = new MemoryIdentityProvider(TD);
    liar.setBundles(clientSide.bundles());
    liar.setSvid(CLIENT, await svidFrom(ca, identitySpiffeId(TD, 1005)));
    const r = await authenticate(liar, req());
    expect(r).toMatchObject({ ok: false, error: { reason: "refused-by-peer" } });
    if (!r.ok) expect(r.error.message).toMatch(/does not name spiffe:\/\/strait.local\/identity\/1001/);
  });

  it("the server refuses a client SVID of an untrusted CA", async () => {
    const rogueCa = await CertificateAuthority.generate(TD, new Date());
    const rogue = new MemoryIdentityProvider(TD);
    rogue.setBundles(clientSide.bundles());
    rogue.setSvid(CLIENT, await svidFrom(rogueCa, identitySpiffeId(TD, CLIENT)));
    const r = await authenticate(rogue, req());
    expect(r).toMatchObject({ ok: false, error: { reason: "refused-by-peer" } });
    if (!r.ok) expect(r.error.message).toMatch(/untrusted-chain/);
  });

  it("fails closed without a local SVID, without a bundle, for an identity the server has no SVID for, and for an unreachable peer", async () => {
    expect(await authenticate(clientSide, { ...req(), localIdentity: 4242 })).toMatchObject({
      ok: false,
      error: { reason: "no-local-svid" },
    });
    const noBundle = new MemoryIdentityProvider(TD);
    noBundle.setSvid(CLIENT, clientSide.svidFor(CLIENT));
    expect(await authenticate(noBundle, req())).toMatchObject({
      ok: false,
      error: { reason: "no-trust-bundle" },
    });
    expect(await authenticate(clientSide, { ...req(), remoteIdentity: 4242 })).toMatchObject({ ok: false });
    const closed = new HandshakeServer({ provider: serverSide });
    const closedPort = (await closed.listen(0, "127.0.0.1")).port;
    await closed.close();
    expect(await authenticate(clientSide, { ...req(), port: closedPort })).toMatchObject({
      ok: false,
      error: { reason: "unreachable" },
    });
  });

  it("a slow client and a malformed one never stall the others", async () => {
    const idle: Socket[] = [];
    for (let i = 0; i < 10; i++) idle.push(netConnect(port, "127.0.0.1")); // connect, then say nothing
    const garbage = netConnect(port, "127.0.0.1", () => garbage.write("GET / HTTP/1.1\r\n\r\n"));
    garbage.on("error", () => undefined);
    for (const s of idle) s.on("error", () => undefined);
    // A client that completes TLS and never sends its line:
    const mute = tlsConnect({
      host: "127.0.0.1",
      port,
      servername: `${SERVER}.${TD}`,
      rejectUnauthorized: false,
      cert: (await import("../certificate.ts")).derToPem(clientSide.svidFor(CLIENT)?.chainDer[0] as Buffer),
      key: clientSide.svidFor(CLIENT)?.keyPem,
    });
    mute.on("error", () => undefined);
    const t0 = performance.now();
    const r = await authenticate(clientSide, req());
    expect(r.ok).toBe(true);
    expect(performance.now() - t0).toBeLessThan(400); // well under the 500 ms the slow ones get
    await new Promise((r) => setTimeout(r, 700));
    expect(idle.every((s) => s.destroyed || s.readyState === "closed")).toBe(true);
    expect(mute.destroyed).toBe(true);
    for (const s of idle) s.destroy();
    garbage.destroy();
  });

  it("backs off a peer after repeated failures, refusing it outright", async () => {
    const strict = new HandshakeServer({
      provider: serverSide,
      failuresBeforeBackoff: 2,
      backoffMinMs: 2000,
    });
    const strictPort = (await strict.listen(0, "127.0.0.1")).port;
    try {
      const liar = new MemoryIdentityProvider(TD);
      liar.setBundles(clientSide.bundles());
      liar.setSvid(CLIENT, await svidFrom(ca, identitySpiffeId(TD, 1005)));
      for (let i = 0; i < 2; i++) {
        expect(await authenticate(liar, { ...req(), port: strictPort })).toMatchObject({
          error: { reason: "refused-by-peer" },
        });
      }
      // Now even a good client from that address is refused until the back-off ends.
      const r = await authenticate(clientSide, { ...req(), port: strictPort });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(["unreachable", "tls"]).toContain(r.error.reason);
    } finally {
      await strict.close();
    }
  });
});
