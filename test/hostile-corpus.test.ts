/**
 * The hostile-input corpus (scripts/hostile-corpus.ts), in CI: every manifest
 * case next to the baseline through `strait status` and `strait translate`
 * (their own command code, in-process), a sample through a live controller
 * with the edits applied while it runs, and the agent API and xDS cases
 * against those servers. For each case: no crash, no hang, a clear error or
 * condition when the input is refused, and the baseline's listeners, virtual
 * hosts, clusters, endpoints, statuses and node policy exactly as without it.
 * The counts go to the test output (and bench/RESULTS.md).
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { connect as http2Connect } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AgentCase,
  agentCases,
  baselineFiles,
  corpusCounts,
  hostileCorpus,
  type ManifestCase,
  manifestCases,
  type XdsCase,
  xdsCases,
} from "../scripts/hostile-corpus.ts";
import type { Agent } from "../src/agent/agent.ts";
import { createAgentApi } from "../src/agent/api.ts";
import type { FlowBuffer } from "../src/agent/flows.ts";
import type { AgentMetrics } from "../src/agent/metrics.ts";
import { RUN_SETTINGS, resolveSettings } from "../src/controller/config.ts";
import type { PipelineOutput } from "../src/controller/pipeline.ts";
import { type RunningController, startController } from "../src/controller/start.ts";
import { findType, messageFromJson, TYPE_URLS } from "../src/xds/proto/index.ts";
import {
  ADDRESS_POOL,
  BASELINE_NAMESPACES,
  type BaselineNames,
  type CaseRun,
  hasFalseCondition,
  type Projection,
  runCase,
  runFolder,
} from "./support/hostile-corpus-run.ts";
import { RawAdsClient } from "./support/raw-ads-client.ts";
import { startXds, type XdsHarness } from "./support/xds-server-harness.ts";

/** A case's outcome: what went wrong, if anything. */
function judge(c: ManifestCase, run: CaseRun, baseline: Projection): string[] {
  const problems: string[] = [];
  const damaged = (Object.keys(baseline) as (keyof Projection)[]).filter(
    (k) => !isDeepStrictEqual(run.projection[k], baseline[k]),
  );
  if (damaged.length > 0) problems.push(`changed the baseline's ${damaged.join(", ")}`);
  if (run.statusExit > 1 || run.translateExit > 1)
    problems.push(`exit ${run.statusExit}/${run.translateExit}`);
  const said = run.stderr.length > 0 || run.hostileStatuses.some((s) => hasFalseCondition(s.status));
  if (c.expect === "refused" && !said) problems.push("refused nothing and said nothing");
  if (run.ms > 20_000) problems.push(`took ${Math.round(run.ms)} ms`);
  return problems;
}

describe("the hostile corpus", () => {
  it("has at least 1,000 cases across the categories the issue names", () => {
    const counts = corpusCounts(hostileCorpus());
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    console.log(`hostile corpus: ${total} cases ${JSON.stringify(counts)}`);
    expect(total).toBeGreaterThanOrEqual(1000);
    for (const category of [
      "yaml-syntax",
      "structure",
      "types",
      "regexes",
      "hostnames",
      "ports",
      "weights",
      "references",
      "secrets",
      "certificates",
      "file-system",
      "sizes",
      "agent-api",
      "xds-api",
    ])
      expect(counts[category], category).toBeGreaterThan(0);
  });
});

