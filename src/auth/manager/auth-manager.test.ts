/**
 * The auth manager against the real handshake (node:tls on loopback) and a
 * plain-memory auth map (the kernel map is covered by the e2e test).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority } from "../builtin-ca/authority.ts";
import { authenticate } from "../handshake/client.ts";
import { HandshakeServer } from "../handshake/server.ts";
import { MemoryIdentityProvider } from "../memory-provider.ts";
import { DEFAULT_TRUST_DOMAIN, identitySpiffeId } from "../spiffe-id.ts";
import { svidFrom } from "../test-certificates.ts";
import { bundleSet, trustBundle } from "../trust-bundle.ts";
import { authDesiredOf } from "./auth-desired.ts";
import { LOCAL_NODE, MemoryAuthMap } from "./auth-key.ts";
import { AuthManager } from "./auth-manager.ts";

const TD = DEFAULT_TRUST_DOMAIN;
const A = 1001;
const B = 1002;

function desired(withPolicy = true) {
  return authDesiredOf({
    endpoints: [{ id: 1, identity: A, addresses: ["10.1.0.2"], hostInterface: "", sources: [] }],
    policies: [
      {
        endpointId: 1,
        ingressEnforced: false,
        egressEnforced: true,
        entries: withPolicy
          ? [
              {
                direction: "egress",
                remoteIdentity: B,
                protocol: "TCP",
                port: 80,
                verdict: "allow",
                auth: "mtls-spiffe",
                sources: [],
              },
            ]
          : [],
        sources: [],
      },
    ],
    ipcache: [{ prefix: "10.1.0.3/32", identity: B }],
  });
}

async function until(probe: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("auth manager", () => {
  let ca: CertificateAuthority;
  let provider: MemoryIdentityProvider;
  let server: HandshakeServer;
  let port: number;

  beforeAll(async () => {
    ca = await CertificateAuthority.generate(TD, new Date());
    const b = trustBundle(TD, [ca.rootDer]);
    if (!b.ok) throw new Error(b.error);
    provider = new MemoryIdentityProvider(TD);
    provider.setBundles(bundleSet(b.value));
    provider.setSvid(A, await svidFrom(ca, identitySpiffeId(TD, A)));
    provider.setSvid(B, await svidFrom(ca, identitySpiffeId(TD, B)));
    server = new HandshakeServer({ provider, failuresBeforeBackoff: 1000 });
    port = (await server.listen(0, "127.0.0.1")).port;
  });
  afterAll(async () => server?.close());

  function manager(store = new MemoryAuthMap()) {
    const handshakes: string[] = [];
    const skipped: string[] = [];
    const m = new AuthManager({
      provider,
      store,
      authenticate: (req) => authenticate(provider, req),
      port,
      localAddress: "127.0.0.1",
      retryMinMs: 60_000,
      events: { onHandshake: (r) => handshakes.push(r), onSkipped: (r) => skipped.push(r) },
    });
    m.start();
    m.setDesired(desired());
    return { m, store, handshakes, skipped };
  }

  const event = { localIdentity: A, remoteIdentity: B, remoteNode: LOCAL_NODE, authType: 1 };

  it("handshakes once for a burst of events and writes the entry with the SVIDs' expiry", async () => {
    const { m, store, handshakes, skipped } = manager();
    for (let i = 0; i < 5; i++) m.handleAuthRequired(event);
    await until(() => store.entries.size === 1);
    expect(handshakes).toEqual(["ok"]);
    expect(skipped).toEqual(["in-flight", "in-flight", "in-flight", "in-flight"]);
    const [entry] = m.entries();
    const earliest = Math.min(
      provider.svidFor(A)?.notAfter.getTime() ?? 0,
      provider.svidFor(B)?.notAfter.getTime() ?? 0,
    );
    expect(entry?.expires.getTime()).toBe(earliest);
    m.handleAuthRequired(event);
    expect(skipped.at(-1)).toBe("fresh");
    await m.stop();
  });

  it("skips reserved identities and always-fail", async () => {
    const { m, store, skipped } = manager();
    m.handleAuthRequired({ ...event, remoteIdentity: 2 });
    m.handleAuthRequired({ ...event, localIdentity: 1 });
    m.handleAuthRequired({ ...event, authType: 2 });
    expect(skipped).toEqual(["reserved-identity", "reserved-identity", "unsupported-auth-type"]);
    expect(store.entries.size).toBe(0);
    await m.stop();
  });

  it("fails closed and backs off when the peer cannot authenticate", async () => {
    const { m, store, handshakes, skipped } = manager();
    m.handleAuthRequired({ ...event, remoteIdentity: 1009 }); // no SVID for 1009 anywhere
    await until(() => handshakes.length === 1);
    expect(handshakes[0]).not.toBe("ok");
    expect(store.entries.size).toBe(0);
    m.handleAuthRequired({ ...event, remoteIdentity: 1009 });
    expect(skipped).toEqual(["back-off"]);
    expect(m.failures()[0]?.key.remoteIdentity).toBe(1009);
    await m.stop();
  });

  it("re-authenticates when the local SVID rotates, and garbage-collects when the policy goes", async () => {
    const { m, store, handshakes } = manager();
    m.handleAuthRequired(event);
    await until(() => store.entries.size === 1);
    const before = m.entries()[0]?.expires.getTime() ?? 0;
    provider.setSvid(A, await svidFrom(ca, identitySpiffeId(TD, A), { now: new Date(Date.now() - 600_000) }));
    await until(() => handshakes.length === 2);
    await until(() => (m.entries()[0]?.expires.getTime() ?? 0) < before);
    m.setDesired(desired(false));
    expect(store.entries.size).toBe(0);
    await m.stop();
  });

  it("re-authenticates before expiry while the policy still needs the entry", async () => {
    const shortA = await svidFrom(ca, identitySpiffeId(TD, A), {
      now: new Date(Date.now() - 3600_000 + 31_500),
    });
    provider.setSvid(A, shortA); // expires in ~1.5 s
    const { m, store, handshakes } = manager();
    m.handleAuthRequired(event);
    await until(() => store.entries.size === 1);
    // Before it expires, a fresh SVID arrives through rotation or, as here, the re-auth timer finds it.
    provider.setSvid(A, await svidFrom(ca, identitySpiffeId(TD, A)));
    await until(
      () => handshakes.length >= 2 && (m.entries()[0]?.expires.getTime() ?? 0) > shortA.notAfter.getTime(),
      4000,
    );
    await m.stop();
  });
});
