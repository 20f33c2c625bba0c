/**
 * Security identities recorded in the API (CiliumIdentity objects) in cluster
 * mode, against the wire-level test API server: the leader writes them, a
 * follower and a restarted controller read them back and number every label
 * set alike (a recorded number wins over the one a fresh allocation picks),
 * unused ones are marked and garbage-collected after the grace period,
 * objects strait did not write are used but never changed, malformed ones are
 * ignored.
 */
import { afterEach, describe, expect, it } from "vitest";
import { captureLogger } from "../../test/support/capture-logger.ts";
import { findResourceByKind } from "../../test/support/kube-apiserver/resources.ts";
import { KubeApiServer } from "../../test/support/kube-apiserver/server.ts";
import type { ApiObject } from "../../test/support/kube-apiserver/storage.ts";
import { waitFor } from "../../test/support/wait.ts";
import { IDENTITY_UNUSED_SINCE_ANNOTATION } from "../policy/index.ts";
import { RUN_SETTINGS, resolveSettings } from "./config.ts";
import { type RunningController, startController } from "./start.ts";

/** Waits generously: the machine may be loaded. */
const waitLong = (condition: () => boolean, what: string) => waitFor(condition, what, 20_000);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(server: KubeApiServer, identity: string, gcAfter = "1h"): Promise<RunningController> {
  const settings = resolveSettings(
    RUN_SETTINGS,
    {
      "http-address": "127.0.0.1:0",
      "xds-address": "127.0.0.1:0",
      kubeconfig: server.kubeconfigFor(identity),
      identity,
      "lease-duration": "2s",
      "lease-renew-deadline": "1500ms",
      "lease-retry-period": "200ms",
      "identity-gc-after": gcAfter,
    },
    {},
    undefined,
  );
  const running = await startController(settings, captureLogger("silent").logger);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await running.stop();
  };
  cleanups.push(stop);
  return { ...running, stop };
}

function pod(name: string, app: string, ip: string): ApiObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default", labels: { app } },
    spec: { nodeName: "node-1", containers: [{ name: "c", image: "x" }] },
    status: { podIP: ip, podIPs: [{ ip }] },
  };
}

/** The identity number each pod has in the controller's last pass. */
function podIdentities(running: RunningController): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of running.pipeline.latest?.policy.endpoints ?? []) out[e.pod] = e.identity;
  return out;
}

function identityObjects(server: KubeApiServer): ApiObject[] {
  const resource = findResourceByKind("CiliumIdentity");
  if (resource === undefined) throw new Error("the test server does not serve CiliumIdentity");
  return server.storage.list(resource);
}

function unusedMark(obj: ApiObject | undefined): string | undefined {
  return (obj?.metadata.annotations as Record<string, string> | undefined)?.[
    IDENTITY_UNUSED_SINCE_ANNOTATION
  ];
}

function identityOf(server: KubeApiServer, app: string): ApiObject | undefined {
  return identityObjects(server).find(
    (o) => (o["security-labels"] as Record<string, string> | undefined)?.["k8s:app"] === app,
  );
}

async function serverWith(...objects: ApiObject[]): Promise<KubeApiServer> {
  const server = await KubeApiServer.start();
  cleanups.push(() => server.close());
  server.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "default" } });
  server.create({ apiVersion: "v1", kind: "Node", metadata: { name: "node-1" } });
  for (const o of objects) server.create(o);
  return server;
}

