import { afterEach, describe, expect, it } from "vitest";
import { captureLogger } from "../../../test/support/capture-logger.ts";
import { KubeApiServer } from "../../../test/support/kube-apiserver/server.ts";
import { sleep, waitFor } from "../../../test/support/wait.ts";
import type { ObjectStatus } from "../../model/status.ts";
import { KINDS } from "../../resources/kinds.ts";
import { KubeClient, loadKubeConfig } from "../kubernetes/kube-client.ts";
import { KubernetesSource } from "../kubernetes/kubernetes-source.ts";
import { ResourceStore } from "../store.ts";
import { KubernetesStatusWriter } from "./kubernetes-status-writer.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function route(name: string) {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: "shop" },
    spec: { parentRefs: [{ name: "edge", namespace: "infra" }] },
  };
}

/** A route status in strait's key order (the server sends keys sorted). */
function routeStatus(
  name: string,
  accepted: "True" | "False",
  extra: Record<string, unknown> = {},
): ObjectStatus {
  return {
    ref: { group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: "shop", name },
    status: {
      parents: [
        {
          parentRef: {
            group: "gateway.networking.k8s.io",
            kind: "Gateway",
            namespace: "infra",
            name: "edge",
          },
          controllerName: "strait.dev/gateway-controller",
          conditions: [
            {
              type: "Accepted",
              status: accepted,
              reason: accepted === "True" ? "Accepted" : "NotAllowedByListeners",
              message: "",
              observedGeneration: 1,
              lastTransitionTime: "2025-01-01T00:00:00Z",
            },
          ],
        },
      ],
      ...extra,
    },
  };
}

async function setup() {
  const server = await KubeApiServer.start();
  const store = new ResourceStore();
  const { logger, lines } = captureLogger();
  const client = new KubeClient(loadKubeConfig(server.kubeconfig).config);
  const source = new KubernetesSource({
    client,
    store,
    logger,
    kinds: KINDS.filter((k) => k.kind === "HTTPRoute" || k.kind === "Service"),
    timing: { backoff: { initialMs: 20, maxMs: 100 } },
  });
  let leader = true;
  const writer = new KubernetesStatusWriter({
    client,
    view: store,
    isLeader: () => leader,
    logger,
    retry: { initialMs: 50, maxMs: 200 },
  });
  cleanups.push(async () => {
    writer.stop();
    await source.stop();
    await server.close();
  });
  server.create(route("a"));
  server.create(route("b"));
  source.start();
  await waitFor(() => source.synced, "sync");
  return {
    server,
    store,
    writer,
    lines,
    setLeader: (v: boolean) => {
      leader = v;
    },
  };
}

const patches = (server: KubeApiServer) => server.requests.filter((r) => r.method === "PATCH");

