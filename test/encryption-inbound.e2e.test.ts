/**
 * The tunnel's inbound side on real Envoy, on loopback: the controller's
 * configuration for a destination node (encryptionResources), served over
 * delta xDS; SVIDs and the trust bundle as the file-based SDS secrets the
 * agent writes; a client that speaks what the source node's Envoy speaks
 * (HTTP/2 CONNECT over mutual TLS 1.3 with an X.509-SVID, SNI of the
 * destination identity). An allowed identity reaches the pod's port; another
 * identity, another trust domain, an address that is not the destination's
 * pod, a port the pair does not allow, or no client certificate is refused.
 *
 * Root only: the delivering cluster sets SO_MARK (the from-proxy-authenticated
 * mark), which needs CAP_NET_ADMIN; as a normal user Envoy cannot connect.
 */

import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type PeerCertificate, connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EnvoySecretServer } from "../src/agent/envoy-sds.ts";
import { CertificateAuthority } from "../src/auth/builtin-ca/authority.ts";
import { derToPem } from "../src/auth/certificate.ts";
import { MemoryIdentityProvider } from "../src/auth/memory-provider.ts";
import { identitySpiffeId, parseTrustDomain, type TrustDomain } from "../src/auth/spiffe-id.ts";
import { svidFrom } from "../src/auth/test-certificates.ts";
import { bundleSet, trustBundle } from "../src/auth/trust-bundle.ts";
import { resolveEnvoyBinary } from "../src/envoy/binary.ts";
import { ManagedEnvoy } from "../src/envoy/index.ts";
import { svidSecretName } from "../src/model/encryption.ts";
import type { NodePolicy } from "../src/model/endpoint-policy.ts";
import { TYPE_URLS } from "../src/xds/proto/index.ts";
import { encryptionResources, tunnelSni } from "../src/xds/translate/encryption.ts";
import { captureLogger } from "./support/capture-logger.ts";
import { startXds, type XdsHarness } from "./support/xds-server-harness.ts";

const isRoot = process.getuid?.() === 0;
const NODE = "node-b";
const CLIENT = 1001;
const SERVER = 1002;
const OTHER = 1003;

function td(name: string): TrustDomain {
  const t = parseTrustDomain(name);
  if (!t.ok) throw new Error(t.error);
  return t.value;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Identity {
  readonly certPem: string;
  readonly keyPem: string;
}

/** One CONNECT stream through the tunnel: the bytes echoed back, or the status / error that refused it. */
async function tunnel(
  port: number,
  opts: { identity?: Identity; caPem: string; sni: string; authority: string },
): Promise<{ status?: number; echoed?: string; error?: string }> {
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    ca: opts.caPem,
    servername: opts.sni,
    minVersion: "TLSv1.3",
    ...(opts.identity === undefined ? {} : { cert: opts.identity.certPem, key: opts.identity.keyPem }),
    // The server's SVID names the destination identity, not a DNS name.
    checkServerIdentity: (_host: string, cert: PeerCertificate) =>
      cert.subjectaltname?.includes(`URI:${svidSecretName("strait.local", SERVER)}`)
        ? undefined
        : new Error(`server SVID ${cert.subjectaltname}`),
  });
  try {
    return await new Promise((resolve) => {
      session.on("error", (e) => resolve({ error: e.message }));
      const stream = session.request({ ":method": "CONNECT", ":authority": opts.authority });
      let status: number | undefined;
      let data = "";
      stream.on("response", (h) => {
        status = Number(h[":status"]);
        if (status === 200) stream.write("ping through the tunnel");
      });
      stream.on("data", (d: Buffer) => {
        data += d.toString();
        if (data.length >= "ping through the tunnel".length) resolve({ status: 200, echoed: data });
      });
      stream.on("end", () => resolve(status === undefined ? { error: "no response" } : { status }));
      stream.on("error", (e) => resolve(status === undefined ? { error: e.message } : { status }));
      setTimeout(() => resolve({ error: "timed out" }), 5000);
    });
  } finally {
    session.destroy();
  }
}

