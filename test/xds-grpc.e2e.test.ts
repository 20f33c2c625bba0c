/**
 * End to end, proxyless gRPC through strait: the real xDS client
 * (@grpc/grpc-js-xds, in its own process, with a bootstrap file) resolves
 * `xds:///echo.shop.svc.cluster.local:50051` through `strait run -f DIR` and
 * calls two real gRPC servers on loopback. Both get calls; an EndpointSlice
 * edit is followed within a second; a strait restart goes unnoticed.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syncState } from "../src/cli/commands/proxy-status.ts";
import type { ClientStatus } from "../src/xds/server/index.ts";
import { REPO, runArgs, STRAIT_BIN, StraitProcess } from "./support/strait-process.ts";

interface CallLine {
  readonly at: number;
  readonly server?: string;
  readonly error?: string;
}

const ECHO = {
  Who: {
    path: "/strait.test.Echo/Who",
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
};

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** A gRPC server on `host:port` answering Who with its name, counting calls. */
async function echoServer(
  name: string,
  host: string,
  port: number,
): Promise<{ calls: () => number; stop(): void }> {
  let calls = 0;
  const server = new Server();
  server.addService(ECHO, {
    Who: (_call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      calls++;
      callback(null, Buffer.from(name));
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (error) =>
      error === null ? resolve() : reject(error),
    ),
  );
  return { calls: () => calls, stop: () => server.forceShutdown() };
}

function manifests(port: number, endpoints: readonly string[]): string {
  return `apiVersion: v1
kind: Service
metadata: { name: echo, namespace: shop }
spec:
  ports: [{ name: grpc, port: 50051, targetPort: ${port}, appProtocol: grpc }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-1
  namespace: shop
  labels: { kubernetes.io/service-name: echo }
addressType: IPv4
ports: [{ name: grpc, port: ${port} }]
endpoints:
${endpoints.map((ip) => `  - { addresses: ["${ip}"], conditions: { ready: true } }`).join("\n")}
`;
}

const A = "127.0.0.2";
const B = "127.0.0.3";

describe("proxyless gRPC (grpc-js-xds) through strait run -f", () => {
  const dir = mkdtempSync(join(tmpdir(), "strait-xds-e2e-"));
  const lines: CallLine[] = [];
  let strait: StraitProcess;
  let client: ChildProcess;
  let servers: Awaited<ReturnType<typeof echoServer>>[] = [];
  let xdsPort = 0;
  let port = 0;

  const startStrait = async () => {
    const proc = new StraitProcess(runArgs(dir, { xdsAddress: `127.0.0.1:${xdsPort}` }));
    await proc.waitForLog((l) => l.msg === "xDS server listening");
    return proc;
  };

  const waitFor = async (what: string, ok: () => boolean, timeoutMs = 15_000) => {
    const until = Date.now() + timeoutMs;
    while (!ok()) {
      if (Date.now() > until)
        throw new Error(`timed out waiting for ${what}; last calls: ${JSON.stringify(lines.slice(-5))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  /** Calls that finished in [from, to). */
  const between = (from: number, to: number) => lines.filter((l) => l.at >= from && l.at < to);

  beforeAll(async () => {
    port = await freePort(A);
    servers = [await echoServer("a", A, port), await echoServer("b", B, port)];
    writeFileSync(join(dir, "echo.yaml"), manifests(port, [A, B]));
    xdsPort = await freePort("127.0.0.1");
    strait = await startStrait();
    // Beside, not inside, the manifest folder: strait reads every *.json there.
    const bootstrap = join(mkdtempSync(join(tmpdir(), "strait-xds-bootstrap-")), "bootstrap.json");
    writeFileSync(
      bootstrap,
      JSON.stringify({
        xds_servers: [
          {
            server_uri: `127.0.0.1:${xdsPort}`,
            channel_creds: [{ type: "insecure" }],
            server_features: ["xds_v3"],
          },
        ],
        node: { id: "e2e-grpc-client", cluster: "e2e", locality: {} },
      }),
    );
    client = spawn(
      process.execPath,
      [join(REPO, "test/support/grpc-xds-client.ts"), "xds:///echo.shop.svc.cluster.local:50051", "20"],
      { env: { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrap }, stdio: ["ignore", "pipe", "inherit"] },
    );
    createInterface({ input: client.stdout as NodeJS.ReadableStream }).on("line", (line) =>
      lines.push(JSON.parse(line) as CallLine),
    );
  }, 30_000);

  afterAll(async () => {
    client?.kill("SIGTERM");
    await strait?.stop("SIGKILL");
    for (const s of servers) s.stop();
  });

  it("sends calls to both endpoints of the EndpointSlice; strait proxy-status shows the client in sync", async () => {
    await waitFor("calls to both servers", () => servers.every((s) => s.calls() >= 5), 20_000);
    expect(servers[0]?.calls()).toBeGreaterThanOrEqual(5);
    expect(servers[1]?.calls()).toBeGreaterThanOrEqual(5);

    const ops = await strait.waitForLog((l) => l.msg.startsWith("operations server listening"));
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        STRAIT_BIN,
        ["proxy-status", "--address", String(ops.address), "-o", "json"],
        (error, stdout) => (error === null ? resolve(stdout) : reject(error)),
      ),
    );
    const client = (JSON.parse(out) as ClientStatus[]).find((c) => c.node.id === "e2e-grpc-client");
    expect(client?.mode).toBe("sotw");
    expect(client?.types.map((t) => [t.type, t.names, syncState(t)])).toEqual([
      ["CDS", 1, "SYNCED"],
      ["EDS", 1, "SYNCED"],
      ["LDS", 1, "SYNCED"],
      ["RDS", 1, "SYNCED"],
    ]);
  }, 30_000);

  it("follows an EndpointSlice edit within one second", async () => {
    for (const [only, name] of [
      [A, "a"],
      [B, "b"],
    ] as const) {
      const changedAt = Date.now();
      writeFileSync(join(dir, "echo.yaml"), manifests(port, [only]));
      await new Promise((r) => setTimeout(r, 1500));
      const after = between(changedAt + 1000, Date.now());
      expect(after.length).toBeGreaterThan(5);
      expect(after.filter((l) => l.server !== name)).toEqual([]);
    }
    writeFileSync(join(dir, "echo.yaml"), manifests(port, [A, B]));
    const back = Date.now();
    await waitFor(
      "both servers again",
      () => new Set(between(back, Date.now()).map((l) => l.server)).size === 2,
    );
  }, 30_000);

  it("keeps working while strait restarts, and follows edits afterwards", async () => {
    const stoppedAt = Date.now();
    expect(await strait.stop("SIGTERM")).toBe(0);
    await new Promise((r) => setTimeout(r, 500)); // calls go on with no control plane at all
    strait = await startStrait();
    await strait.waitForLog((l) => l.msg === "xDS client connected", 10_000);
    await new Promise((r) => setTimeout(r, 1000));
    const during = between(stoppedAt, Date.now());
    expect(during.length).toBeGreaterThan(20);
    expect(during.filter((l) => l.error !== undefined)).toEqual([]);
    expect(new Set(during.map((l) => l.server))).toEqual(new Set(["a", "b"]));

    // The reconnected client reported the versions it had; strait, computing the same, sent nothing.
    const pushes = strait.logs.filter((l) => l.msg === "xDS push");
    expect(pushes).toEqual([]);

    const changedAt = Date.now();
    writeFileSync(join(dir, "echo.yaml"), manifests(port, [B]));
    await new Promise((r) => setTimeout(r, 1500));
    const after = between(changedAt + 1000, Date.now());
    expect(after.length).toBeGreaterThan(5);
    expect(after.filter((l) => l.server !== "b")).toEqual([]);
  }, 40_000);
});
