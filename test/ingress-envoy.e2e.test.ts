/**
 * The Ingress cases of testdata/ingress/conformance.yaml through a real
 * Envoy 1.40 (`strait run -f` with its managed Envoy, ports 80 and 443 on the
 * Ingress addresses: run as root). One case at a time: its manifests are
 * written to the watched folder, and every request must eventually be
 * answered as the case says, by real node:http servers standing for the
 * Services, and as the simulator decides on the same manifests.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runPipeline } from "../src/controller/pipeline.ts";
import { parseManifestText } from "../src/sources/manifests.ts";
import { ResourceStore } from "../src/sources/store.ts";
import { prepareNodeConfig, simulate } from "../src/xds/simulate/index.ts";
import {
  firstIngress,
  INGRESS_CASES,
  INGRESS_TLS_SECRET,
  type IngressCase,
  type IngressRequestCase,
} from "./support/ingress-cases.ts";
import { freePort } from "./support/quickstart-copy.ts";
import { ADDRESS_POOL, listen, serviceManifest, startStrait, until } from "./support/route-lab.ts";
import type { StraitProcess } from "./support/strait-process.ts";

const data = INGRESS_CASES;
const root = process.getuid?.() === 0;
const OCTET = 10 + Math.floor(Math.random() * 200);
const dir = mkdtempSync(join(tmpdir(), "strait-ingress-"));
const servers: Server[] = [];
const byAddress = new Map<string, string>();
let backendPort = 0;
let proc: StraitProcess | undefined;

const SECRET = INGRESS_TLS_SECRET;

function manifestsOf(c: IngressCase): string {
  const services = data.services
    .map((name, i) => serviceManifest(name, `127.${OCTET}.6.${i + 1}`, backendPort))
    .join("")
    // The cases name the port "http" and 8080; the lab's servers listen on a free port.
    .replaceAll("name: p,", "name: http,");
  return [
    data.common,
    "apiVersion: v1\nkind: Namespace\nmetadata: { name: lab }\n",
    SECRET,
    services,
    c.manifests.replaceAll("number: 8080", `number: ${backendPort}`),
  ].join("\n---\n");
}

function addresses(manifests: string): Map<string, string> {
  const store = new ResourceStore();
  for (const o of parseManifestText("lab.yaml", manifests).objects) store.upsert(o.kind, o.object);
  const out = runPipeline(store, { now: new Date(), addressPool: ADDRESS_POOL });
  const map = new Map<string, string>();
  for (const s of out.statuses) {
    const ip = (s.status as { loadBalancer?: { ingress?: { ip: string }[] } }).loadBalancer?.ingress?.[0]?.ip;
    if (s.ref.kind === "Ingress" && ip !== undefined) map.set(s.ref.name, ip);
  }
  return map;
}

/** What Envoy answered: the backend's name, the status, or "failed". */
function send(address: string, r: IngressRequestCase): Promise<string> {
  return new Promise((resolve) => {
    const https = r.scheme === "https";
    const options = {
      host: address,
      port: https ? 443 : 80,
      path: r.path,
      headers: { host: r.host },
      ...(https ? { servername: r.host.replace(/:\d+$/, ""), rejectUnauthorized: false } : {}),
      timeout: 10_000,
    };
    const req = (https ? httpsRequest : httpRequest)(options, (res) => {
      let body = "";
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () =>
        resolve(
          res.statusCode === 200
            ? String((JSON.parse(body) as { backend: string }).backend)
            : `${res.statusCode}`,
        ),
      );
    });
    req.on("error", () => resolve("failed"));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

function expected(r: IngressRequestCase): string {
  return r.connectionFails === true ? "failed" : (r.backend ?? String(r.status));
}

function simulated(manifests: string, address: string, r: IngressRequestCase): string {
  const store = new ResourceStore();
  for (const o of parseManifestText("lab.yaml", manifests).objects) store.upsert(o.kind, o.object);
  const { config } = prepareNodeConfig(
    runPipeline(store, { now: new Date(), addressPool: ADDRESS_POOL }).resources,
  );
  const https = r.scheme === "https";
  const o = simulate(config, {
    address,
    port: https ? 443 : 80,
    ...(https ? { tls: { sni: r.host.replace(/:\d+$/, "") } } : {}),
    method: "GET",
    scheme: https ? "https" : "http",
    authority: r.host,
    path: r.path,
    headers: [],
  }).outcome;
  if (o.kind === "connection-failed") return "failed";
  if (o.kind === "forward") return byAddress.get(o.endpoint.address) ?? "?";
  return o.kind === "local-response" ? String(o.status) : o.kind;
}

describe.skipIf(!root)("Ingress on a real Envoy (ports 80 and 443: root)", () => {
  beforeAll(async () => {
    backendPort = await freePort();
    for (const [i, name] of data.services.entries()) {
      const address = `127.${OCTET}.6.${i + 1}`;
      const server = createServer((req, res) => {
        req.resume();
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ backend: name }));
      });
      await listen(server, address, backendPort);
      servers.push(server);
      byAddress.set(address, name);
    }
    writeFileSync(join(dir, "lab.yaml"), manifestsOf(data.cases[0] as IngressCase));
    proc = await startStrait(dir);
  }, 120_000);

  afterAll(async () => {
    await proc?.stop("SIGTERM");
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(data.cases.map((c) => [c.name, c] as const))(
    "%s",
    async (_name, c) => {
      const manifests = manifestsOf(c);
      writeFileSync(join(dir, "lab.yaml"), manifests);
      const ips = addresses(manifests);
      const first = firstIngress(c);
      for (const r of c.requests) {
        const address = ips.get(r.ingress ?? first) ?? "";
        const what = `${c.name}: ${r.scheme ?? "http"}://${r.host}${r.path}`;
        // Eventually consistent, as the upstream suites are: the folder change reaches Envoy in a moment.
        const got = await until(what, async () => {
          const answer = await send(address, r);
          return answer === expected(r) ? answer : undefined;
        }).catch(async () => send(address, r));
        expect(got, what).toBe(expected(r));
        expect(simulated(manifests, address, r), `${what} (simulator)`).toBe(expected(r));
      }
    },
    120_000,
  );
});
