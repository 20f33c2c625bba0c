import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { captureLogger } from "../../test/support/capture-logger.ts";
import { BASE, storeOf } from "../../test/support/gateway-one-pass.ts";
import type { ResourceStore } from "../sources/store.ts";
import { type ResourceJsonSet, SnapshotCache, UNKNOWN_NODE } from "../xds/cache/index.ts";
import type { PublishResult } from "../xds/cache/snapshot-cache.ts";
import { TYPE_URLS } from "../xds/proto/index.ts";
import { RUN_SETTINGS, resolveSettings } from "./config.ts";
import { createOpsServer, listenOpsServer, type OpsServer } from "./ops-server.ts";
import { PipelineReconciler } from "./pipeline-reconciler.ts";
import { proxylessResolver } from "./proxyless-resolver.ts";
import { FLEET_READINESS_PATH, ReadinessChecks } from "./readiness.ts";
import { startXdsServing, type XdsServing, xdsListenConfig } from "./xds-serving.ts";

/**
 * Translation checks every part of a resource before it assembles it, so no
 * input makes a resource fail encoding any more: the failure is injected at
 * the cache boundary. The cache is the real one and so is its encoding: the
 * injected resource really fails the strict codec (an unknown field), or
 * `publish` throws as a bug in the cache would.
 */
class FaultyCache extends SnapshotCache {
  fault: "none" | "bad-resource" | "bad-listener" | "throw" = "none";

  override publish(set: ResourceJsonSet): PublishResult {
    if (this.fault === "throw") throw new Error("injected: the cache failed");
    if (this.fault === "none") return super.publish(set);
    if (this.fault === "bad-listener") {
      // The Gateway's own listener, damaged as a translator bug would: what produced it must say so.
      const listeners = new Map(set[TYPE_URLS.listener] ?? []);
      const [name, listener] = [...listeners].find(([n]) => n.startsWith("apps/gw/")) ?? [];
      if (name === undefined) throw new Error("test: no listener of apps/gw");
      listeners.set(name, { ...(listener as object), no_such_field: true });
      return super.publish({ ...set, [TYPE_URLS.listener]: listeners });
    }
    const clusters = new Map(set[TYPE_URLS.cluster] ?? []);
    clusters.set("injected-bad", { name: "injected-bad", no_such_field: true });
    return super.publish({ ...set, [TYPE_URLS.cluster]: clusters });
  }
}

const GATEWAY = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: apps, generation: 1 }
spec: { gatewayClassName: strait, listeners: [{ name: web, protocol: HTTP, port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: apps, generation: 1 }
spec:
  parentRefs: [{ name: gw }]
  rules: [{ backendRefs: [{ name: echo, port: 8080 }] }]
`;

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function serve(): Promise<{
  cache: FaultyCache;
  pipeline: PipelineReconciler;
  store: ResourceStore;
  xds: XdsServing;
  ops: OpsServer;
  lines: { msg: string }[];
  rejectionsChanged: () => number;
  readiness: ReadinessChecks;
}> {
  const { logger, lines } = captureLogger();
  const store = storeOf(BASE, GATEWAY);
  const registry = new Registry();
  const pipeline = new PipelineReconciler(["127.0.1.0/24"], logger);
  // The resolver the controller uses, so proxyless targets resolve against this store.
  const cache = new FaultyCache({ resolver: proxylessResolver(store), onDemandTypes: [TYPE_URLS.listener] });
  const readiness = new ReadinessChecks();
  const app = createOpsServer({ address: "127.0.0.1:0", logger, registry, readiness });
  const config = xdsListenConfig(
    resolveSettings(RUN_SETTINGS, { file: ".", "xds-address": "127.0.0.1:0" }, {}, undefined),
  );
  let changed = 0;
  const xds = await startXdsServing({
    config,
    logger,
    registry,
    store,
    pipeline,
    app,
    cache,
    onRejectionsChanged: () => changed++,
  });
  for (const check of xds.readinessChecks) readiness.add(check);
  stops.push(() => xds.stop());
  const ops = await listenOpsServer(app, "127.0.0.1:0");
  stops.push(() => ops.close());
  return { cache, pipeline, store, xds, ops, lines, rejectionsChanged: () => changed, readiness };
}

async function get(ops: OpsServer, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${ops.address}${path}`);
  return { status: res.status, text: await res.text() };
}