describe("security identities recorded in the API (cluster mode)", () => {
  it("the leader records each workload identity; a follower and a restarted controller read the numbers back", async () => {
    const server = await serverWith(pod("web-1", "web", "10.1.0.10"), pod("api-1", "api", "10.1.0.11"));
    const first = await start(server, "first");
    await waitLong(
      () => identityOf(server, "web") !== undefined && identityOf(server, "api") !== undefined,
      "records",
    );
    const webFresh = podIdentities(first)["default/web-1"];
    const web = identityOf(server, "web");
    expect(web?.metadata.name).toBe(String(webFresh));
    expect(web?.metadata.labels).toMatchObject({ app: "web", "io.kubernetes.pod.namespace": "default" });
    expect(web?.metadata.annotations).toEqual({ "strait.dev/managed-by": "strait" });
    await first.stop();

    // Move web's record to another number, as if a collision had once put it there: the
    // recorded number wins over the one its labels hash to.
    const labels = web?.["security-labels"];
    server.delete("CiliumIdentity", undefined, String(webFresh));
    const moved = webFresh === 4242 ? 4243 : 4242;
    server.create({
      apiVersion: "cilium.io/v2",
      kind: "CiliumIdentity",
      metadata: { name: String(moved), annotations: { "strait.dev/managed-by": "strait" } },
      "security-labels": labels,
    });

    const leader = await start(server, "leader");
    await waitLong(() => podIdentities(leader)["default/web-1"] === moved, "the recorded number");
    const follower = await start(server, "follower");
    await waitLong(() => podIdentities(follower)["default/web-1"] === moved, "the follower reading it");
    expect(podIdentities(follower)).toEqual(podIdentities(leader));
    expect(podIdentities(leader)["default/api-1"]).toBe(Number(identityOf(server, "api")?.metadata.name));
    // Nobody re-creates the number web had before.
    await leader.controller.settle();
    expect(server.get("CiliumIdentity", undefined, String(webFresh))).toBeUndefined();
    expect(
      server.requestsFor("ciliumidentities").filter((r) => r.method !== "GET" && r.user === "follower"),
    ).toEqual([]);

    // A new label set while the follower runs: the leader records it, both number it alike.
    server.create(pod("db-1", "db", "10.1.0.12"));
    await waitLong(() => identityOf(server, "db") !== undefined, "db's record");
    const db = Number(identityOf(server, "db")?.metadata.name);
    await waitLong(() => podIdentities(follower)["default/db-1"] === db, "the follower numbering db alike");
    expect(podIdentities(leader)["default/db-1"]).toBe(db);
  });

  it("marks an identity no pod has, keeps it for the grace period, then deletes it; a returning pod gets its number back", async () => {
    const server = await serverWith(pod("web-1", "web", "10.1.0.10"), pod("job-1", "job", "10.1.0.13"));
    const running = await start(server, "solo", "2s");
    await waitLong(() => identityOf(server, "job") !== undefined, "job's record");
    const job = identityOf(server, "job")?.metadata.name;

    server.delete("Pod", "default", "job-1");
    await waitLong(() => unusedMark(identityOf(server, "job")) !== undefined, "the unused mark");
    // Back within the grace period: same number, mark removed.
    server.create(pod("job-2", "job", "10.1.0.14"));
    await waitLong(() => unusedMark(identityOf(server, "job")) === undefined, "the mark removed");
    expect(identityOf(server, "job")?.metadata.name).toBe(job);
    await waitLong(() => podIdentities(running)["default/job-2"] === Number(job), "the number back");

    // Gone for longer than the grace period: no pass is needed from outside, the object is deleted.
    server.delete("Pod", "default", "job-2");
    await waitLong(() => unusedMark(identityOf(server, "job")) !== undefined, "the mark again");
    const mark = unusedMark(identityOf(server, "job"));
    await waitLong(() => identityOf(server, "job") === undefined, "the garbage collection");
    // Not before the grace period (the mark is whole seconds, so at most 1 s earlier than the change).
    expect(Date.now() - Date.parse(mark ?? "")).toBeGreaterThanOrEqual(2000);
    expect(identityOf(server, "web")).toBeDefined();
    const deletes = server.requestsFor("ciliumidentities", { method: "DELETE" });
    expect(deletes.map((r) => r.path)).toEqual([`/apis/cilium.io/v2/ciliumidentities/${job}`]);
  });

  it("uses CiliumIdentity objects it did not write without changing them, and ignores malformed ones", async () => {
    const server = await serverWith(
      pod("web-1", "web", "10.1.0.10"),
      {
        apiVersion: "cilium.io/v2",
        kind: "CiliumIdentity",
        metadata: { name: "31000" },
        "security-labels": { "k8s:app": "legacy" },
      },
      {
        apiVersion: "cilium.io/v2",
        kind: "CiliumIdentity",
        metadata: { name: "not-a-number" },
        "security-labels": { "k8s:app": "web" },
      },
    );
    const running = await start(server, "solo", "1s");
    await waitLong(
      () =>
        identityOf(server, "web") !== undefined &&
        identityOf(server, "web")?.metadata.name !== "not-a-number",
      "web's record",
    );
    await waitLong(() => running.controller.notReadyReason() === undefined, "readiness");
    // The foreign one is unused, longer than the grace period: it stays, untouched.
    await new Promise((r) => setTimeout(r, 1500));
    await running.controller.settle();
    expect(server.get("CiliumIdentity", undefined, "31000")?.metadata.annotations).toBeUndefined();
    expect(server.get("CiliumIdentity", undefined, "not-a-number")).toBeDefined();
    const writes = server.requestsFor("ciliumidentities").filter((r) => r.method !== "GET");
    expect(writes.every((r) => r.path.endsWith(`/${identityOf(server, "web")?.metadata.name}`))).toBe(true);
    const warnings = running.pipeline.latest?.policy.warnings.map((w) => w.message) ?? [];
    expect(warnings).toContain("CiliumIdentity ignored: the name is not an identity number");
  });
});
