/**
 * The agent's tunnel SVID files (src/agent/envoy-svids.ts) as the node's
 * real Envoy reads them: the controller's inbound tunnel listener
 * (encryptionResources) over delta xDS, its SVID and trust bundle from the
 * files EnvoySvidFiles writes for an identity provider. Envoy presents the
 * provider's SVID, picks up a rotated one without a restart, and trusts
 * the bundle the files hold, also after the bundle changes.
 *
 * Root only: the tunnel's delivering cluster sets SO_MARK (the
 * from-proxy-authenticated mark), which needs CAP_NET_ADMIN.
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EnvoySvidFiles } from "../src/agent/envoy-svids.ts";
import { CertificateAuthority } from "../src/auth/builtin-ca/authority.ts";
import { derToPem } from "../src/auth/certificate.ts";
import type { Svid } from "../src/auth/identity-provider.ts";
import { MemoryIdentityProvider } from "../src/auth/memory-provider.ts";
import { identitySpiffeId, parseTrustDomain } from "../src/auth/spiffe-id.ts";
import { svidFrom } from "../src/auth/test-certificates.ts";
import { bundleSet, trustBundle } from "../src/auth/trust-bundle.ts";
import { resolveEnvoyBinary } from "../src/envoy/binary.ts";
import { ManagedEnvoy } from "../src/envoy/index.ts";
import { envoySvidDir } from "../src/model/encryption.ts";
import type { NodePolicy } from "../src/model/endpoint-policy.ts";
import { TYPE_URLS } from "../src/xds/proto/index.ts";
import { encryptionResources, tunnelSni } from "../src/xds/translate/encryption.ts";
import { captureLogger } from "./support/capture-logger.ts";
import { startXds, type XdsHarness } from "./support/xds-server-harness.ts";

const isRoot = process.getuid?.() === 0;
const NODE = "node-b";
const CLIENT = 1001;
const SERVER = 1002;
const parsed = parseTrustDomain("strait.local");
if (!parsed.ok) throw new Error(parsed.error);
const TD = parsed.value;

interface Attempt {
  readonly echoed?: string;
  readonly error?: string;
  /** Serial number of the certificate the tunnel presented. */
  readonly serverSerial?: string;
}

function pemOf(svid: Svid): { cert: string; key: string } {
  return { cert: svid.chainDer.map((d) => derToPem(d)).join(""), key: svid.keyPem };
}

function serialOf(svid: Svid | undefined): string {
  return new X509Certificate(svid?.chainDer[0] as Buffer).serialNumber;
}

/** One CONNECT stream through the tunnel with `client`'s SVID; the server chain is checked against `caPem`. */
async function attempt(port: number, client: Svid, caPem: string, authority: string): Promise<Attempt> {
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    ca: caPem,
    servername: tunnelSni(TD, SERVER),
    minVersion: "TLSv1.3",
    ...pemOf(client),
    checkServerIdentity: () => undefined, // the SVID names an identity, not a host; the chain is checked
  });
  let serverSerial: string | undefined;
  session.on("connect", () => {
    serverSerial = (session.socket as TLSSocket).getPeerX509Certificate()?.serialNumber;
  });
  try {
    const r = await new Promise<Attempt>((resolve) => {
      session.on("error", (e) => resolve({ error: e.message }));
      const stream = session.request({ ":method": "CONNECT", ":authority": authority });
      let data = "";
      stream.on("response", (h) => {
        if (Number(h[":status"]) === 200) stream.write("ping");
        else resolve({ error: `status ${h[":status"]}` });
      });
      stream.on("data", (d: Buffer) => {
        data += d.toString();
        if (data.length >= 4) resolve({ echoed: data });
      });
      stream.on("error", (e) => resolve({ error: e.message }));
      setTimeout(() => resolve({ error: "timed out" }), 5000);
    });
    return { ...r, ...(serverSerial === undefined ? {} : { serverSerial }) };
  } finally {
    session.destroy();
  }
}

