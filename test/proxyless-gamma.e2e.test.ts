/**
 * End to end, GAMMA routes for proxyless gRPC: an HTTPRoute whose parent is
 * the Service `shop/echo` routes the calls of a real grpc-js-xds client (its
 * own process, target `xds:///echo.shop.svc.cluster.local:50051`) through
 * `strait run -f DIR` to two real gRPC servers behind the Services `echo-a`
 * and `echo-b`: a header-matched rule to b, a 3:1 weighted split for the
 * rest, a rule with a URL rewrite (which gRPC cannot do) refused with
 * UNAVAILABLE while the others keep working; deleting the route sends
 * everything back to the Service's own endpoints.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, runArgs, StraitProcess } from "./support/strait-process.ts";

interface Tally {
  readonly id: number;
  readonly servers: Record<string, number>;
  readonly errors: Record<string, number>;
}

const passthrough = {
  requestStream: false,
  responseStream: false,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};
const ECHO = {
  Who: { path: "/strait.test.Echo/Who", ...passthrough },
  Old: { path: "/strait.test.Echo/Old", ...passthrough },
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

/** A gRPC server on `host:port` answering every method with its name. */
async function echoServer(name: string, host: string, port: number): Promise<{ stop(): void }> {
  const server = new Server();
  const answer = (_call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) =>
    callback(null, Buffer.from(name));
  server.addService(ECHO, { Who: answer, Old: answer });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (error) =>
      error === null ? resolve() : reject(error),
    ),
  );
  return { stop: () => server.forceShutdown() };
}

const A = "127.0.0.2";
const B = "127.0.0.3";

/** A Service and its EndpointSlice; `echo` (the route's parent) has both servers. */
function service(name: string, clusterIp: string, port: number, ips: readonly string[]): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: shop }
spec:
  clusterIP: ${clusterIp}
  ports: [{ name: grpc, port: 50051, targetPort: ${port}, appProtocol: grpc }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}-1
  namespace: shop
  labels: { kubernetes.io/service-name: ${name} }
addressType: IPv4
ports: [{ name: grpc, port: ${port} }]
endpoints:
${ips.map((ip) => `  - { addresses: ["${ip}"], conditions: { ready: true } }`).join("\n")}
`;
}

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: echo-split, namespace: shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo, port: 50051 }]
  rules:
    - matches: [{ headers: [{ name: x-canary, value: "yes" }] }]
      backendRefs: [{ name: echo-b, port: 50051 }]
    - matches: [{ path: { type: Exact, value: /strait.test.Echo/Old } }]
      filters:
        - type: URLRewrite
          urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /strait.test.Echo/Who } }
      backendRefs: [{ name: echo-a, port: 50051 }]
    - backendRefs:
        - { name: echo-a, port: 50051, weight: 3 }
        - { name: echo-b, port: 50051, weight: 1 }
`;

/** A grpc-xds-caller process with its own bootstrap (node id and metadata). */
class Caller {
  readonly #child: ChildProcess;
  readonly #replies = new Map<number, (t: Tally) => void>();
  #next = 1;

  constructor(bootstrap: string) {
    this.#child = spawn(
      process.execPath,
      [join(REPO, "test/support/grpc-xds-caller.ts"), "xds:///echo.shop.svc.cluster.local:50051"],
      { env: { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrap }, stdio: ["pipe", "pipe", "inherit"] },
    );
    createInterface({ input: this.#child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      const tally = JSON.parse(line) as Tally;
      this.#replies.get(tally.id)?.(tally);
      this.#replies.delete(tally.id);
    });
  }

  calls(
    count: number,
    path = "/strait.test.Echo/Who",
    metadata: Record<string, string> = {},
  ): Promise<Tally> {
    return new Promise<Tally>((resolve) => {
      const id = this.#next++;
      this.#replies.set(id, resolve);
      this.#child.stdin?.write(`${JSON.stringify({ id, path, metadata, count })}\n`);
    });
  }

  /**
   * The channel's first calls wait for resolution: calls until one succeeds
   * (each with the caller's 5 s deadline); how many calls it took.
   */
  async warmUp(): Promise<number> {
    const started = Date.now();
    let attempts = 1;
    while (Object.keys((await this.calls(1)).servers).length === 0 && Date.now() < started + 30_000) {
      attempts++;
      await new Promise((r) => setTimeout(r, 200));
    }
    return attempts;
  }

  stop(): void {
    this.#child.kill("SIGTERM");
  }
}

