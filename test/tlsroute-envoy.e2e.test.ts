/**
 * TLSRoute through a real Envoy 1.40 (`strait run -f` with its managed
 * Envoy): one Gateway port carrying a TLS Passthrough listener, a TLS
 * Terminate listener and an HTTPS listener (TLSRouteModeMixed). Backends are
 * real node:tls / node:net / node:http servers on loopback addresses of the
 * test's own. Each connection's fate in Envoy is compared with what
 * `strait simulate`'s simulator says for the same SNI.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createTlsServer, type Server as TlsServer, connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSelfSigned, type Issued } from "../conformance/certificates.ts";
import { simulate } from "../src/xds/simulate/index.ts";
import { freePort } from "./support/quickstart-copy.ts";
import {
  GATEWAY_CLASS,
  listen,
  serviceManifest as service,
  simulatorConfig,
  startStrait,
  until,
} from "./support/route-lab.ts";
import type { StraitProcess } from "./support/strait-process.ts";

const OCTET = 10 + Math.floor(Math.random() * 200);
const GATEWAY_ADDRESS = `127.0.1.${2 + Math.floor(Math.random() * 250)}`;

interface Lab {
  dir: string;
  port: number;
  backendPort: number;
  gatewayCert: Issued;
  passCert: Issued;
  servers: (TlsServer | NetServer | HttpServer)[];
  /** Backend name by endpoint address. */
  backendAt: Map<string, string>;
  proc?: StraitProcess;
}

const lab: Lab = {
  dir: mkdtempSync(join(tmpdir(), "strait-tlsroute-")),
  port: 0,
  backendPort: 0,
  gatewayCert: undefined as unknown as Issued,
  passCert: undefined as unknown as Issued,
  servers: [],
  backendAt: new Map(),
};

function b64(text: string): string {
  return Buffer.from(text).toString("base64");
}

function manifests(backendPort: number): string {
  return `${GATEWAY_CLASS}apiVersion: v1
kind: Secret
metadata: { name: gateway-cert, namespace: lab }
type: kubernetes.io/tls
data: { tls.crt: ${b64(lab.gatewayCert.certPem)}, tls.key: ${b64(lab.gatewayCert.keyPem)} }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: lab }
spec:
  gatewayClassName: strait
  addresses: [{ type: IPAddress, value: ${GATEWAY_ADDRESS} }]
  listeners:
    - { name: web, port: ${lab.port}, protocol: HTTPS, hostname: web.test, tls: { mode: Terminate, certificateRefs: [{ name: gateway-cert }] } }
    - { name: terminate, port: ${lab.port}, protocol: TLS, hostname: term.test, tls: { mode: Terminate, certificateRefs: [{ name: gateway-cert }] } }
    - { name: passthrough, port: ${lab.port}, protocol: TLS, hostname: "*.pass.test", tls: { mode: Passthrough } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: { name: exact, namespace: lab }
spec:
  parentRefs: [{ name: gw, sectionName: passthrough }]
  hostnames: [abc.pass.test]
  rules: [{ backendRefs: [{ name: pass-a, port: ${backendPort} }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: { name: wildcard, namespace: lab }
spec:
  parentRefs: [{ name: gw, sectionName: passthrough }]
  hostnames: ["*.pass.test"]
  rules: [{ backendRefs: [{ name: pass-b, port: ${backendPort} }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: { name: missing-backend, namespace: lab }
spec:
  parentRefs: [{ name: gw, sectionName: passthrough }]
  hostnames: [bad.pass.test]
  rules: [{ backendRefs: [{ name: nowhere, port: ${backendPort} }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: { name: terminated, namespace: lab }
spec:
  parentRefs: [{ name: gw, sectionName: terminate }]
  hostnames: [term.test]
  rules: [{ backendRefs: [{ name: plain, port: ${backendPort} }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: lab }
spec:
  parentRefs: [{ name: gw, sectionName: web }]
  rules: [{ backendRefs: [{ name: http, port: ${backendPort} }] }]
---
${service("pass-a", `127.${OCTET}.4.1`, backendPort)}${service("pass-b", `127.${OCTET}.4.2`, backendPort)}${service("plain", `127.${OCTET}.4.3`, backendPort)}${service("http", `127.${OCTET}.4.4`, backendPort)}`;
}

type Dial = { kind: "answer"; body: Record<string, unknown> } | { kind: "closed"; reason: string };

/** A TLS connection with this SNI; the client trusts `ca`; it writes a line and reads the answer. */
function dial(sni: string, ca: string): Promise<Dial> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: GATEWAY_ADDRESS, port: lab.port, servername: sni, ca });
    let data = "";
    let done = false;
    const finish = (d: Dial) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(d);
    };
    socket.setTimeout(10_000, () => finish({ kind: "closed", reason: "timeout" }));
    socket.on("secureConnect", () => socket.write("hello\n"));
    socket.on("data", (chunk) => {
      data += chunk.toString();
    });
    socket.on("end", () =>
      finish(data === "" ? { kind: "closed", reason: "closed" } : { kind: "answer", body: JSON.parse(data) }),
    );
    socket.on("error", (e) =>
      finish({ kind: "closed", reason: (e as NodeJS.ErrnoException).code ?? e.message }),
    );
  });
}

