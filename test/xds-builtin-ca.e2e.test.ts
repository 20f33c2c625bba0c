/**
 * xDS over mutual TLS with the built-in CA's certificates, with a real Envoy
 * (build/bin/envoy) and real gRPC: the controller serves xDS with a server
 * certificate from the CA root and requires client certificates from it; an
 * agent gets its own and its Envoy's client certificates from the issuer
 * with its node token (each speaks for that node only), and its xDS source
 * gets its node's state with its own; the Envoy takes its certificate from
 * the file-based SDS secret the agent writes, connects and ACKs; a renewed
 * certificate file is reloaded; clients without a certificate, or with one
 * from another CA, are refused, and so are servers that are not the
 * controller; the server's own certificate is renewed and new connections
 * get the new one.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { DesiredState } from "../src/agent/desired-state.ts";
import { AGENT_SETTINGS } from "../src/agent/settings.ts";
import { type AgentXdsCertificates, startAgentXdsCertificates } from "../src/agent/xds-builtin-tls.ts";
import { XdsDesiredStateSource } from "../src/agent/xds-source.ts";
import { CertificateAuthority } from "../src/auth/builtin-ca/authority.ts";
import { xdsClientId } from "../src/auth/builtin-ca/names.ts";
import { derToPem, parseCertificate, pemBlocks } from "../src/auth/certificate.ts";
import { generateKeyPair, privateKeyPem, publicKeyPem } from "../src/auth/issue.ts";
import { formatSpiffeId, parseTrustDomain } from "../src/auth/spiffe-id.ts";
import { RUN_SETTINGS, resolveSettings } from "../src/controller/config.ts";
import { type RunningController, startController } from "../src/controller/start.ts";
import { resolveEnvoyBinary } from "../src/envoy/binary.ts";
import { XDS_CLIENT_SECRET, XDS_CLIENT_SECRET_FILE } from "../src/envoy/bootstrap.ts";
import { ManagedEnvoy } from "../src/envoy/managed-envoy.ts";
import { captureLogger } from "./support/capture-logger.ts";
import { fixtureBinaries } from "./support/control-plane/fixtures.ts";
import { RawAdsClient } from "./support/raw-ads-client.ts";
import { REPO } from "./support/strait-process.ts";
import { startXds } from "./support/xds-server-harness.ts";

const NODE = "node-1";
const TOKEN = "token-of-node-one-0123456789";
const TD = (() => {
  const td = parseTrustDomain("strait.local");
  if (!td.ok) throw new Error(td.error);
  return td.value;
})();

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Lab {
  readonly dir: string;
  readonly caDir: string;
  readonly running: RunningController;
  readonly xdsPort: number;
  clients(): Promise<
    { node: { id: string }; types: { lastSent?: { nonce: string }; lastAcked?: { nonce: string } }[] }[]
  >;
}

async function startLab(flags: Record<string, unknown> = {}): Promise<Lab> {
  const dir = mkdtempSync(join(tmpdir(), "strait-xds-ca-"));
  const manifests = join(dir, "manifests");
  mkdirSync(manifests);
  writeFileSync(
    join(manifests, "web.yaml"),
    `apiVersion: v1
kind: Pod
metadata: { name: web, namespace: default, labels: { app: web } }
spec: { nodeName: ${NODE}, containers: [{ name: c, image: x }] }
status: { podIP: 10.1.0.10 }
`,
  );
  const caDir = join(dir, "ca");
  const tokens = join(dir, "tokens.yaml");
  writeFileSync(tokens, `${NODE}: ${TOKEN}\n`);
  const settings = resolveSettings(
    RUN_SETTINGS,
    {
      file: manifests,
      "http-address": "127.0.0.1:0",
      "xds-address": "127.0.0.1:0",
      "builtin-ca-dir": caDir,
      "builtin-ca-address": "127.0.0.1:0",
      "builtin-ca-node-tokens": tokens,
      "xds-tls-builtin-ca": true,
      "xds-server-names": ["localhost", "127.0.0.1"],
      envoy: "none",
      ...flags,
    },
    {},
    undefined,
  );
  const running = await startController(settings, captureLogger("silent").logger);
  const xdsPort = Number(running.xdsAddress.split(":").at(-1));
  return {
    dir,
    caDir,
    running,
    xdsPort,
    async clients() {
      const res = await fetch(`http://${running.httpAddress}/api/v1/xds/clients`);
      return ((await res.json()) as { clients: Awaited<ReturnType<Lab["clients"]>> }).clients;
    },
  };
}

function agentCertificates(lab: Lab, envoyDir: string): AgentXdsCertificates {
  const tokenFile = join(lab.dir, "node-token");
  writeFileSync(tokenFile, TOKEN);
  const settings = resolveSettings(
    AGENT_SETTINGS,
    {
      "node-name": NODE,
      "xds-tls-builtin-ca": true,
      "builtin-ca-url": lab.running.issuerUrl,
      "builtin-ca-root": join(lab.caDir, "tls.crt"),
      "builtin-ca-token-file": tokenFile,
      "envoy-xds-cert-dir": envoyDir,
    },
    {},
    undefined,
  );
  const certs = startAgentXdsCertificates(settings, captureLogger("silent").logger, { retryMinMs: 50 });
  if (certs === undefined) throw new Error("--xds-tls-builtin-ca gave no certificates");
  return certs;
}

/** A delta ADS stream's fate: a response, or the status it ended with. */
async function firstAnswer(client: RawAdsClient, node = "probe"): Promise<string> {
  client.send({
    type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    node: { id: `strait-agent/${node}`, metadata: { "strait.dev/node": node } },
  });
  const outcome = await Promise.race([
    client.next(5_000).then((r) => `response ${r.typeUrl}`),
    client.ended.then((s) => `ended ${s.code}`),
  ]).catch((error: unknown) => `error ${(error as Error).message}`);
  client.close();
  return outcome;
}

