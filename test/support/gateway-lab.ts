/**
 * A Gateway with many routes, served by a real Envoy from a real `strait run`,
 * for the xDS end-to-end tests and benchmarks: echo backends in this process
 * on loopback addresses of the lab's own, one manifest file per route (its
 * Service, EndpointSlice and HTTPRoute, rewritten atomically on each edit),
 * strait with `--envoy none` on a fixed free xDS port (so it can be
 * restarted under the same address), and an Envoy (src/envoy) bootstrapped
 * to it in delta or state-of-the-world mode.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { Agent, createServer, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { ManagedEnvoy, resolveEnvoyBinary, type XdsApi } from "../../src/envoy/index.ts";
import { freePort } from "./quickstart-copy.ts";
import { runArgs, StraitProcess } from "./strait-process.ts";

export interface Backend {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly server: Server;
}

export interface LoadResult {
  readonly sent: number;
  readonly ok: number;
  /** Status code → count, for every answer that was not 2xx. */
  readonly non2xx: Readonly<Record<string, number>>;
  /** Error code → count: resets, refused connections, timeouts. */
  readonly errors: Readonly<Record<string, number>>;
}

export class GatewayLab {
  readonly dir = mkdtempSync(join(tmpdir(), "strait-gwlab-"));
  readonly backends: Backend[] = [];
  readonly gateway: { address: string; port: number };
  readonly #octet = 10 + Math.floor(Math.random() * 200);
  #generation = new Map<number, number>();
  strait: StraitProcess | undefined;
  envoy: ManagedEnvoy | undefined;
  opsAddress = "";
  xdsPort = 0;

  private constructor(gatewayPort: number) {
    this.gateway = { address: `127.0.1.${2 + Math.floor(Math.random() * 250)}`, port: gatewayPort };
  }