/** A consumer route of namespace web (GEP-1426): its clients get it in place of the producer's. */
const CONSUMER_ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: echo-web, namespace: web }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo, namespace: shop, port: 50051 }]
  rules: [{ backendRefs: [{ name: echo, namespace: shop, port: 50051 }] }]
---
apiVersion: v1
kind: Pod
metadata: { name: web-client, namespace: web }
spec: { containers: [{ name: client, image: client }] }
status: { podIP: 10.244.0.7 }
`;

describe("GAMMA routes for proxyless gRPC (grpc-js-xds) through strait run -f", () => {
  const dir = mkdtempSync(join(tmpdir(), "strait-gamma-grpc-"));
  const bootstrapDir = mkdtempSync(join(tmpdir(), "strait-gamma-bootstrap-"));
  let strait: StraitProcess;
  let client: Caller;
  let webClient: Caller;
  let servers: { stop(): void }[] = [];
  let firstCallAttempts = 0;
  const calls = (count: number, path?: string, metadata?: Record<string, string>) =>
    client.calls(count, path, metadata);

  const bootstrap = (xdsPort: number, id: string, metadata: Record<string, string>) => {
    const file = join(bootstrapDir, `${id}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        xds_servers: [
          {
            server_uri: `127.0.0.1:${xdsPort}`,
            channel_creds: [{ type: "insecure" }],
            server_features: ["xds_v3"],
          },
        ],
        node: { id, cluster: "e2e", locality: {}, metadata },
      }),
    );
    return file;
  };

  beforeAll(async () => {
    const port = await freePort(A);
    servers = [await echoServer("a", A, port), await echoServer("b", B, port)];
    writeFileSync(
      join(dir, "services.yaml"),
      [
        service("echo", "10.96.0.10", port, [A, B]),
        service("echo-a", "10.96.0.11", port, [A]),
        service("echo-b", "10.96.0.12", port, [B]),
      ].join("---\n"),
    );
    writeFileSync(join(dir, "route.yaml"), ROUTE);
    writeFileSync(join(dir, "consumer.yaml"), CONSUMER_ROUTE);
    const xdsPort = await freePort("127.0.0.1");
    strait = new StraitProcess(runArgs(dir, { xdsAddress: `127.0.0.1:${xdsPort}` }));
    await strait.waitForLog((l) => l.msg === "xDS server listening");
    // One client names no namespace (the producer routes), one names web (its consumer route).
    client = new Caller(bootstrap(xdsPort, "e2e-gamma-client", {}));
    webClient = new Caller(bootstrap(xdsPort, "e2e-gamma-web-client", { NAMESPACE: "web" }));
    firstCallAttempts = await client.warmUp();
    await webClient.warmUp();
  }, 60_000);

  afterAll(async () => {
    client?.stop();
    webClient?.stop();
    await strait?.stop("SIGKILL");
    for (const s of servers) s.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(bootstrapDir, { recursive: true, force: true });
  });

  it("resolves at once, the refused rule's cluster included (served without endpoints, not left to gRPC's 15 s timer)", () => {
    // The first call succeeds within its 5 s deadline; with a cluster never sent it would wait for the
    // client's 15 s does-not-exist timer (two calls failed DEADLINE_EXCEEDED before these were served).
    expect(firstCallAttempts).toBe(1);
  });

  it("sends header-matched calls to the rule's backend only", async () => {
    const tally = await calls(50, "/strait.test.Echo/Who", { "x-canary": "yes" });
    expect(tally.errors).toEqual({});
    expect(tally.servers).toEqual({ b: 50 });
  }, 30_000);

  it("splits the other calls 3:1 between the weighted backends", async () => {
    const tally = await calls(400);
    expect(tally.errors).toEqual({});
    const a = tally.servers.a ?? 0;
    const b = tally.servers.b ?? 0;
    expect(a + b).toBe(400);
    // 300 expected; ±5 standard deviations (8.7 each) of the binomial.
    expect(a).toBeGreaterThan(256);
    expect(a).toBeLessThan(344);
  }, 60_000);

  it("refuses the rewrite rule's calls with UNAVAILABLE, logs why, and serves the rest (no NACK)", async () => {
    const tally = await calls(5, "/strait.test.Echo/Old");
    expect(tally.servers).toEqual({});
    const [message, count] = Object.entries(tally.errors)[0] ?? ["", 0];
    expect(count).toBe(5);
    // gRPC's own words for a cluster without endpoints; strait's log names the route and why.
    expect(message).toMatch(/^14 UNAVAILABLE: /);
    const logged = strait.logs.find((l) => l.msg.startsWith("proxyless gRPC target: mesh route features"));
    expect(logged?.target).toBe("echo.shop.svc.cluster.local:50051");
    expect(logged?.notes).toEqual([
      {
        route: expect.stringMatching(/^shop\/echo-split\//),
        kind: "refused",
        detail: "path-rewrite (not done by gRPC): calls fail UNAVAILABLE",
      },
    ]);
    expect((await calls(5, "/strait.test.Echo/Who", { "x-canary": "yes" })).servers).toEqual({ b: 5 });
    const ops = await strait.waitForLog((l) => l.msg.startsWith("operations server listening"));
    const metrics = await (await fetch(`http://${String(ops.address)}/metrics`)).text();
    expect(metrics).toContain('strait_xds_proxyless_route_notes{kind="refused"} 1');
    expect(metrics).toContain('strait_xds_proxyless_route_notes{kind="left-out"} 0');
  }, 30_000);

  it("serves a client that names its namespace (node metadata NAMESPACE) that namespace's consumer route", async () => {
    // The consumer route sends every call to the Service (both servers); the producer's header rule is not there.
    const web = await webClient.calls(40, "/strait.test.Echo/Who", { "x-canary": "yes" });
    expect(web.errors).toEqual({});
    expect(web.servers.a).toBeGreaterThan(0);
    expect(web.servers.b).toBeGreaterThan(0);
    // Nor its refused rewrite rule.
    expect((await webClient.calls(5, "/strait.test.Echo/Old")).errors).toEqual({});
    expect((await calls(10, "/strait.test.Echo/Who", { "x-canary": "yes" })).servers).toEqual({ b: 10 });
  }, 30_000);

  it("goes back to the Service's own endpoints when the route is deleted", async () => {
    rmSync(join(dir, "route.yaml"));
    // The file source notices within a second or so; the client follows.
    const until = Date.now() + 10_000;
    let tally = await calls(40, "/strait.test.Echo/Who", { "x-canary": "yes" });
    while ((tally.servers.a ?? 0) === 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      tally = await calls(40, "/strait.test.Echo/Who", { "x-canary": "yes" });
    }
    expect(tally.errors).toEqual({});
    expect(tally.servers.a).toBeGreaterThan(0);
    expect(tally.servers.b).toBeGreaterThan(0);
    const old = await calls(5, "/strait.test.Echo/Old");
    expect(old.errors).toEqual({});
    // Through every change the client accepted what it was sent.
    expect(strait.logs.filter((l) => l.msg === "xDS client rejected a response (NACK)")).toEqual([]);
  }, 30_000);
});