/** The serial of the certificate the xDS server presents to a new TLS connection. */
function serverSerial(port: number, client: { cert: string; key: string; ca: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      ...client,
      ALPNProtocols: ["h2"],
      servername: "localhost",
    });
    socket.once("secureConnect", () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.once("error", reject);
  });
}

describe("xDS over mTLS with the built-in CA", () => {
  let lab: Lab;
  let certs: AgentXdsCertificates;
  let envoy: ManagedEnvoy;
  let envoyDir: string;
  let root: string;

  beforeAll(async () => {
    lab = await startLab();
    root = readFileSync(join(lab.caDir, "tls.crt"), "utf8");
    envoyDir = join(lab.dir, "envoy-xds");
    mkdirSync(envoyDir);
    // The agent's certificates first: Envoy refuses to start while its SDS file does not exist.
    certs = agentCertificates(lab, envoyDir);
    await until("the Envoy's SDS file", async () =>
      readFileSync(join(envoyDir, XDS_CLIENT_SECRET_FILE), "utf8"),
    );
    envoy = new ManagedEnvoy({
      binary: resolveEnvoyBinary(),
      logger: captureLogger("silent").logger,
      logLevel: "warning",
      bootstrap: {
        nodeId: `envoy-${NODE}`,
        node: NODE,
        xds: { host: "127.0.0.1", port: lab.xdsPort },
        api: "delta",
        admin: { host: "127.0.0.1", port: 0 },
        tls: {
          sdsCertificate: { dir: envoyDir, file: XDS_CLIENT_SECRET_FILE, name: XDS_CLIENT_SECRET },
          caFile: join(lab.caDir, "tls.crt"),
          sni: "localhost",
          serverSan: `spiffe://${TD}/strait-controller`,
        },
      },
    });
    await envoy.start();
  }, 60_000);

  afterAll(async () => {
    certs?.stop();
    await envoy?.stop();
    await lab?.running.stop();
    if (lab !== undefined) rmSync(lab.dir, { recursive: true, force: true });
  });

  it("gives the agent and its Envoy client certificates naming the node; the Envoy connects with its own and ACKs", async () => {
    const agentPair = await until("the agent's certificate", async () => certs.agent.current());
    const leaf = parseCertificate(pemBlocks(agentPair.chainPem)[0] ?? Buffer.alloc(0));
    if (!leaf.ok) throw new Error(leaf.error);
    expect(leaf.value.uriSans).toEqual([formatSpiffeId(xdsClientId(TD, NODE, "agent"))]);
    const sds = await until("the Envoy's SDS file", async () =>
      readFileSync(join(envoyDir, XDS_CLIENT_SECRET_FILE), "utf8"),
    );
    expect(sds).toContain(XDS_CLIENT_SECRET);

    const acked = await until("the Envoy's ACKs over mTLS", async () => {
      const mine = (await lab.clients()).find((c) => c.node.id === `envoy-${NODE}`);
      if (mine === undefined || mine.types.length === 0) return undefined;
      return mine.types.every((t) => t.lastSent !== undefined && t.lastAcked?.nonce === t.lastSent.nonce)
        ? mine
        : undefined;
    });
    expect(acked.types.length).toBeGreaterThanOrEqual(2); // CDS and LDS

    // The agent's own certificate opens an xDS stream too.
    const tls = certs.tls();
    if (tls === undefined) throw new Error("no agent TLS");
    const agentCredentials = () =>
      credentials.createSsl(tls.ca, tls.key, tls.cert, {
        checkServerIdentity: (_host, cert) => tls.checkServer?.(cert),
      });
    const agentClient = new RawAdsClient(`127.0.0.1:${lab.xdsPort}`, "delta", agentCredentials());
    expect(await firstAnswer(agentClient, NODE)).toMatch(/^response /);
    // Its certificate speaks for its own node only: announcing another gets PERMISSION_DENIED (7).
    const otherNode = new RawAdsClient(`127.0.0.1:${lab.xdsPort}`, "delta", agentCredentials());
    expect(await firstAnswer(otherNode, "node-2")).toBe("ended 7");

    // The agent's xDS source, asking for its certificate at each connection, gets its node's state.
    const states: DesiredState[] = [];
    const source = new XdsDesiredStateSource({
      address: `127.0.0.1:${lab.xdsPort}`,
      node: NODE,
      logger: captureLogger("silent").logger,
      tls: () => certs.tls(),
    });
    await source.start(
      async (state) => {
        states.push(state);
        return { ok: true };
      },
      () => undefined,
    );
    try {
      const first = await until("the agent's desired state over mTLS", async () => states[0]);
      expect(first.endpoints.map((e) => e.pod)).toEqual(["default/web"]);
    } finally {
      await source.stop();
    }
  }, 60_000);

  it("refuses a client without a certificate, and one with a certificate from another CA", async () => {
    const noCert = new RawAdsClient(
      `127.0.0.1:${lab.xdsPort}`,
      "delta",
      credentials.createSsl(Buffer.from(root), null, null, { checkServerIdentity: () => undefined }),
    );
    expect(await firstAnswer(noCert)).toMatch(/^(ended 14|error )/);

    const other = await CertificateAuthority.generate(TD, new Date());
    const keys = await generateKeyPair();
    const issued = await other.issue(
      xdsClientId(TD, NODE, "agent"),
      await publicKeyPem(keys.publicKey),
      new Date(),
    );
    if (!issued.ok) throw new Error(issued.error);
    const foreign = new RawAdsClient(
      `127.0.0.1:${lab.xdsPort}`,
      "delta",
      credentials.createSsl(
        Buffer.from(root),
        Buffer.from(await privateKeyPem(keys.privateKey)),
        Buffer.from(derToPem(issued.value)),
        { checkServerIdentity: () => undefined },
      ),
    );
    expect(await firstAnswer(foreign)).toMatch(/^(ended 14|error )/);
    // Neither shows up as a client; the Envoy is still there.
    expect((await lab.clients()).map((c) => c.node.id)).not.toContain("probe");
  }, 30_000);

  it("the agent connects only to the controller: a server with another certificate of the same CA is refused", async () => {
    // A server presenting the Envoy's certificate (same root, another SPIFFE ID), asking for client certificates.
    const pair = certs.envoy?.current();
    if (pair === undefined) throw new Error("no Envoy certificate");
    const impostor = await startXds({
      tls: { cert: Buffer.from(pair.chainPem), key: Buffer.from(pair.keyPem), clientCa: Buffer.from(root) },
    });
    const states: DesiredState[] = [];
    const source = new XdsDesiredStateSource({
      address: impostor.address,
      node: NODE,
      logger: captureLogger("silent").logger,
      tls: () => certs.tls(),
      retryMs: { initial: 50, max: 100 },
    });
    try {
      await source.start(
        async (state) => {
          states.push(state);
          return { ok: true };
        },
        () => undefined,
      );
      await until("a few connection attempts", async () => (source.counts.connects >= 3 ? true : undefined));
      expect(impostor.server.clients()).toEqual([]);
      expect(states).toEqual([]);
    } finally {
      await source.stop();
      await impostor.stop();
    }
  }, 30_000);

  it("the Envoy connects only to the controller: with another pinned server SAN it stays away", async () => {
    const other = new ManagedEnvoy({
      binary: resolveEnvoyBinary(),
      logger: captureLogger("silent").logger,
      logLevel: "warning",
      bootstrap: {
        nodeId: `envoy-pinned-elsewhere`,
        node: NODE,
        xds: { host: "127.0.0.1", port: lab.xdsPort },
        api: "delta",
        admin: { host: "127.0.0.1", port: 0 },
        tls: {
          sdsCertificate: { dir: envoyDir, file: XDS_CLIENT_SECRET_FILE, name: XDS_CLIENT_SECRET },
          caFile: join(lab.caDir, "tls.crt"),
          sni: "localhost",
          serverSan: `spiffe://${TD}/someone-else`,
        },
      },
    });
    await other.start();
    try {
      // It has its certificate and tries (a failed TLS handshake upstream), but never gets a stream.
      await until("the pinned Envoy's failed connections", async () => {
        const stats = await other.admin().stats();
        const failures = [...stats.entries()].find(
          ([k]) => k === "cluster.strait-xds.ssl.fail_verify_san",
        )?.[1];
        return failures !== undefined && failures > 0 ? failures : undefined;
      });
      expect((await lab.clients()).map((c) => c.node.id)).not.toContain("envoy-pinned-elsewhere");
    } finally {
      await other.stop();
    }
  }, 30_000);

  it("the chart's own Envoy bootstrap (helm template) connects over mTLS with its SDS secret and ACKs", async () => {
    const rendered = execFileSync(
      fixtureBinaries().helm,
      [
        "template",
        "strait",
        join(REPO, "charts/strait"),
        "--namespace",
        "strait-system",
        "--show-only",
        "templates/envoy-bootstrap.yaml",
        "--set",
        "auth.provider=builtin-ca",
        "--set",
        `auth.builtinCa.nodeTokens.${NODE}=${TOKEN}`,
      ],
      { encoding: "utf8" },
    );
    const configMap = parse(rendered) as { data: { "bootstrap.yaml": string } };
    // The chart's paths and addresses, pointed at this machine: the xDS Service at the lab's port,
    // the shared folder and the CA root at the test's files, the admin port picked by Envoy.
    const bootstrap = JSON.parse(
      JSON.stringify(parse(configMap.data["bootstrap.yaml"]))
        .replaceAll("/etc/strait/xds-tls", envoyDir)
        .replaceAll("/etc/strait/builtin-ca/ca.crt", join(lab.caDir, "tls.crt")),
    ) as {
      admin: { address: { socket_address: { port_value: number } } };
      static_resources: { clusters: Record<string, unknown>[] };
    };
    bootstrap.admin.address.socket_address.port_value = 0;
    const cluster = bootstrap.static_resources.clusters[0] as {
      type: string;
      load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: unknown } }[] }[] };
    };
    cluster.type = "STATIC";
    cluster.load_assignment.endpoints = [
      {
        lb_endpoints: [
          { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: lab.xdsPort } } } },
        ],
      },
    ];
    const file = join(lab.dir, "chart-bootstrap.json");
    writeFileSync(file, JSON.stringify(bootstrap));
    // As the chart runs it: node id = the node's name, which the node's certificate speaks for.
    const child = spawn(
      resolveEnvoyBinary(),
      [
        "-c",
        file,
        "--service-node",
        NODE,
        "--service-cluster",
        "strait-envoy",
        "--disable-hot-restart",
        "--base-id",
        String(process.pid % 60_000),
        "-l",
        "warning",
      ],
      { stdio: "ignore" },
    );
    try {
      await until("the chart-bootstrapped Envoy's ACKs", async () => {
        const mine = (await lab.clients()).find((c) => c.node.id === NODE);
        if (mine === undefined || mine.types.length === 0) return undefined;
        return mine.types.every((t) => t.lastSent !== undefined && t.lastAcked?.nonce === t.lastSent.nonce)
          ? true
          : undefined;
      });
    } finally {
      child.kill("SIGTERM");
    }
  }, 30_000);

  it("reloads the Envoy's renewed certificate file", async () => {
    const admin = envoy.adminAddress;
    const certsNow = async () => {
      const res = await fetch(`http://${admin}/certs`);
      const body = (await res.json()) as {
        certificates: { cert_chain: { serial_number: string }[] }[];
      };
      return body.certificates.flatMap((c) => c.cert_chain.map((x) => x.serial_number));
    };
    const before = await until("the Envoy's loaded certificate", async () => {
      const serials = await certsNow();
      return serials.length > 0 ? serials : undefined;
    });
    const renewedBefore = certs.envoy?.issued ?? 0;
    expect(await certs.envoy?.renewNow()).toBe(true);
    expect(certs.envoy?.issued).toBe(renewedBefore + 1);
    const newSerial = parseCertificate(
      pemBlocks(certs.envoy?.current()?.chainPem ?? "")[0] ?? Buffer.alloc(0),
    );
    if (!newSerial.ok) throw new Error(newSerial.error);
    const after = await until("the renewed certificate in Envoy", async () => {
      const serials = await certsNow();
      return serials.some((s) => !before.includes(s)) ? serials : undefined;
    });
    expect(after).not.toEqual(before);
    // Envoy's SDS subscription took the update.
    const stats = await envoy.admin().stats();
    const updates = [...stats.entries()].filter(
      ([k]) => k.endsWith("update_success") && k.startsWith("sds."),
    );
    expect(updates.some(([, v]) => v >= 2)).toBe(true);
  }, 30_000);
});

describe("the xDS server's certificate", () => {
  it("is renewed at half its lifetime; new connections get the new one", async () => {
    const lab = await startLab({ "xds-cert-ttl": "4s" });
    try {
      const keys = await generateKeyPair();
      const ca = await CertificateAuthority.loadOrCreate(TD, lab.caDir, new Date());
      const issued = await ca.issue(
        xdsClientId(TD, NODE, "agent"),
        await publicKeyPem(keys.publicKey),
        new Date(),
      );
      if (!issued.ok) throw new Error(issued.error);
      const client = {
        cert: derToPem(issued.value),
        key: await privateKeyPem(keys.privateKey),
        ca: readFileSync(join(lab.caDir, "tls.crt"), "utf8"),
      };
      const first = await serverSerial(lab.xdsPort, client);
      const second = await until(
        "a renewed server certificate",
        async () => {
          const serial = await serverSerial(lab.xdsPort, client);
          return serial !== first ? serial : undefined;
        },
        10_000,
      );
      expect(second).not.toBe(first);
    } finally {
      await lab.running.stop();
      rmSync(lab.dir, { recursive: true, force: true });
    }
  }, 30_000);
});