async function metric(ops: OpsServer, name: string): Promise<number | undefined> {
  const text = (await get(ops, "/metrics")).text;
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

interface ListenerStatus {
  readonly conditions: readonly { type: string; status: string; message: string }[];
}

/** The status of apps/gw's first listener in the last pass. */
function firstListener(pipeline: PipelineReconciler): ListenerStatus | undefined {
  const gateway = pipeline.latest?.statuses.find((s) => s.ref.kind === "Gateway" && s.ref.name === "gw");
  return (gateway?.status.listeners as readonly ListenerStatus[] | undefined)?.[0];
}

/** apps/web's `strait.dev/Programmed` condition on its Gateway parent in the last pass, if any. */
function routeProgrammed(pipeline: PipelineReconciler) {
  const route = pipeline.latest?.statuses.find((s) => s.ref.kind === "HTTPRoute" && s.ref.name === "web");
  const parents = route?.status.parents as
    | readonly { conditions: readonly { type: string; status: string; reason: string; message: string }[] }[]
    | undefined;
  return parents?.[0]?.conditions.find((c) => c.type === "strait.dev/Programmed");
}

describe("/readyz and cache-level xDS failures", () => {
  it("is not ready before the first snapshot, and ready after it", async () => {
    const { pipeline, store, ops } = await serve();
    const before = await get(ops, "/readyz");
    expect(before.status).toBe(503);
    expect(JSON.parse(before.text)).toEqual({
      status: "not ready",
      reason: "no xDS snapshot published yet",
      failed: ["xds-snapshot"],
    });
    await pipeline.reconcile(store);
    expect(await get(ops, "/readyz")).toEqual({ status: 200, text: '{"status":"ready"}' });
    expect((await get(ops, "/readyz?verbose")).text).toBe(
      "[+]xds-snapshot ok\n[+]xds-current ok\n[+]xds-withheld-resources ok\n[+]proxyless-targets ok\nreadyz check passed\n",
    );
  });

  it("stays ready while a resource fails encoding, and reports it in ?verbose, the metric and the rejections", async () => {
    const { cache, pipeline, store, ops, xds, lines } = await serve();
    await pipeline.reconcile(store);
    const servedBefore = [
      ...(xds.cache.snapshotFor(UNKNOWN_NODE)?.type(TYPE_URLS.cluster).entries.keys() ?? []),
    ];
    expect(servedBefore).toContain("apps/echo:8080");

    cache.fault = "bad-resource";
    await pipeline.reconcile(store);
    expect((await get(ops, "/readyz")).status).toBe(200);
    const verbose = await get(ops, "/readyz?verbose");
    expect(verbose.status).toBe(200);
    expect(verbose.text).toMatch(
      /^\[!\]xds-withheld-resources \(informational, does not fail readiness\): gateway layer: 1 resource\(s\) failed encoding, each served at its previous version or left out when new \(Cluster injected-bad: .*no_such_field/m,
    );
    expect(verbose.text).toMatch(/readyz check passed\n$/);
    expect(await metric(ops, 'strait_xds_withheld_resources{layer="gateway"}')).toBe(1);
    // The rest is served: every cluster of the pass, without the bad one.
    const served = [...(xds.cache.snapshotFor(UNKNOWN_NODE)?.type(TYPE_URLS.cluster).entries.keys() ?? [])];
    expect(served).toEqual(servedBefore);
    const rejections = JSON.parse((await get(ops, "/api/v1/xds/rejections")).text) as {
      rejections: { resource: string; name: string; message: string }[];
    };
    expect(rejections.rejections).toEqual([
      expect.objectContaining({
        resource: "cluster",
        name: "injected-bad",
        message: expect.stringMatching(/^withheld by strait/),
      }),
    ]);

    cache.fault = "none";
    await pipeline.reconcile(store);
    expect((await get(ops, "/readyz?verbose")).text).toMatch(/^\[\+\]xds-withheld-resources ok$/m);
    expect(await metric(ops, 'strait_xds_withheld_resources{layer="gateway"}')).toBe(0);
    expect(lines.some((l) => l.msg === "xDS snapshot published")).toBe(true);
  });

  it("marks what produced a withheld resource: the Gateway listener is not Programmed", async () => {
    const { cache, pipeline, store, ops, rejectionsChanged } = await serve();
    cache.fault = "bad-listener";
    await pipeline.reconcile(store);
    expect(rejectionsChanged()).toBe(1); // the controller reconciles again for the status
    await pipeline.reconcile(store);
    expect(rejectionsChanged()).toBe(1); // the same withheld set: no reconcile loop
    const listener = firstListener(pipeline);
    // The spec's reason on the Gateway listener; the route's condition names what happened.
    expect(listener?.conditions.find((c) => c.type === "Programmed")).toMatchObject({
      status: "False",
      reason: "Invalid",
      message: expect.stringMatching(/^listener apps\/gw\/80 withheld by strait.*no_such_field/),
    });
    expect(routeProgrammed(pipeline)).toMatchObject({
      status: "False",
      reason: "WithheldFailedEncoding",
      message: expect.stringMatching(
        /^listener apps\/gw\/80 withheld by strait, not sent to any node: it fails strict encoding/,
      ),
    });
    expect((await get(ops, "/readyz")).status).toBe(200);

    cache.fault = "none";
    await pipeline.reconcile(store);
    expect(rejectionsChanged()).toBe(2);
    await pipeline.reconcile(store);
    const again = firstListener(pipeline);
    expect(again?.conditions.find((c) => c.type === "Programmed")?.status).toBe("True");
    expect(routeProgrammed(pipeline)).toBeUndefined();
  });

  it("fails xds-current when a snapshot cannot be published at all, and the pass itself goes on", async () => {
    const { cache, pipeline, store, ops, lines, readiness } = await serve();
    // What the fleet's probe leaves out are real checks (a renamed check would silently fail every probe).
    const excluded = new URLSearchParams(FLEET_READINESS_PATH.split("?")[1]).getAll("exclude");
    expect(excluded).toEqual(["xds-current"]);
    for (const name of excluded) expect(readiness.has(name)).toBe(true);
    await pipeline.reconcile(store);
    cache.fault = "throw";
    await expect(pipeline.reconcile(store)).resolves.toBeUndefined();
    const failed = await get(ops, "/readyz");
    expect(failed.status).toBe(503);
    expect(JSON.parse(failed.text)).toEqual({
      status: "not ready",
      reason: "xDS snapshot not published: injected: the cache failed",
      failed: ["xds-current"],
    });
    expect(lines.some((l) => l.msg.startsWith("xDS snapshot not published (a bug)"))).toBe(true);
    // The check set a fleet's probe uses: the stale snapshot is still served, so this replica stays in.
    expect((await get(ops, FLEET_READINESS_PATH)).status).toBe(200);
    const one = await get(ops, "/readyz/xds-current");
    expect(one.status).toBe(503);
    expect(one.text).toBe(
      "[-]xds-current failed: xDS snapshot not published: injected: the cache failed\nreadyz check failed\n",
    );

    cache.fault = "none";
    await pipeline.reconcile(store);
    expect((await get(ops, "/readyz")).status).toBe(200);
  });

  it("reports proxyless targets that do not resolve as an informational check and a metric", async () => {
    const { cache, pipeline, store, ops } = await serve();
    await pipeline.reconcile(store);
    cache.retain(TYPE_URLS.listener, ["echo.apps:8080", "nope.apps:80", "echo.apps:9999"]);
    expect((await get(ops, "/readyz")).status).toBe(200);
    const verbose = (await get(ops, "/readyz?verbose")).text;
    expect(verbose).toMatch(
      /^\[!\]proxyless-targets \(informational, does not fail readiness\): 2 subscribed name\(s\) do not resolve \(echo\.apps:9999: PortNotFound: .*; nope\.apps:80: ServiceNotFound: Service apps\/nope not found\)$/m,
    );
    expect(await metric(ops, "strait_xds_proxyless_unresolved")).toBe(2);
    // The one that resolves is served.
    expect(cache.snapshotFor(UNKNOWN_NODE)?.type(TYPE_URLS.listener).get("echo.apps:8080")).toBeDefined();
    cache.release(TYPE_URLS.listener, ["nope.apps:80", "echo.apps:9999"]);
    expect(await metric(ops, "strait_xds_proxyless_unresolved")).toBe(0);
    expect((await get(ops, "/readyz/proxyless-targets")).text).toBe(
      "[+]proxyless-targets ok\nreadyz check passed\n",
    );
  });
});