describe("every manifest case next to the baseline, in strait status and strait translate", () => {
  let baseline: Projection;
  let names: BaselineNames;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-hostile-base-"));
    try {
      for (const [path, text] of Object.entries(baselineFiles())) {
        mkdirSync(join(dir, path, ".."), { recursive: true });
        writeFileSync(join(dir, path), text);
      }
      const run = await runFolder(dir);
      // The baseline itself is clean: no diagnostics, every route served.
      expect(run.stderr).toBe("");
      expect(run.statusExit).toBe(0);
      expect([...run.names.virtualHosts].sort()).toEqual([
        "infra/edge/8080/api.team-b.example",
        "infra/edge/8080/shop.example.com",
      ]);
      baseline = run.projection;
      names = run.names;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const cases = manifestCases();
  const categories = [...new Set(cases.map((c) => c.category))];
  const totals = { cases: 0, refused: 0, tolerated: 0, ms: 0 };

  afterAll(() => {
    console.log(
      `hostile corpus in status/translate: ${totals.cases} manifest cases (${totals.refused} refused with a diagnostic or condition, ${totals.tolerated} tolerated), 0 with collateral damage, ${Math.round(totals.ms / Math.max(1, totals.cases))} ms per case`,
    );
  });

  for (const category of categories) {
    it(`${category}: no crash, a clear refusal, the baseline unchanged`, async () => {
      const failures: string[] = [];
      for (const c of cases.filter((x) => x.category === category)) {
        let run: CaseRun;
        try {
          run = await runCase(c, names);
        } catch (error) {
          failures.push(`${c.id}: crashed: ${(error as Error).stack?.split("\n").slice(0, 3).join(" ")}`);
          continue;
        }
        for (const p of judge(c, run, baseline)) failures.push(`${c.id}: ${p}`);
        totals.cases++;
        totals.ms += run.ms;
        if (c.expect === "refused") totals.refused++;
        else totals.tolerated++;
      }
      expect(failures).toEqual([]);
    }, 600_000);
  }
});

// ---- a live controller, edits applied while it runs ----

function liveProjection(out: PipelineOutput, names: BaselineNames) {
  const own = (ns: string) => BASELINE_NAMESPACES.has(ns);
  const strip = (v: unknown): unknown =>
    JSON.parse(
      JSON.stringify(v, (k, x) => (k === "lastTransitionTime" || k === "attachedRoutes" ? undefined : x)),
    );
  const routes = [...out.resources[TYPE_URLS.routeConfiguration].values()].flatMap((rc) =>
    ((rc.virtual_hosts ?? []) as { name: string }[]).filter((vh) => names.virtualHosts.has(vh.name)),
  );
  return strip({
    listeners: [...out.resources[TYPE_URLS.listener]].filter(([n]) => names.listeners.has(n)),
    routes,
    clusters: [...out.resources[TYPE_URLS.cluster]].filter(([n]) => names.clusters.has(n)),
    endpoints: [...out.resources[TYPE_URLS.clusterLoadAssignment]].filter(([n]) => names.clusters.has(n)),
    statuses: out.statuses.filter(
      (s) => own(s.ref.namespace) || (s.ref.namespace === "" && s.ref.name === "strait"),
    ),
    policy: out.policy.nodes,
  });
}

/** Top-level entries a case creates in the folder (to remove it again). */
function entriesOf(c: ManifestCase): string[] {
  const paths = [...Object.keys(c.files), ...Object.keys(c.symlinks ?? {}), ...(c.folders ?? [])];
  return [...new Set(paths.map((p) => p.split("/")[0] ?? p))];
}

function marker(n: number): string {
  return `apiVersion: v1
kind: Namespace
metadata: { name: hostile-marker }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: m${n}, namespace: hostile-marker }
spec:
  parentRefs: [{ name: edge, namespace: infra }]
  hostnames: [marker.example]
  rules: [{ backendRefs: [{ name: none, port: 80 }] }]
`;
}

describe("a sample of the manifest cases, applied to a running controller", () => {
  let dir: string;
  let controller: RunningController;
  let names: BaselineNames;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "strait-hostile-live-"));
    for (const [path, text] of Object.entries(baselineFiles())) {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const settings = resolveSettings(
      RUN_SETTINGS,
      {
        file: dir,
        envoy: "none",
        "http-address": "127.0.0.1:0",
        "xds-address": "127.0.0.1:0",
        "address-pool": ADDRESS_POOL,
        "log-level": "silent",
      },
      {},
      undefined,
    );
    controller = await startController(settings, pino({ level: "silent" }));
  }, 60_000);
  afterAll(async () => {
    await controller?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function outputWith(route: string, timeoutMs = 30_000): Promise<PipelineOutput> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const out = controller.pipeline.latest;
      if (out?.statuses.some((s) => s.ref.kind === "HTTPRoute" && s.ref.name === route)) return out;
      if (Date.now() > deadline) throw new Error(`the controller never read marker ${route}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function healthzMs(): Promise<number> {
    const started = performance.now();
    const r = await fetch(`http://${controller.httpAddress}/healthz`, {
      signal: AbortSignal.timeout(30_000),
    });
    expect(r.status).toBe(200);
    return performance.now() - started;
  }

  it("keeps the baseline as it was while each hostile edit is applied and removed again, and stays healthy and ready", async () => {
    writeFileSync(join(dir, "marker.yaml"), marker(0));
    const first = await outputWith("m0");
    names = {
      listeners: new Set(
        [...first.resources[TYPE_URLS.listener].keys()].filter((n) => n.startsWith("infra/")),
      ),
      virtualHosts: new Set(
        [...first.resources[TYPE_URLS.routeConfiguration].values()].flatMap((rc) =>
          ((rc.virtual_hosts ?? []) as { name: string }[])
            .map((vh) => vh.name)
            .filter((n) => !n.includes("marker") && !n.endsWith("/*")),
        ),
      ),
      clusters: new Set(
        [...first.resources[TYPE_URLS.cluster].keys()].filter((n) =>
          BASELINE_NAMESPACES.has(n.split("/")[0] ?? ""),
        ),
      ),
    };
    expect(names.virtualHosts.size).toBe(2);
    const expected = liveProjection(first, names);
    const sample = manifestCases().filter((_, i) => i % 8 === 0);
    const failures: string[] = [];
    let slowest = 0;
    for (const [i, c] of sample.entries()) {
      const n = i + 1;
      for (const [path, text] of Object.entries(c.files)) {
        mkdirSync(join(dir, path, ".."), { recursive: true });
        writeFileSync(join(dir, path), text);
      }
      for (const folder of c.folders ?? []) mkdirSync(join(dir, folder), { recursive: true });
      for (const [link, target] of Object.entries(c.symlinks ?? {})) {
        mkdirSync(join(dir, link, ".."), { recursive: true });
        symlinkSync(target, join(dir, link));
      }
      writeFileSync(join(dir, "marker.yaml"), marker(n));
      slowest = Math.max(slowest, await healthzMs());
      const out = await outputWith(`m${n}`);
      if (!isDeepStrictEqual(liveProjection(out, names), expected))
        failures.push(`${c.id}: changed the baseline`);
      for (const entry of entriesOf(c)) rmSync(join(dir, entry), { recursive: true, force: true });
    }
    writeFileSync(join(dir, "marker.yaml"), marker(sample.length + 1));
    const last = await outputWith(`m${sample.length + 1}`);
    expect(liveProjection(last, names)).toEqual(expected);
    const ready = await fetch(`http://${controller.httpAddress}/readyz`);
    expect(ready.status).toBe(200);
    console.log(
      `hostile corpus live: ${sample.length} cases applied to a running controller, 0 with collateral damage, slowest /healthz ${Math.round(slowest)} ms`,
    );
    expect(failures).toEqual([]);
    expect(slowest).toBeLessThan(10_000);
  }, 600_000);
});