/** Retries until `ok` holds for an attempt (Envoy reloads a renamed file within moments), or gives up. */
async function eventually(probe: () => Promise<Attempt>, ok: (a: Attempt) => boolean): Promise<Attempt> {
  const end = Date.now() + 15_000;
  for (;;) {
    const a = await probe();
    if (ok(a) || Date.now() > end) return a;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!isRoot)(
  `the agent's tunnel SVID files on real Envoy ${isRoot ? "" : "(root only: the tunnel's delivering cluster's SO_MARK needs CAP_NET_ADMIN)"}`,
  () => {
    let dir: string;
    let xds: XdsHarness;
    let envoy: ManagedEnvoy;
    let echo: Server;
    let echoPort: number;
    let tunnelPort: number;
    let ca: CertificateAuthority;
    let nextCa: CertificateAuthority;
    let provider: MemoryIdentityProvider;
    let files: EnvoySvidFiles;
    let client: Svid;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "strait-envoy-svids-"));
      const now = new Date();
      ca = await CertificateAuthority.generate(TD, now);
      nextCa = await CertificateAuthority.generate(TD, now);
      client = await svidFrom(ca, identitySpiffeId(TD, CLIENT));
      const bundle = trustBundle(TD, [ca.rootDer]);
      if (!bundle.ok) throw new Error(bundle.error);
      provider = new MemoryIdentityProvider(TD);
      provider.setBundles(bundleSet(bundle.value));
      provider.setSvid(SERVER, await svidFrom(ca, identitySpiffeId(TD, SERVER)));
      files = new EnvoySvidFiles({ dir: envoySvidDir(join(dir, "svids"), NODE), provider });
      files.start();
      files.setIdentities(new Set([SERVER]));

      echo = createServer((s) => s.pipe(s));
      await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
      echoPort = (echo.address() as { port: number }).port;
      const probe = createServer();
      await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
      tunnelPort = (probe.address() as { port: number }).port;
      await new Promise<void>((r) => probe.close(() => r()));

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
          trustDomain: TD,
        },
      };
      const resources = encryptionResources(node, {
        svidBase: join(dir, "svids"),
        inboundAddress: "127.0.0.1",
      });
      xds = await startXds();
      xds.cache.publish({
        [TYPE_URLS.listener]: resources.listeners as never,
        [TYPE_URLS.cluster]: resources.clusters as never,
      });
      envoy = new ManagedEnvoy({
        binary: resolveEnvoyBinary(),
        logger: captureLogger("silent").logger,
        logLevel: "warning",
        bootstrap: {
          nodeId: `envoy-${NODE}-svids`,
          node: NODE,
          xds: { host: "127.0.0.1", port: Number(xds.address.split(":")[1]) },
          api: "delta",
          admin: { host: "127.0.0.1", port: 0 },
        },
      });
      await envoy.start();
      const end = Date.now() + 15_000;
      for (;;) {
        const r = await fetch(`http://${envoy.adminAddress}/listeners`).then((x) => x.text());
        if (r.includes("strait/encrypt/inbound")) break;
        if (Date.now() > end) throw new Error(`no inbound listener: ${r}`);
        await new Promise((res) => setTimeout(res, 100));
      }
    }, 60_000);

    afterAll(async () => {
      files?.stop();
      await envoy?.stop();
      await xds?.stop();
      echo?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    const through = (c: Svid, caPem: string) => attempt(tunnelPort, c, caPem, `127.0.0.1:${echoPort}`);

    it("presents the identity's SVID from its file and trusts the bundle file's roots", async () => {
      const r = await eventually(
        () => through(client, derToPem(ca.rootDer)),
        (a) => a.echoed !== undefined,
      );
      expect(r).toEqual({ echoed: "ping", serverSerial: serialOf(provider.svidFor(SERVER)) });
    });

    it("presents a rotated SVID once the provider replaces it, without a restart", async () => {
      const before = serialOf(provider.svidFor(SERVER));
      provider.setSvid(SERVER, await svidFrom(ca, identitySpiffeId(TD, SERVER)));
      const after = serialOf(provider.svidFor(SERVER));
      expect(after).not.toBe(before);
      const r = await eventually(
        () => through(client, derToPem(ca.rootDer)),
        (a) => a.serverSerial === after,
      );
      expect(r).toEqual({ echoed: "ping", serverSerial: after });
    });

    it("follows a bundle change: the old root's clients are refused, the new root's accepted", async () => {
      const newClient = await svidFrom(nextCa, identitySpiffeId(TD, CLIENT));
      const refusedFirst = await through(newClient, derToPem(ca.rootDer));
      expect(refusedFirst.echoed).toBeUndefined();
      const bundle = trustBundle(TD, [nextCa.rootDer]);
      if (!bundle.ok) throw new Error(bundle.error);
      provider.setBundles(bundleSet(bundle.value));
      provider.setSvid(SERVER, await svidFrom(nextCa, identitySpiffeId(TD, SERVER)));
      const caPem = derToPem(nextCa.rootDer);
      const accepted = await eventually(
        () => through(newClient, caPem),
        (a) => a.echoed !== undefined,
      );
      expect(accepted).toEqual({ echoed: "ping", serverSerial: serialOf(provider.svidFor(SERVER)) });
      const old = await eventually(
        () => through(client, caPem),
        (a) => a.echoed === undefined,
      );
      expect(old.echoed).toBeUndefined();
      expect(old.error).toBeDefined();
    });
  },
);