describe.skipIf(!isRoot)(
  `the encrypted tunnel's inbound listener on real Envoy ${isRoot ? "" : "(root only: the delivering cluster's SO_MARK needs CAP_NET_ADMIN)"}`,
  () => {
    let dir: string;
    let xds: XdsHarness;
    let envoy: ManagedEnvoy;
    let echo: Server;
    let refusedEcho: Server;
    let echoPort: number;
    let otherPort: number;
    let tunnelPort: number;
    let caPem: string;
    let client: Identity;
    let other: Identity;
    let foreign: Identity;
    let provider: MemoryIdentityProvider;
    let ca: CertificateAuthority;
    let sds: EnvoySecretServer;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "strait-encrypt-"));
      const now = new Date();
      ca = await CertificateAuthority.generate(td("strait.local"), now);
      const foreignCa = await CertificateAuthority.generate(td("other.example"), now);
      caPem = derToPem(ca.rootDer);
      const identity = async (
        authority: CertificateAuthority,
        domain: string,
        n: number,
      ): Promise<Identity> => {
        const svid = await svidFrom(authority, identitySpiffeId(td(domain), n));
        return { certPem: svid.chainDer.map((d) => derToPem(d)).join(""), keyPem: svid.keyPem };
      };
      client = await identity(ca, "strait.local", CLIENT);
      other = await identity(ca, "strait.local", OTHER);
      foreign = await identity(foreignCa, "other.example", CLIENT);
      // The agent's SDS, which may get the SVIDs after Envoy has the configuration that names them.
      provider = new MemoryIdentityProvider(td("strait.local"));
      sds = new EnvoySecretServer({
        provider,
        dir: join(dir, "sds"),
        node: NODE,
        logger: captureLogger("silent").logger,
      });
      await sds.start();
      sds.setIdentities(new Set([SERVER]));
      const serverSvid = await svidFrom(ca, identitySpiffeId(td("strait.local"), SERVER));
      const writeSecrets = () => {
        const bundle = trustBundle(td("strait.local"), [ca.rootDer]);
        if (!bundle.ok) throw new Error(bundle.error);
        provider.setBundles(bundleSet(bundle.value));
        provider.setSvid(SERVER, serverSvid);
      };

      echo = createServer((s) => s.pipe(s));
      await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
      echoPort = (echo.address() as { port: number }).port;
      refusedEcho = createServer((s) => s.pipe(s));
      await new Promise<void>((r) => refusedEcho.listen(0, "127.0.0.1", r));
      otherPort = (refusedEcho.address() as { port: number }).port;
      tunnelPort = await freePort();

      const node: NodePolicy = {
        node: NODE,
        endpoints: [{ id: 1, identity: SERVER, addresses: ["127.0.0.1"], hostInterface: "", sources: [] }],
        policies: [],
        l7: [],
        ipcache: [],
        identities: [],
        encryption: {
          outbound: [],
          inbound: [{ localIdentity: SERVER, remoteIdentity: CLIENT, port: echoPort }],
          tunnelPort,
          trustDomain: "strait.local",
        },
      };
      const resources = encryptionResources(node, {
        sdsDir: join(dir, "sds"),
        inboundAddress: "127.0.0.1",
      });
      xds = await startXds();
      xds.cache.publish({
        [TYPE_URLS.listener]: resources.listeners as never,
        [TYPE_URLS.cluster]: resources.clusters as never,
        [TYPE_URLS.routeConfiguration]: resources.routes as never,
      });
      envoy = new ManagedEnvoy({
        binary: resolveEnvoyBinary(),
        logger: captureLogger("silent").logger,
        logLevel: "warning",
        bootstrap: {
          nodeId: `envoy-${NODE}`,
          node: NODE,
          xds: { host: "127.0.0.1", port: Number(xds.address.split(":")[1]) },
          api: "delta",
          admin: { host: "127.0.0.1", port: 0 },
        },
      });
      await envoy.start();
      const admin = envoy.adminAddress;
      const listeners = () => fetch(`http://${admin}/listeners`).then((x) => x.text());
      const end = Date.now() + 15_000;
      for (;;) {
        const r = await listeners();
        if (r.includes("strait/encrypt/inbound")) break;
        if (Date.now() > end)
          throw new Error(
            `no inbound listener: ${r} ${JSON.stringify(xds.logs.filter((l) => l.level >= 40))}`,
          );
        await new Promise((res) => setTimeout(res, 100));
      }
      // Without its secrets the listener accepts nothing; with them (no restart, no new
      // configuration) it carries the stream.
      const attempt = () =>
        tunnel(tunnelPort, {
          identity: client,
          caPem,
          sni: tunnelSni("strait.local", SERVER),
          authority: `127.0.0.1:${echoPort}`,
        });
      expect((await attempt()).echoed).toBeUndefined();
      writeSecrets();
      const until = Date.now() + 10_000;
      while ((await attempt()).echoed === undefined) {
        if (Date.now() > until) throw new Error("the SVID from the agent's SDS never reached the listener");
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(sds.secretNames()).toEqual(["spiffe://strait.local", svidSecretName("strait.local", SERVER)]);
    }, 60_000);

    afterAll(async () => {
      await envoy?.stop();
      await xds?.stop();
      await sds?.stop();
      echo?.close();
      refusedEcho?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    const sni = () => tunnelSni("strait.local", SERVER);

    it("carries an allowed identity's stream to the destination pod's port", async () => {
      const r = await tunnel(tunnelPort, {
        identity: client,
        caPem,
        sni: sni(),
        authority: `127.0.0.1:${echoPort}`,
      });
      expect(r).toEqual({ status: 200, echoed: "ping through the tunnel" });
    });

    it("refuses a port the pair does not allow, and an address that is not the destination's pod", async () => {
      const port = await tunnel(tunnelPort, {
        identity: client,
        caPem,
        sni: sni(),
        authority: `127.0.0.1:${otherPort}`,
      });
      expect(port.status).toBe(404);
      const address = await tunnel(tunnelPort, {
        identity: client,
        caPem,
        sni: sni(),
        authority: `127.0.0.2:${echoPort}`,
      });
      expect(address.status).toBe(404);
    });

    it("refuses another identity of the trust domain, another trust domain, and no client certificate", async () => {
      for (const identity of [other, foreign, undefined]) {
        const r = await tunnel(tunnelPort, {
          ...(identity === undefined ? {} : { identity }),
          caPem,
          sni: sni(),
          authority: `127.0.0.1:${echoPort}`,
        });
        expect(r.echoed).toBeUndefined();
        expect(r.status).toBeUndefined();
        expect(r.error).toBeDefined();
      }
    });

    it("presents a rotated SVID from the agent's SDS without a restart or a new configuration", async () => {
      const presented = () =>
        new Promise<string>((resolve, reject) => {
          const socket = tlsConnect({
            host: "127.0.0.1",
            port: tunnelPort,
            servername: tunnelSni("strait.local", SERVER),
            ca: caPem,
            cert: client.certPem,
            key: client.keyPem,
            ALPNProtocols: ["h2"],
            checkServerIdentity: () => undefined,
          });
          socket.once("secureConnect", () => {
            resolve(socket.getPeerCertificate().fingerprint256);
            socket.destroy();
          });
          socket.once("error", reject);
        });
      const before = await presented();
      const next = await svidFrom(ca, identitySpiffeId(td("strait.local"), SERVER));
      provider.setSvid(SERVER, next);
      const expected = new X509Certificate(next.chainDer[0] as Buffer).fingerprint256;
      expect(expected).not.toBe(before);
      const end = Date.now() + 10_000;
      while ((await presented()) !== expected) {
        if (Date.now() > end) throw new Error("Envoy never presented the rotated SVID");
        await new Promise((r) => setTimeout(r, 100));
      }
      const r = await tunnel(tunnelPort, {
        identity: client,
        caPem,
        sni: sni(),
        authority: `127.0.0.1:${echoPort}`,
      });
      expect(r.echoed).toBe("ping through the tunnel");
    });

    it("serves no chain for an SNI that names no local identity", async () => {
      const r = await tunnel(tunnelPort, {
        identity: client,
        caPem,
        sni: tunnelSni("strait.local", OTHER),
        authority: `127.0.0.1:${echoPort}`,
      });
      expect(r.echoed).toBeUndefined();
      expect(r.error).toBeDefined();
    });
  },
);
