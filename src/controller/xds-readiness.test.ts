import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { captureLogger } from "../../test/support/capture-logger.ts";
import { ResourceStore } from "../sources/store.ts";
import { type ResourceJsonSet, SnapshotCache } from "../xds/cache/index.ts";
import type { PublishResult } from "../xds/cache/snapshot-cache.ts";
import { TYPE_URLS } from "../xds/proto/index.ts";
import { RUN_SETTINGS, resolveSettings } from "./config.ts";
import { createOpsServer, listenOpsServer, type OpsServer } from "./ops-server.ts";
import { PipelineReconciler } from "./pipeline-reconciler.ts";
import { startXdsServing, type XdsServing, xdsListenConfig } from "./xds-serving.ts";

/**
 * Translation checks every part of a resource before it assembles it, so no
 * input makes a resource fail encoding any more: the failure is injected at
 * the cache boundary. The cache is the real one and so is its encoding: the
 * injected resource really fails the strict codec (an unknown field), or
 * `publish` throws as a bug in the cache would.
 */
class FaultyCache extends SnapshotCache {
  fault: "none" | "bad-resource" | "throw" = "none";

  override publish(set: ResourceJsonSet): PublishResult {
    if (this.fault === "throw") throw new Error("injected: the cache failed");
    if (this.fault === "none") return super.publish(set);
    const clusters = new Map(set[TYPE_URLS.cluster] ?? []);
    clusters.set("injected-bad", { name: "injected-bad", no_such_field: true });
    return super.publish({ ...set, [TYPE_URLS.cluster]: clusters });
  }
}

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
}> {
  const { logger, lines } = captureLogger();
  const store = new ResourceStore();
  const registry = new Registry();
  const pipeline = new PipelineReconciler([], logger);
  const cache = new FaultyCache();
  let xds: XdsServing | undefined;
  const app = createOpsServer({
    address: "127.0.0.1:0",
    logger,
    registry,
    notReadyReason: () => xds?.notReadyReason(),
  });
  const config = xdsListenConfig(
    resolveSettings(RUN_SETTINGS, { file: ".", "xds-address": "127.0.0.1:0" }, {}, undefined),
  );
  xds = await startXdsServing({ config, logger, registry, store, pipeline, app, cache });
  const served = xds;
  stops.push(() => served.stop());
  const ops = await listenOpsServer(app, "127.0.0.1:0");
  stops.push(() => ops.close());
  return { cache, pipeline, store, xds, ops, lines };
}

async function readyz(
  ops: OpsServer,
): Promise<{ status: number; body: { status: string; reason?: string } }> {
  const res = await fetch(`http://${ops.address}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
}

describe("/readyz and cache-level xDS failures", () => {
  it("says not ready, with the reason, while a resource fails encoding, and ready again after a good snapshot", async () => {
    const { cache, pipeline, store, ops, lines } = await serve();
    await pipeline.reconcile(store);
    expect(await readyz(ops)).toEqual({ status: 200, body: { status: "ready" } });

    cache.fault = "bad-resource";
    await pipeline.reconcile(store);
    const bad = await readyz(ops);
    expect(bad.status).toBe(503);
    expect(bad.body.status).toBe("not ready");
    expect(bad.body.reason).toMatch(
      /^gateway layer: 1 resource\(s\) failed encoding, each served at its previous version or left out when new \(Cluster injected-bad: .*no_such_field/,
    );

    cache.fault = "none";
    await pipeline.reconcile(store);
    expect(await readyz(ops)).toEqual({ status: 200, body: { status: "ready" } });
    expect(lines.some((l) => l.msg === "xDS snapshot published")).toBe(true);
  });

  it("says not ready when a snapshot cannot be published at all, and the pass itself goes on", async () => {
    const { cache, pipeline, store, ops, lines } = await serve();
    cache.fault = "throw";
    await expect(pipeline.reconcile(store)).resolves.toBeUndefined();
    expect(await readyz(ops)).toEqual({
      status: 503,
      body: { status: "not ready", reason: "xDS snapshot not published: injected: the cache failed" },
    });
    expect(lines.some((l) => l.msg.startsWith("xDS snapshot not published (a bug)"))).toBe(true);

    cache.fault = "none";
    await pipeline.reconcile(store);
    expect(await readyz(ops)).toEqual({ status: 200, body: { status: "ready" } });
  });
});