  static async create(backendCount: number): Promise<GatewayLab> {
    const lab = new GatewayLab(await freePort());
    lab.xdsPort = await freePort();
    const port = await freePort();
    for (let i = 0; i < backendCount; i++) {
      const name = `b${i}`;
      const address = `127.${lab.#octet}.3.${i + 1}`;
      const server = createServer((req, res) => {
        req.resume();
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ backend: name, path: req.url, host: req.headers.host }));
      });
      server.keepAliveTimeout = 60_000;
      await new Promise<void>((resolve) => server.listen(port, address, resolve));
      lab.backends.push({ name, address, port, server });
    }
    writeFileSync(
      join(lab.dir, "gateway.yaml"),
      `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: strait }
spec: { controllerName: strait.dev/gateway-controller }
---
apiVersion: v1
kind: Namespace
metadata: { name: lab }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: lab }
spec:
  gatewayClassName: strait
  addresses: [{ type: IPAddress, value: ${lab.gateway.address} }]
  listeners: [{ name: http, protocol: HTTP, port: ${lab.gateway.port} }]
`,
    );
    return lab;
  }

  /**
   * Route `i` (path `/r<i>/`), with a Service of a new name per generation, so a
   * backend change is a new cluster: the make-before-break case.
   */
  writeRoute(
    i: number,
    backendIndexes: readonly number[],
    options: { newService?: boolean; header?: string } = {},
  ): void {
    const generation = (this.#generation.get(i) ?? 0) + (options.newService === true ? 1 : 0);
    this.#generation.set(i, generation);
    const service = `s${i}-g${generation}`;
    const endpoints = backendIndexes
      .map((b) => this.backends[b % this.backends.length])
      .map((b) => `  - { addresses: ["${b?.address}"], conditions: { ready: true } }`)
      .join("\n");
    const filter =
      options.header === undefined
        ? ""
        : `      filters:
        - type: ResponseHeaderModifier
          responseHeaderModifier: { set: [{ name: x-lab, value: "${options.header}" }] }
`;
    const text = `apiVersion: v1
kind: Service
metadata: { name: ${service}, namespace: lab }
spec: { ports: [{ name: http, port: 80, targetPort: ${this.backends[0]?.port} }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${service}-1, namespace: lab, labels: { kubernetes.io/service-name: ${service} } }
addressType: IPv4
ports: [{ name: http, port: ${this.backends[0]?.port} }]
endpoints:
${endpoints}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r${i}, namespace: lab }
spec:
  parentRefs: [{ name: gw }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /r${i}/ } }]
${filter}      backendRefs: [{ name: ${service}, port: 80 }]
`;
    const file = join(this.dir, `route-${i}.yaml`);
    // Written aside and renamed over: the watcher never reads half a file.
    writeFileSync(join(this.dir, `.route-${i}.tmp`), text);
    renameSync(join(this.dir, `.route-${i}.tmp`), file);
  }

  deleteRoute(i: number): void {
    rmSync(join(this.dir, `route-${i}.yaml`), { force: true });
  }

  async startStrait(): Promise<StraitProcess> {
    const proc = new StraitProcess(
      runArgs(this.dir, {
        xdsAddress: `127.0.0.1:${this.xdsPort}`,
        extra: ["--log-level", process.env.GATEWAY_LAB_LOG_LEVEL ?? "info"],
      }),
    );
    const ops = await proc.waitForLog((l) => l.msg.startsWith("operations server listening"), 30_000);
    this.opsAddress = String(ops.address);
    this.strait = proc;
    return proc;
  }

  async stopStrait(): Promise<void> {
    await this.strait?.stop("SIGTERM");
    this.strait = undefined;
  }

  /** A manifest file of the test's own in the watched folder (written aside and renamed over). */
  writeFile(name: string, text: string): void {
    writeFileSync(join(this.dir, `.${name}.tmp`), text);
    renameSync(join(this.dir, `.${name}.tmp`), join(this.dir, name));
  }

  /** The status strait reports for an object (standalone local API). */
  async status(kind: string, name: string, namespace = "lab"): Promise<Record<string, unknown> | undefined> {
    const res = await fetch(
      `http://${this.opsAddress}/api/v1/statuses?kind=${kind}&namespace=${namespace}&name=${name}`,
    );
    return ((await res.json()) as { status: Record<string, unknown> }[])[0]?.status;
  }

  async startEnvoy(api: XdsApi, runtime?: Readonly<Record<string, unknown>>): Promise<ManagedEnvoy> {
    const envoy = new ManagedEnvoy({
      binary: resolveEnvoyBinary(),
      logger: pino({ level: "warn" }),
      logLevel: "warning",
      bootstrap: {
        nodeId: `lab-envoy-${api}`,
        xds: { host: "127.0.0.1", port: this.xdsPort },
        api,
        admin: { host: "127.0.0.1", port: 0 },
        ...(runtime === undefined ? {} : { runtime }),
      },
    });
    await envoy.start();
    this.envoy = envoy;
    return envoy;
  }

  /** One request through Envoy: to route `i` (`/r<i>/x`), or to a path. */
  get(
    i: number | string,
    agent?: Agent,
  ): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
    const path = typeof i === "number" ? `/r${i}/x` : i;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.gateway.address,
          port: this.gateway.port,
          path,
          agent: agent ?? false,
          timeout: 5000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString(),
              headers: res.headers,
            }),
          );
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })));
      req.on("error", reject);
      req.end();
    });
  }

  /**
   * Sends requests across `routes` at about `ratePerSecond` (round-robin, over
   * keep-alive connections) until `stop` resolves; counts every answer that is
   * not 2xx and every failed request.
   */
  async load(routes: readonly number[], ratePerSecond: number, stop: Promise<unknown>): Promise<LoadResult> {
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const non2xx: Record<string, number> = {};
    const errors: Record<string, number> = {};
    let sent = 0;
    let ok = 0;
    let stopped = false;
    void stop.then(() => {
      stopped = true;
    });
    const inFlight = new Set<Promise<void>>();
    const started = Date.now();
    while (!stopped) {
      const due = Math.floor(((Date.now() - started) / 1000) * ratePerSecond);
      while (sent < due && inFlight.size < 64) {
        const route = routes[sent % routes.length] ?? 0;
        sent++;
        const p = this.get(route, agent).then(
          (r) => {
            if (r.status >= 200 && r.status < 300) ok++;
            else non2xx[String(r.status)] = (non2xx[String(r.status)] ?? 0) + 1;
          },
          (e: NodeJS.ErrnoException) => {
            errors[e.code ?? e.message] = (errors[e.code ?? e.message] ?? 0) + 1;
          },
        );
        inFlight.add(p);
        void p.then(() => inFlight.delete(p));
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(inFlight);
    agent.destroy();
    return { sent, ok, non2xx, errors };
  }

  async close(): Promise<void> {
    await this.envoy?.stop();
    await this.stopStrait();
    for (const b of this.backends) b.server.closeAllConnections();
    await Promise.all(this.backends.map((b) => new Promise((r) => b.server.close(r))));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
