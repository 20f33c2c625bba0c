/**
 * `npm run bench:envoy`: strait's configuration on a real Envoy 1.40.
 *
 * Part "datapath": the Gateway API benchmark configuration (bench/generate.ts:
 * 100 Gateways × 2 listeners, 5,000 HTTPRoutes × 4 rules × 2 weighted
 * backends, 5,000 Services × 10 endpoints) translated by strait and served
 * over delta xDS to one Envoy, against an Envoy with a minimal hand-written
 * static configuration (one listener, one catch-all route, one cluster of the
 * same ten backends). The same wrk request mix (the 50 routes of one Gateway,
 * each rule's path and Host, the canary header where the rule matches on it)
 * goes to both, alternately, three rounds each, in one run; the backends are a
 * third Envoy answering 200 directly. Reported: requests/s, p50 and p99
 * latency, non-2xx answers, and strait's figures as ratios of the minimal one.
 *
 * Part "propagation": `strait run -f` on the same configuration as files (one
 * per HTTPRoute), with two Envoys connected, one delta and one SotW; 100
 * route edits, one at a time; for each, the time from the file write to each
 * Envoy's ACK of the new RouteConfiguration (the ACK's time as the server
 * records it). Reported: p50, p99, max per mode.
 *
 *   node bench/envoy.ts [--part datapath|propagation|both] [--seconds N] [--changes N]
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { pino } from "pino";
import { stringify } from "yaml";
import { PipelineCache, runPipeline } from "../src/controller/pipeline.ts";
import { ManagedEnvoy, resolveEnvoyBinary } from "../src/envoy/index.ts";
import { KIND_NAMES } from "../src/resources/kinds.ts";
import type { ObjectOf } from "../src/resources/objects.ts";
import { SnapshotCache } from "../src/xds/cache/index.ts";
import { DEFAULT_LIMITS, XdsServer } from "../src/xds/server/index.ts";
import { httpRequest } from "../test/support/http-request.ts";
import { freePort } from "../test/support/quickstart-copy.ts";
import { StraitProcess } from "../test/support/strait-process.ts";
import { generate, ISSUE_SIZE, route } from "./generate.ts";

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    part: { type: "string", default: "both" },
    seconds: { type: "string", default: "10" },
    changes: { type: "string", default: "100" },
  },
});
const SECONDS = Number(values.seconds);
const CHANGES = Number(values.changes);
const logger = pino({ level: "warn" });
const BACKENDS = Array.from({ length: 10 }, (_, e) => `127.77.0.${e + 1}`);
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
const median = (xs: readonly number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

/** The benchmark configuration, with listeners on unprivileged ports and endpoints on the backend Envoy. */
function configuration(backendPort: number) {
  const store = generate(ISSUE_SIZE);
  for (const gw of store.list("Gateway")) {
    store.upsert("Gateway", {
      ...gw,
      spec: { ...gw.spec, listeners: gw.spec.listeners.map((l) => ({ ...l, port: l.port + 10000 })) },
    } as ObjectOf<"Gateway">);
  }
  for (const slice of store.list("EndpointSlice")) {
    store.upsert("EndpointSlice", {
      ...slice,
      ports: [{ name: "http", port: backendPort }],
      endpoints: (slice.endpoints ?? []).map((e, i) => ({
        ...e,
        addresses: [BACKENDS[i % BACKENDS.length] ?? ""],
      })),
    } as ObjectOf<"EndpointSlice">);
  }
  return store;
}