describe("KubernetesStatusWriter", () => {
  it("merge-patches /status with the resourceVersion, and only statuses that changed", async () => {
    const { server, store, writer } = await setup();
    server.pauseWatches(); // the watch lags behind the writes
    expect(await writer.write([routeStatus("a", "True"), routeStatus("b", "True")])).toBe(2);
    expect(patches(server).map((p) => p.path)).toEqual([
      "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/a/status",
      "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/b/status",
    ]);
    for (const p of patches(server)) {
      expect(p.contentType).toBe("application/merge-patch+json");
      expect((p.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion).toMatch(/^\d+$/);
      expect(p.status).toBe(200);
    }
    expect(server.get("HTTPRoute", "shop", "a")?.status).toEqual(routeStatus("a", "True").status);

    // Before the watch brings the result back: nothing to write.
    expect(await writer.write([routeStatus("a", "True"), routeStatus("b", "True")])).toBe(0);
    expect(patches(server).length).toBe(2);
    server.resumeWatches();
    // After: the store holds the server's copy (keys sorted), which still counts as unchanged.
    await waitFor(() => store.get("HTTPRoute", "shop", "a")?.status !== undefined, "the watch event");
    await waitFor(() => store.get("HTTPRoute", "shop", "b")?.status !== undefined, "the watch event");
    expect(JSON.stringify(store.get("HTTPRoute", "shop", "a")?.status)).not.toBe(
      JSON.stringify(routeStatus("a", "True").status),
    );
    expect(await writer.write([routeStatus("a", "True"), routeStatus("b", "True")])).toBe(0);
    expect(patches(server).length).toBe(2);

    // One changes: one patch.
    expect(await writer.write([routeStatus("a", "False"), routeStatus("b", "True")])).toBe(1);
    expect(patches(server).at(-1)?.path).toContain("/httproutes/a/status");
    expect(patches(server).length).toBe(3);
    // Only /status was ever written: no PUT, POST or PATCH of the objects themselves.
    expect(server.requests.filter((r) => r.method !== "GET").every((r) => r.path.endsWith("/status"))).toBe(
      true,
    );
  });

  it("removes status fields that are gone (null in the merge patch)", async () => {
    const { server, store, writer } = await setup();
    await writer.write([routeStatus("a", "True", { legacy: { note: "old" } })]);
    await waitFor(() => store.get("HTTPRoute", "shop", "a")?.status !== undefined, "the watch event");
    await writer.write([routeStatus("a", "True")]);
    expect((patches(server).at(-1)?.body as { status: unknown } | undefined)?.status).toEqual({
      legacy: null,
    });
    expect(server.get("HTTPRoute", "shop", "a")?.status).toEqual(routeStatus("a", "True").status);
  });

  it("writes nothing while not the leader, and everything current on becoming leader", async () => {
    const { server, writer, setLeader } = await setup();
    setLeader(false);
    expect(await writer.write([routeStatus("a", "True"), routeStatus("b", "True")])).toBe(0);
    expect(patches(server).length).toBe(0);
    setLeader(true);
    expect(await writer.flush()).toBe(2);
    expect(patches(server).length).toBe(2);
  });

  it("logs 409 and 5xx answers and retries them after a back-off; never throws", async () => {
    const { server, writer, lines } = await setup();
    server.failNext({ method: "PATCH", path: "/a/status", status: 409 });
    server.failNext({ method: "PATCH", path: "/b/status", status: 503 });
    expect(await writer.write([routeStatus("a", "True"), routeStatus("b", "True")])).toBe(0);
    expect(lines.some((l) => l.msg.startsWith("status not written: the object changed meanwhile"))).toBe(
      true,
    );
    expect(lines.some((l) => l.msg === "status not written; retrying" && l.status === 503)).toBe(true);
    await waitFor(() => patches(server).filter((p) => p.status === 200).length === 2, "the retried writes");
    expect(server.get("HTTPRoute", "shop", "b")?.status).toEqual(routeStatus("b", "True").status);
  });

  it("refuses a stale write: an object changed after the status was computed gets a 409, not an overwrite", async () => {
    const { server, store, writer } = await setup();
    // Another client writes the status; strait's store has not seen it yet when strait writes.
    const before = store.get("HTTPRoute", "shop", "a")?.metadata.resourceVersion;
    server.setStatus("HTTPRoute", "shop", "a", { parents: [{ controllerName: "other.example/controller" }] });
    expect(store.get("HTTPRoute", "shop", "a")?.metadata.resourceVersion).toBe(before);
    expect(await writer.write([routeStatus("a", "True")])).toBe(0);
    expect(patches(server)[0]?.status).toBe(409);
    expect(server.get("HTTPRoute", "shop", "a")?.status).toEqual({
      parents: [{ controllerName: "other.example/controller" }],
    });
  });

  it("skips objects that are gone and kinds strait has no permission for", async () => {
    const { server, writer, lines } = await setup();
    const foreign: ObjectStatus = {
      ref: { group: "", kind: "Service", namespace: "shop", name: "x" },
      status: { loadBalancer: {} },
    };
    const gone = routeStatus("missing", "True");
    expect(await writer.write([foreign, gone, foreign])).toBe(0);
    expect(patches(server).length).toBe(0);
    expect(lines.filter((l) => l.msg.startsWith("strait has no permission")).length).toBe(1);
  });

  it("stops writing mid-run when leadership ends", async () => {
    const { server, writer, setLeader } = await setup();
    server.failNext({ method: "PATCH", status: 500, times: 100 });
    await writer.write([routeStatus("a", "True")]);
    setLeader(false);
    const count = patches(server).length;
    await sleep(400); // several retry periods
    expect(patches(server).length).toBe(count);
  });
});