// ---- the agent API ----

function recordingAgent(calls: string[]): Agent {
  return {
    desired: { endpoints: [], policies: [], ipcache: [] },
    status: () => ({ endpoints: [] }),
    cni: { all: () => [{ containerId: "a", ifName: "eth0" }] },
    datapath: {
      setAuth: () => {
        calls.push("setAuth");
        return { ok: true };
      },
    },
    applyDesired: async () => {
      calls.push("applyDesired");
      return { ok: true, value: {} };
    },
    reject: () => undefined,
    cniAdd: async () => {
      calls.push("cniAdd");
      return { ok: true, value: undefined };
    },
    cniDel: async () => {
      calls.push("cniDel");
    },
    cniCheck: () => ({ ok: true, value: undefined }),
  } as unknown as Agent;
}

describe("the agent API cases", () => {
  it("answers each with its status (400 for bad bodies, 403 for writes over TCP), never 500, and changes nothing", async () => {
    const failures: string[] = [];
    const cases: AgentCase[] = agentCases();
    for (const c of cases) {
      const calls: string[] = [];
      const app = createAgentApi(
        {
          agent: recordingAgent(calls),
          flows: { list: () => [] } as unknown as FlowBuffer,
          metrics: { registry: new Registry() } as unknown as AgentMetrics,
          logger: pino({ level: "silent" }),
          notReadyReason: () => undefined,
        },
        c.listener === "tcp" ? { kind: "read-only" } : { kind: "open" },
      );
      const r = await app.inject({
        method: c.method,
        url: c.url,
        headers: { "content-type": "application/json" },
        payload: c.body,
      });
      if (r.statusCode !== c.status) failures.push(`${c.id}: ${r.statusCode} ${r.body.slice(0, 200)}`);
      if (c.status !== 200 && calls.length > 0) failures.push(`${c.id}: changed state (${calls.join(", ")})`);
      await app.close();
    }
    console.log(`hostile corpus agent API: ${cases.length} cases, ${failures.length} failures`);
    expect(failures).toEqual([]);
  }, 120_000);
});

// ---- the xDS server ----

