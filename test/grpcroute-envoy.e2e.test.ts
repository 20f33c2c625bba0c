/**
 * GRPCRoute through a real Envoy 1.40 (`strait run -f` with its managed
 * Envoy): real gRPC calls with @grpc/grpc-js, plaintext HTTP/2 to the
 * Gateway's HTTP listener, to two grpc-js echo servers (one Service port
 * declares kubernetes.io/h2c, the other declares nothing, so strait gives it
 * an HTTP/2 variant cluster). Method and metadata matching, a header filter,
 * an HTTPRoute beside the GRPCRoute, and UNIMPLEMENTED for a method no rule
 * matches; each call's backend is compared with the simulator's decision.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Client,
  credentials,
  Metadata,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  status,
} from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runPipeline } from "../src/controller/pipeline.ts";
import { parseManifestText } from "../src/sources/manifests.ts";
import { ResourceStore } from "../src/sources/store.ts";
import { simulate } from "../src/xds/simulate/index.ts";
import { httpRequest } from "./support/http-request.ts";
import { freePort } from "./support/quickstart-copy.ts";
import {
  ADDRESS_POOL,
  GATEWAY_CLASS,
  listen,
  serviceManifest,
  simulatorConfig,
  startStrait,
  until,
} from "./support/route-lab.ts";
import type { StraitProcess } from "./support/strait-process.ts";

const OCTET = 10 + Math.floor(Math.random() * 200);
const GATEWAY_ADDRESS = `127.0.1.${2 + Math.floor(Math.random() * 250)}`;
const METHODS = ["Echo", "EchoTwo", "EchoThree"] as const;

const identity = (b: Buffer) => b;
/** The echo service, messages as raw bytes (JSON): the wire is real gRPC, the schema is the test's. */
const ECHO: ServiceDefinition = Object.fromEntries(
  METHODS.map((m) => [
    m,
    {
      path: `/lab.echo.Echo/${m}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  ]),
);

interface Reply {
  backend: string;
  method: string;
  version?: string;
  added?: string;
}

const dir = mkdtempSync(join(tmpdir(), "strait-grpcroute-"));
const servers: Server[] = [];
let http: HttpServer | undefined;
let proc: StraitProcess | undefined;
let client: Client | undefined;
let gatewayPort = 0;
let backendPort = 0;
const backendAt = new Map<string, string>();

function manifests(): string {
  return `${GATEWAY_CLASS}apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: lab }
spec:
  gatewayClassName: strait
  addresses: [{ type: IPAddress, value: ${GATEWAY_ADDRESS} }]
  listeners: [{ name: http, port: ${gatewayPort}, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: echo, namespace: lab, creationTimestamp: "2020-01-01T00:00:00Z" }
spec:
  parentRefs: [{ name: gw }]
  hostnames: [grpc.lab.test]
  rules:
    - matches: [{ method: { service: lab.echo.Echo, method: Echo }, headers: [{ name: version, value: two }] }]
      backendRefs: [{ name: two, port: ${backendPort} }]
    - matches: [{ method: { service: lab.echo.Echo, method: Echo } }]
      filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { add: [{ name: x-added, value: by-strait }] } }]
      backendRefs: [{ name: one, port: ${backendPort} }]
    - name: by-regex
      matches: [{ method: { type: RegularExpression, service: "lab\\\\.echo\\\\..*", method: "Echo(Two)" } }]
      backendRefs: [{ name: two, port: ${backendPort} }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: lab }
spec:
  parentRefs: [{ name: gw }]
  hostnames: [web.lab.test]
  rules: [{ matches: [{ path: { type: PathPrefix, value: /web } }], backendRefs: [{ name: web, port: ${backendPort} }] }]
---
# Newer than the GRPCRoute and for the same hostname on the same listener: not accepted (GRPCRoute spec).
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: conflicting, namespace: lab, creationTimestamp: "2099-01-01T00:00:00Z" }
spec:
  parentRefs: [{ name: gw }]
  hostnames: [grpc.lab.test]
  rules: [{ matches: [{ path: { type: PathPrefix, value: /web } }], backendRefs: [{ name: web, port: ${backendPort} }] }]
---
${serviceManifest("one", `127.${OCTET}.5.1`, backendPort, "kubernetes.io/h2c")}${serviceManifest("two", `127.${OCTET}.5.2`, backendPort)}${serviceManifest("web", `127.${OCTET}.5.3`, backendPort)}`;
}

async function startEcho(name: string, address: string): Promise<void> {
  const server = new Server();
  const handler =
    (method: string) => (call: { metadata: Metadata }, callback: (e: null, r: Buffer) => void) => {
      const version = call.metadata.get("version")[0];
      const added = call.metadata.get("x-added")[0];
      const reply: Reply = {
        backend: name,
        method,
        ...(version === undefined ? {} : { version: String(version) }),
        ...(added === undefined ? {} : { added: String(added) }),
      };
      callback(null, Buffer.from(JSON.stringify(reply)));
    };
  server.addService(ECHO, Object.fromEntries(METHODS.map((m) => [m, handler(m)])));
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`${address}:${backendPort}`, ServerCredentials.createInsecure(), (e) =>
      e === null ? resolve() : reject(e),
    ),
  );
  servers.push(server);
  backendAt.set(address, name);
}

type Outcome = { kind: "reply"; reply: Reply } | { kind: "status"; code: number };

function call(method: (typeof METHODS)[number], version?: string): Promise<Outcome> {
  const metadata = new Metadata();
  if (version !== undefined) metadata.set("version", version);
  return new Promise((resolve) => {
    type Unary = (
      req: Buffer,
      md: Metadata,
      opts: { deadline: number },
      cb: (e: { code: number } | null, r?: Buffer) => void,
    ) => void;
    const fn = (client as unknown as Record<string, Unary>)[method] as Unary;
    fn.call(client, Buffer.from("{}"), metadata, { deadline: Date.now() + 10_000 }, (e, r) =>
      resolve(
        e === null
          ? { kind: "reply", reply: JSON.parse(String(r)) as Reply }
          : { kind: "status", code: e.code },
      ),
    );
  });
}

/** The simulator's decision for the same call: the backend, or Envoy's local HTTP status. */
function simulated(method: string, version?: string): string {
  const result = simulate(simulatorConfig(manifests()), {
    address: GATEWAY_ADDRESS,
    port: gatewayPort,
    method: "POST",
    scheme: "http",
    authority: "grpc.lab.test",
    path: `/lab.echo.Echo/${method}`,
    headers: [
      ["content-type", "application/grpc"],
      ...(version === undefined ? [] : [["version", version] as const]),
    ],
  });
  const o = result.outcome;
  if (o.kind === "forward") return backendAt.get(o.endpoint.address) ?? "?";
  return o.kind === "local-response" ? `local ${o.status}` : o.kind;
}

describe("GRPCRoute on a real Envoy, real gRPC", () => {
  beforeAll(async () => {
    gatewayPort = await freePort();
    backendPort = await freePort();
    await startEcho("one", `127.${OCTET}.5.1`);
    await startEcho("two", `127.${OCTET}.5.2`);
    http = createHttpServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ backend: "web" }));
    });
    await listen(http, `127.${OCTET}.5.3`, backendPort);
    backendAt.set(`127.${OCTET}.5.3`, "web");
    writeFileSync(join(dir, "lab.yaml"), manifests());
    proc = await startStrait(dir);
    const Echo = makeGenericClientConstructor(ECHO, "Echo");
    client = new Echo(`${GATEWAY_ADDRESS}:${gatewayPort}`, credentials.createInsecure(), {
      "grpc.default_authority": "grpc.lab.test",
    });
    await until("the gRPC route", async () => {
      const o = await call("Echo");
      return o.kind === "reply" ? o : undefined;
    });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await proc?.stop("SIGTERM");
    for (const s of servers) s.forceShutdown();
    http?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("an exact method match reaches its backend, with the rule's header filter applied", async () => {
    expect(await call("Echo")).toEqual({
      kind: "reply",
      reply: { backend: "one", method: "Echo", added: "by-strait" },
    });
    expect(simulated("Echo")).toBe("one");
  });

  it("a metadata match takes precedence for the same method, to an HTTP/2 variant cluster", async () => {
    expect(await call("Echo", "two")).toEqual({
      kind: "reply",
      reply: { backend: "two", method: "Echo", version: "two" },
    });
    expect(simulated("Echo", "two")).toBe("two");
  });

  it("a regular-expression method match", async () => {
    expect(await call("EchoTwo")).toEqual({ kind: "reply", reply: { backend: "two", method: "EchoTwo" } });
    expect(simulated("EchoTwo")).toBe("two");
  });

  it("a method no rule matches: Envoy answers UNIMPLEMENTED", async () => {
    expect(await call("EchoThree")).toEqual({ kind: "status", code: status.UNIMPLEMENTED });
    expect(simulated("EchoThree")).toBe("local 404");
  });

  it("an HTTPRoute for another hostname on the same listener serves HTTP/1.1 beside it", async () => {
    const res = await httpRequest(GATEWAY_ADDRESS, gatewayPort, { host: "web.lab.test", path: "/web/x" });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ backend: "web" });
  });

  it("a newer HTTPRoute for the GRPCRoute's hostname is not accepted, and Envoy does not route it", async () => {
    const res = await httpRequest(GATEWAY_ADDRESS, gatewayPort, { host: "grpc.lab.test", path: "/web/x" });
    expect(res.status).toBe(404);
    const store = new ResourceStore();
    for (const o of parseManifestText("lab.yaml", manifests()).objects) store.upsert(o.kind, o.object);
    const out = runPipeline(store, { now: new Date(), addressPool: ADDRESS_POOL });
    const status = out.statuses.find((s) => s.ref.kind === "HTTPRoute" && s.ref.name === "conflicting");
    const parents = (status?.status.parents ?? []) as {
      conditions: { type: string; status: string; reason: string }[];
    }[];
    expect(parents[0]?.conditions.find((c) => c.type === "Accepted")).toMatchObject({
      status: "False",
      reason: "NotAllowedByListeners",
    });
  });
});