function staticEnvoy(
  name: string,
  bootstrap: Record<string, unknown>,
): { child: ChildProcess; stop: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `strait-bench-${name}-`));
  writeFileSync(join(dir, "bootstrap.json"), JSON.stringify(bootstrap));
  const child = spawn(
    resolveEnvoyBinary(),
    ["-c", join(dir, "bootstrap.json"), "--disable-hot-restart", "--concurrency", "1", "-l", "error"],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  return {
    child,
    stop: () => {
      child.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const hcm = (routeConfig: Record<string, unknown>) => ({
  name: "envoy.filters.network.http_connection_manager",
  typed_config: {
    "@type":
      "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    stat_prefix: "bench",
    route_config: routeConfig,
    http_filters: [
      {
        name: "envoy.filters.http.router",
        typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
      },
    ],
  },
});

/** The backends: one Envoy answering 200 on each backend address. */
function backendEnvoy(port: number) {
  return staticEnvoy("backends", {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
    static_resources: {
      listeners: BACKENDS.map((address) => ({
        name: `backend-${address}`,
        address: { socket_address: { address, port_value: port } },
        filter_chains: [
          {
            filters: [
              hcm({
                virtual_hosts: [
                  {
                    name: "all",
                    domains: ["*"],
                    routes: [
                      {
                        match: { prefix: "/" },
                        direct_response: { status: 200, body: { inline_string: "ok" } },
                      },
                    ],
                  },
                ],
              }),
            ],
          },
        ],
      })),
    },
  });
}

/** The peer: the least configuration that serves the same request mix to the same backends. */
function minimalEnvoy(address: string, port: number, backendPort: number) {
  return staticEnvoy("minimal", {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
    static_resources: {
      listeners: [
        {
          name: "minimal",
          address: { socket_address: { address, port_value: port } },
          filter_chains: [
            {
              filters: [
                hcm({
                  virtual_hosts: [
                    {
                      name: "all",
                      domains: ["*"],
                      routes: [{ match: { prefix: "/" }, route: { cluster: "backends" } }],
                    },
                  ],
                }),
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: "backends",
          type: "STATIC",
          connect_timeout: "1s",
          load_assignment: {
            cluster_name: "backends",
            endpoints: [
              {
                lb_endpoints: BACKENDS.map((a) => ({
                  endpoint: { address: { socket_address: { address: a, port_value: backendPort } } },
                })),
              },
            ],
          },
        },
      ],
    },
  });
}

/** wrk's Lua script: each request one of gw-0's routes and rules, as its matches want it. */
function wrkScript(dir: string): string {
  const routes = Array.from(
    { length: ISSUE_SIZE.routes / ISSUE_SIZE.gateways },
    (_, k) => k * ISSUE_SIZE.gateways,
  );
  const file = join(dir, "mix.lua");
  writeFileSync(
    file,
    `local routes = { ${routes.join(", ")} }
math.randomseed(7)
request = function()
  local i = routes[math.random(#routes)]
  local r = math.random(4) - 1
  local headers = { ["Host"] = "app-" .. i .. ".example.com" }
  if r == 1 then headers["x-canary"] = "1" end
  return wrk.format("GET", "/r" .. r .. "/v0/item", headers)
end
`,
  );
  return file;
}

interface WrkResult {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
}

function ms(text: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (m === null) return Number.NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2] as "us" | "ms" | "s"];
}

async function wrk(url: string, script: string): Promise<WrkResult> {
  const { stdout } = await run("wrk", ["-t1", "-c32", `-d${SECONDS}s`, "--latency", "-s", script, url]);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]),
    p50: ms(/50%\s+(\S+)/.exec(stdout)?.[1] ?? ""),
    p99: ms(/99%\s+(\S+)/.exec(stdout)?.[1] ?? ""),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0),
  };
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function datapath(): Promise<void> {
  const backendPort = await freePort();
  const store = configuration(backendPort);
  const out = runPipeline(store, {
    now: new Date(),
    addressPool: ["127.0.1.0/24"],
    cache: new PipelineCache(),
  });
  const listener = out.model.ports.find((p) => p.name === "infra/gw-0/10080");
  if (listener === undefined) throw new Error("gw-0 has no listener on 10080");
  const cache = new SnapshotCache();
  const published = cache.publish(out.resources);
  if (!published.ok) throw new Error("the configuration did not encode");
  const server = new XdsServer({ cache, logger, limits: DEFAULT_LIMITS });
  const { port: xdsPort } = await server.listen("127.0.0.1", 0);
  const backends = backendEnvoy(backendPort);
  const strait = new ManagedEnvoy({
    binary: resolveEnvoyBinary(),
    logger,
    logLevel: "error",
    concurrency: 1,
    bootstrap: {
      nodeId: "bench",
      xds: { host: "127.0.0.1", port: xdsPort },
      api: "delta",
      admin: { host: "127.0.0.1", port: 0 },
    },
  });
  const minimalAddress = "127.0.2.250";
  const minimal = minimalEnvoy(minimalAddress, listener.port, backendPort);
  const dir = mkdtempSync(join(tmpdir(), "strait-bench-wrk-"));
  const script = wrkScript(dir);
  try {
    await strait.start();
    await strait.waitReady(120_000);
    const straitUrl = `http://${listener.address}:${listener.port}`;
    const minimalUrl = `http://${minimalAddress}:${listener.port}`;
    const probe = async (address: string) =>
      (await httpRequest(address, listener.port, { host: "app-0.example.com", path: "/r0/v0/item" }))
        .status === 200;
    await waitFor("strait's Envoy serving", () => probe(listener.address));
    await waitFor("the minimal Envoy serving", () => probe(minimalAddress));
    const rss = async (pid: number | undefined) =>
      Number((await run("ps", ["-o", "rss=", "-p", String(pid)])).stdout.trim()) / 1024;
    const results: { strait: WrkResult[]; minimal: WrkResult[] } = { strait: [], minimal: [] };
    await wrk(straitUrl, script); // warm-up
    for (let i = 0; i < 3; i++) {
      results.strait.push(await wrk(straitUrl, script));
      results.minimal.push(await wrk(minimalUrl, script));
    }
    const summary = (rs: WrkResult[]) => ({
      rps: round(median(rs.map((r) => r.rps)), 0),
      p50Ms: round(median(rs.map((r) => r.p50)), 2),
      p99Ms: round(median(rs.map((r) => r.p99)), 2),
      non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
    });
    const s = summary(results.strait);
    const m = summary(results.minimal);
    console.log(
      JSON.stringify(
        {
          part: "datapath",
          seconds: SECONDS,
          resources: Object.fromEntries(
            Object.entries(out.resources).map(([t, byName]) => [t.split(".").pop(), byName.size]),
          ),
          envoyRssMiB: { strait: round(await rss(strait.pid)), minimal: round(await rss(minimal.child.pid)) },
          strait: s,
          minimal: m,
          rounds: results,
          ratio: {
            rps: round(s.rps / m.rps, 3),
            p50: round(s.p50Ms / m.p50Ms, 2),
            p99: round(s.p99Ms / m.p99Ms, 2),
          },
        },
        null,
        2,
      ),
    );
  } finally {
    await strait.stop();
    minimal.stop();
    backends.stop();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The configuration as manifest files: one per HTTPRoute (what the edits rewrite), the rest in one. */
function writeManifests(dir: string, backendPort: number): void {
  const store = configuration(backendPort);
  const docs: string[] = [];
  for (const kind of KIND_NAMES) {
    if (kind === "HTTPRoute") continue;
    for (const o of store.list(kind)) docs.push(stringify(o));
  }
  writeFileSync(join(dir, "base.yaml"), docs.join("---\n"));
  mkdirSync(join(dir, "routes"));
  for (const r of store.list("HTTPRoute"))
    writeFileSync(join(dir, "routes", `${r.metadata.name}.yaml`), stringify(r));
}

async function propagation(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "strait-bench-manifests-"));
  writeManifests(dir, await freePort());
  const xdsPort = await freePort();
  const proc = new StraitProcess([
    "run",
    "-f",
    dir,
    "--http-address",
    "127.0.0.1:0",
    "--xds-address",
    `127.0.0.1:${xdsPort}`,
    "--envoy",
    "none",
  ]);
  const ops = String(
    (await proc.waitForLog((l) => l.msg.startsWith("operations server listening"), 120_000)).address,
  );
  const envoys = (["delta", "sotw"] as const).map(
    (api) =>
      new ManagedEnvoy({
        binary: resolveEnvoyBinary(),
        logger,
        logLevel: "error",
        concurrency: 1,
        bootstrap: {
          nodeId: `bench-${api}`,
          xds: { host: "127.0.0.1", port: xdsPort },
          api,
          admin: { host: "127.0.0.1", port: 0 },
        },
      }),
  );
  type Clients = {
    clients: {
      node: { id: string };
      types: {
        type: string;
        lastSent?: { nonce: string };
        lastAcked?: { nonce: string; version: string; at: string };
      }[];
    }[];
  };
  const clients = async () =>
    ((await (await fetch(`http://${ops}/api/v1/xds/clients`)).json()) as Clients).clients;
  const rdsAck = (c: Clients["clients"], id: string) =>
    c.find((x) => x.node.id === id)?.types.find((t) => t.type === "RDS")?.lastAcked;
  const synced = (c: Clients["clients"], id: string) => {
    const mine = c.find((x) => x.node.id === id);
    return (
      mine !== undefined &&
      mine.types.length >= 4 &&
      mine.types.every((t) => t.lastSent === undefined || t.lastAcked?.nonce === t.lastSent.nonce)
    );
  };
  const latencies: Record<string, number[]> = { delta: [], sotw: [] };
  try {
    for (const e of envoys) await e.start();
    await waitFor(
      "both Envoys in sync",
      async () => {
        const c = await clients();
        return synced(c, "bench-delta") && synced(c, "bench-sotw");
      },
      300_000,
    );
    for (let k = 0; k < CHANGES; k++) {
      const i = (k * 37) % ISSUE_SIZE.routes;
      const before = await clients();
      const versions = {
        delta: rdsAck(before, "bench-delta")?.version,
        sotw: rdsAck(before, "bench-sotw")?.version,
      };
      const written = Date.now();
      writeFileSync(join(dir, "routes", `route-${i}.yaml`), stringify(route(i, ISSUE_SIZE, k + 1)));
      const done: Record<string, boolean> = {};
      await waitFor(
        `change ${k} acked`,
        async () => {
          const c = await clients();
          for (const api of ["delta", "sotw"] as const) {
            const ack = rdsAck(c, `bench-${api}`);
            if (
              done[api] !== true &&
              ack !== undefined &&
              ack.version !== versions[api] &&
              synced(c, `bench-${api}`)
            ) {
              done[api] = true;
              latencies[api]?.push(Date.parse(ack.at) - written);
            }
          }
          return done.delta === true && done.sotw === true;
        },
        60_000,
      );
      await new Promise((r) => setTimeout(r, 100));
    }
    const stats = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      return {
        n: xs.length,
        p50Ms: percentile(sorted, 50),
        p99Ms: percentile(sorted, 99),
        maxMs: sorted.at(-1),
      };
    };
    console.log(
      JSON.stringify(
        { part: "propagation", delta: stats(latencies.delta ?? []), sotw: stats(latencies.sotw ?? []) },
        null,
        2,
      ),
    );
  } finally {
    for (const e of envoys) await e.stop();
    await proc.stop("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

if (values.part === "datapath" || values.part === "both") await datapath();
if (values.part === "propagation" || values.part === "both") await propagation();