describe("the xDS cases", () => {
  let xds: XdsHarness;
  let baselineClient: RawAdsClient;
  const CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
  const cluster = (name: string) => ({
    name,
    type: "EDS",
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" }, service_name: name },
    connect_timeout: "1s",
  });

  beforeAll(async () => {
    xds = await startXds();
    xds.cache.publish({ [CLUSTER]: new Map([["shop/store:80", cluster("shop/store:80")]]) });
    baselineClient = new RawAdsClient(xds.address, "sotw");
    baselineClient.send({ node: { id: "baseline" }, type_url: CLUSTER });
    const first = await baselineClient.next(10_000);
    expect(first.resources.map((r) => r.name)).toEqual(["shop/store:80"]);
    baselineClient.send({
      node: { id: "baseline" },
      type_url: CLUSTER,
      version_info: first.version,
      response_nonce: first.nonce,
    });
  });
  /** Reads (and ACKs) responses until one carries `name`, or 10 s pass. */
  async function receives(client: RawAdsClient, name: string): Promise<boolean> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const r = await client.next(Math.max(1, deadline - Date.now())).catch(() => undefined);
      if (r === undefined) return false;
      client.send({
        node: { id: "baseline" },
        type_url: CLUSTER,
        version_info: r.version,
        response_nonce: r.nonce,
      });
      if (r.resources.some((x) => x.name === name)) return true;
    }
    return false;
  }

  afterAll(async () => {
    baselineClient?.close();
    await xds?.stop();
  });

  /**
   * A stream that sends its requests and never reads: raw HTTP/2, paused, so
   * its window fills and the server's writes to it stall (grpc-js would read).
   */
  function nonReader(c: XdsCase): () => void {
    const session = http2Connect(`http://${xds.address}`);
    session.on("error", () => {});
    const method = c.mode === "sotw" ? "StreamAggregatedResources" : "DeltaAggregatedResources";
    const stream = session.request({
      ":method": "POST",
      ":path": `/envoy.service.discovery.v3.AggregatedDiscoveryService/${method}`,
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.on("error", () => {});
    stream.pause();
    const type = findType(
      `envoy.service.discovery.v3.${c.mode === "sotw" ? "DiscoveryRequest" : "DeltaDiscoveryRequest"}`,
    );
    if (type === undefined) throw new Error("test: no request type");
    for (const request of c.requests) {
      if (typeof request === "string") continue;
      const { message } = messageFromJson(type, request);
      const body = Buffer.from(type.encode(message as object).finish());
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt32BE(body.length, 1);
      body.copy(frame, 5);
      stream.write(frame);
    }
    return () => session.destroy();
  }

  /** An update far over one HTTP/2 window (64 KiB), with `name` among its clusters. */
  function largeUpdate(name: string): Map<string, Record<string, unknown>> {
    const set = new Map<string, Record<string, unknown>>([[name, cluster(name)]]);
    for (let n = 0; n < 2000; n++) set.set(`pad/padding-${n}:80`, cluster(`pad/padding-${n}:80`));
    return set;
  }

  it("never affects another client: after each hostile stream a new client is served and the long-lived one still gets updates", async () => {
    const failures: string[] = [];
    const cases: XdsCase[] = xdsCases();
    let churned = 0;
    for (const [i, c] of cases.entries()) {
      const name = `shop/store-${i}:80`;
      const cuts: (() => void)[] = [];
      try {
        for (let s = 0; s < (c.streams ?? 1); s++) {
          if (c.reads === false) {
            cuts.push(nonReader(c));
            continue;
          }
          const hostile = new RawAdsClient(xds.address, c.mode);
          cuts.push(() => hostile.close());
          for (const request of c.requests) {
            if (typeof request === "string") hostile.sendRaw(Buffer.from(request.slice(4), "base64"));
            else hostile.send(request);
          }
          if (c.streams === undefined)
            await Promise.race([hostile.ended, new Promise((r) => setTimeout(r, 300))]);
        }
        churned += c.streams ?? 1;
        if (c.streams !== undefined && c.reads !== false) await new Promise((r) => setTimeout(r, 300));
      } catch (error) {
        failures.push(`${c.id}: the client could not even send it: ${(error as Error).message}`);
      } finally {
        // Slow readers stay connected while the others are checked; the rest are cut now (churn: all at once).
        if (c.reads !== false) for (const cut of cuts.splice(0)) cut();
      }
      // The long-lived client gets the next change (ACKing what it gets), and a fresh client its first answer.
      xds.cache.publish({
        [CLUSTER]: c.reads === false ? largeUpdate(name) : new Map([[name, cluster(name)]]),
      });
      if (!(await receives(baselineClient, name)))
        failures.push(`${c.id}: the baseline client missed an update`);
      const fresh = new RawAdsClient(xds.address, "delta");
      fresh.send({ node: { id: `fresh-${i}` }, type_url: CLUSTER });
      const answer = await fresh.next(10_000).catch(() => undefined);
      if (answer?.resources.some((r) => r.name === name) !== true)
        failures.push(`${c.id}: a new client was not served`);
      fresh.close();
      for (const cut of cuts) cut();
    }
    console.log(
      `hostile corpus xDS: ${cases.length} cases (${churned} hostile streams), ${failures.length} failures`,
    );
    expect(failures).toEqual([]);
  }, 300_000);
});