/** The simulator's verdict for a TLS connection with this SNI: the backend name, or "closed". */
function simulated(sni: string): string {
  const result = simulate(simulatorConfig(manifests(lab.backendPort)), {
    address: GATEWAY_ADDRESS,
    port: lab.port,
    tls: { sni },
    method: "GET",
    scheme: "https",
    authority: sni,
    path: "/",
    headers: [],
  });
  const o = result.outcome;
  if (o.kind === "connection-failed") return "closed";
  if (o.kind === "tcp-forward" || o.kind === "forward") return lab.backendAt.get(o.endpoint.address) ?? "?";
  return `local ${o.status}`;
}

describe("TLSRoute on a real Envoy", () => {
  beforeAll(async () => {
    lab.port = await freePort();
    const backendPort = await freePort();
    lab.backendPort = backendPort;
    lab.gatewayCert = await createSelfSigned(["web.test", "term.test"]);
    lab.passCert = await createSelfSigned(["*.pass.test"]);
    for (const [name, i] of [
      ["pass-a", 1],
      ["pass-b", 2],
    ] as const) {
      const server = createTlsServer({ cert: lab.passCert.certPem, key: lab.passCert.keyPem }, (s) => {
        s.once("data", () => s.end(JSON.stringify({ backend: name, sni: s.servername, tls: true })));
        s.on("error", () => {});
      });
      await listen(server, `127.${OCTET}.4.${i}`, backendPort);
      lab.servers.push(server);
      lab.backendAt.set(`127.${OCTET}.4.${i}`, name);
    }
    // The plain backend reports the first byte it got: 0x16 would be a TLS handshake record.
    const plain = createNetServer((s) => {
      s.once("data", (d) =>
        s.end(JSON.stringify({ backend: "plain", firstLine: d.toString().split("\n")[0] })),
      );
      s.on("error", () => {});
    });
    await listen(plain, `127.${OCTET}.4.3`, backendPort);
    lab.servers.push(plain);
    lab.backendAt.set(`127.${OCTET}.4.3`, "plain");
    const http = createHttpServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ backend: "http" }));
    });
    await listen(http, `127.${OCTET}.4.4`, backendPort);
    lab.servers.push(http);
    lab.backendAt.set(`127.${OCTET}.4.4`, "http");

    writeFileSync(join(lab.dir, "lab.yaml"), manifests(backendPort));
    lab.proc = await startStrait(lab.dir);
    // Envoy serves the port once the passthrough route answers.
    await until("the TLS listener", async () => {
      const d = await dial("abc.pass.test", lab.passCert.certPem);
      return d.kind === "answer" ? d : undefined;
    });
  }, 120_000);

  afterAll(async () => {
    await lab.proc?.stop("SIGTERM");
    for (const s of lab.servers) s.close();
    rmSync(lab.dir, { recursive: true, force: true });
  });

  /** The simulator reads the same manifests as strait. */
  const verdict = simulated;

  it("Passthrough: the exact SNI reaches its backend, which terminates the client's own TLS", async () => {
    const d = await dial("abc.pass.test", lab.passCert.certPem);
    expect(d).toEqual({ kind: "answer", body: { backend: "pass-a", sni: "abc.pass.test", tls: true } });
    expect(verdict("abc.pass.test")).toBe("pass-a");
  });

  it("Passthrough: a wildcard route takes the other names of its domain", async () => {
    const d = await dial("other.pass.test", lab.passCert.certPem);
    expect(d).toEqual({ kind: "answer", body: { backend: "pass-b", sni: "other.pass.test", tls: true } });
    expect(verdict("other.pass.test")).toBe("pass-b");
  });

  it("Terminate: Envoy ends TLS with the listener's certificate and sends the plain stream", async () => {
    const d = await dial("term.test", lab.gatewayCert.certPem);
    expect(d).toEqual({ kind: "answer", body: { backend: "plain", firstLine: "hello" } });
    expect(verdict("term.test")).toBe("plain");
  });

  it("HTTPS on the same port: an HTTPRoute answers for the HTTPS listener's SNI", async () => {
    const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: GATEWAY_ADDRESS,
          port: lab.port,
          servername: "web.test",
          ca: lab.gatewayCert.certPem,
          headers: { host: "web.test" },
          path: "/",
        },
        (res) => {
          let body = "";
          res.on("data", (c) => {
            body += c;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(status).toEqual({ status: 200, body: JSON.stringify({ backend: "http" }) });
    expect(verdict("web.test")).toBe("http");
  });

  it("an SNI no route serves, and a route whose backend does not exist: the connection is closed", async () => {
    for (const sni of ["nomatch.test", "bad.pass.test", "pass.test"]) {
      const d = await dial(sni, lab.passCert.certPem);
      expect(d.kind, `${sni}: ${JSON.stringify(d)}`).toBe("closed");
      expect(verdict(sni), sni).toBe("closed");
    }
  });
});
