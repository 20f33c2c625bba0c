/**
 * The owned-object writer against the wire-level test API server, fed by the
 * real pipeline: Gateways on the server → the Kubernetes source → the store →
 * runPipeline's ownedObjects → server-side applies and deletes.
 */
import { afterEach, describe, expect, it } from "vitest";
import { captureLogger } from "../../../test/support/capture-logger.ts";
import { KubeApiServer, type RecordedRequest } from "../../../test/support/kube-apiserver/server.ts";
import type { ApiObject } from "../../../test/support/kube-apiserver/storage.ts";
import { sleep, waitFor } from "../../../test/support/wait.ts";
import { runPipeline } from "../../controller/pipeline.ts";
import { GATEWAY_NAME_LABEL } from "../../gateway/gateway-service.ts";
import { KINDS } from "../../resources/kinds.ts";
import { ResourceStore } from "../store.ts";
import { KubeClient, loadKubeConfig } from "./kube-client.ts";
import { KubernetesSource } from "./kubernetes-source.ts";
import { type DesiredObject, isManagedByStrait } from "./owned-object.ts";
import { OwnedObjectWriter } from "./owned-object-writer.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const CLASS = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "GatewayClass",
  metadata: { name: "strait" },
  spec: { controllerName: "strait.dev/gateway-controller" },
};

function gateway(name: string, extra: { labels?: Record<string, string>; className?: string } = {}) {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name, namespace: "infra" },
    spec: {
      gatewayClassName: extra.className ?? "strait",
      ...(extra.labels === undefined ? {} : { infrastructure: { labels: extra.labels } }),
      listeners: [{ name: "http", protocol: "HTTP", port: 8080 }],
    },
  };
}

async function setup(options: { leader?: boolean } = {}) {
  const server = await KubeApiServer.start();
  const store = new ResourceStore();
  const { logger, lines } = captureLogger();
  const client = new KubeClient(loadKubeConfig(server.kubeconfig).config);
  const source = new KubernetesSource({
    client,
    store,
    logger,
    kinds: KINDS.filter((k) => ["GatewayClass", "Gateway", "Service"].includes(k.kind)),
    timing: { backoff: { initialMs: 20, maxMs: 100 } },
  });
  let leader = options.leader ?? true;
  const writer = new OwnedObjectWriter({
    client,
    store,
    isLeader: () => leader,
    // As cluster mode does: no deletes while the Gateway kind is not served.
    canDelete: () => source.states().Gateway === "synced",
    logger,
    retry: { initialMs: 50, maxMs: 200 },
  });
  cleanups.push(async () => {
    writer.stop();
    await source.stop();
    await server.close();
  });
  server.create(CLASS);
  server.create(gateway("edge"));
  source.start();
  await waitFor(() => source.synced, "sync");
  /** One pass of the pipeline over the store, its owned objects handed to the writer. */
  const pass = () =>
    writer.write(runPipeline(store, { now: new Date(0), addressPool: ["10.1.0.0/24"] }).ownedObjects);
  /** Waits until the store shows the server's current version of an object (or its absence). */
  const caughtUp = (kind: "Service" | "Gateway", name: string) =>
    waitFor(
      () =>
        store.get(kind, "infra", name)?.metadata.resourceVersion ===
        server.get(kind, "infra", name)?.metadata.resourceVersion,
      `the store to show ${kind} infra/${name}`,
    );
  return {
    server,
    store,
    source,
    writer,
    lines,
    pass,
    caughtUp,
    setLeader: (v: boolean) => {
      leader = v;
    },
  };
}

const writes = (server: KubeApiServer): RecordedRequest[] =>
  server.requestsFor("services").filter((r) => r.method !== "GET");

function editGateway(
  server: KubeApiServer,
  name: string,
  edit: (spec: Record<string, unknown>) => void,
): void {
  const gw = server.get("Gateway", "infra", name) as ApiObject;
  const spec = structuredClone(gw.spec) as Record<string, unknown>;
  edit(spec);
  server.update({ ...gw, spec });
}

describe("OwnedObjectWriter", () => {
  it("creates each Gateway's Service with server-side apply, owned by the Gateway, and writes nothing more while it is unchanged", async () => {
    const { server, writer, pass, caughtUp } = await setup();
    server.pauseWatches("Service"); // the watch lags behind the write
    expect(await pass()).toBe(1);
    const [apply] = writes(server);
    expect(apply).toMatchObject({
      method: "PATCH",
      path: "/api/v1/namespaces/infra/services/edge-strait",
      contentType: "application/apply-patch+yaml",
      query: { fieldManager: "strait", force: "true" },
      status: 201,
    });
    const uid = server.get("Gateway", "infra", "edge")?.metadata.uid;
    const svc = server.get("Service", "infra", "edge-strait");
    expect(svc?.metadata.labels).toEqual({
      [GATEWAY_NAME_LABEL]: "edge",
      "app.kubernetes.io/managed-by": "strait",
    });
    expect(svc?.metadata.ownerReferences).toEqual([
      { apiVersion: "gateway.networking.k8s.io/v1", kind: "Gateway", name: "edge", uid, controller: true },
    ]);
    expect(svc?.spec).toMatchObject({ type: "LoadBalancer", ports: [{ port: 8080, protocol: "TCP" }] });
    expect(svc?.metadata.managedFields).toEqual([
      expect.objectContaining({ manager: "strait", operation: "Apply" }),
    ]);

    // While the watch has not brought the Service back: nothing to write.
    expect(await pass()).toBe(0);
    server.resumeWatches();
    await caughtUp("Service", "edge-strait");
    // The server added a cluster IP and node ports strait never wrote: still unchanged.
    expect(server.get("Service", "infra", "edge-strait")?.spec).toMatchObject({
      clusterIP: expect.any(String),
      ports: [expect.objectContaining({ nodePort: expect.any(Number) })],
    });
    expect(await pass()).toBe(0);
    expect(await pass()).toBe(0);
    expect(writes(server)).toHaveLength(1);
    expect(writer.blocked).toEqual([]);
  });

  it("applies again when the Gateway's infrastructure labels change, and a label dropped from them leaves the Service", async () => {
    const { server, pass, caughtUp } = await setup();
    editGateway(server, "edge", (spec) => {
      spec.infrastructure = { labels: { team: "payments", tier: "edge" }, annotations: { note: "x" } };
    });
    await caughtUp("Gateway", "edge");
    expect(await pass()).toBe(1);
    await caughtUp("Service", "edge-strait");
    expect(server.get("Service", "infra", "edge-strait")?.metadata).toMatchObject({
      labels: { team: "payments", tier: "edge" },
      annotations: { note: "x" },
    });

    editGateway(server, "edge", (spec) => {
      spec.infrastructure = { labels: { team: "checkout" } };
    });
    await caughtUp("Gateway", "edge");
    expect(await pass()).toBe(1);
    const svc = server.get("Service", "infra", "edge-strait");
    // Server-side apply removes what strait applied before and no longer does.
    expect(svc?.metadata.labels).toEqual({
      team: "checkout",
      [GATEWAY_NAME_LABEL]: "edge",
      "app.kubernetes.io/managed-by": "strait",
    });
    expect(svc?.metadata.annotations).toBeUndefined();
    expect(writes(server).map((w) => w.status)).toEqual([201, 200]);
  });

  it("puts back what someone else changed of the fields strait owns, and recreates a deleted Service", async () => {
    const { server, pass, caughtUp } = await setup();
    await pass();
    await caughtUp("Service", "edge-strait");
    const svc = server.get("Service", "infra", "edge-strait") as ApiObject;
    // Another client adds a label of its own (not a difference) ...
    server.update({
      ...svc,
      metadata: { ...svc.metadata, labels: { ...(svc.metadata.labels as object), extra: "1" } },
    });
    await caughtUp("Service", "edge-strait");
    expect(await pass()).toBe(0);
    // ... and then changes the type strait applies (a difference).
    const edited = server.get("Service", "infra", "edge-strait") as ApiObject;
    server.update({ ...edited, spec: { ...(edited.spec as object), type: "ClusterIP" } });
    await caughtUp("Service", "edge-strait");
    expect(await pass()).toBe(1);
    expect(server.get("Service", "infra", "edge-strait")?.spec).toMatchObject({ type: "LoadBalancer" });
    expect(server.get("Service", "infra", "edge-strait")?.metadata.labels).toMatchObject({ extra: "1" });

    server.delete("Service", "infra", "edge-strait");
    await caughtUp("Service", "edge-strait");
    expect(await pass()).toBe(1);
    expect(writes(server).at(-1)?.status).toBe(201);
  });

  it("deletes the Services strait manages that are no longer wanted (the Gateway changed class), with preconditions, and no other Service", async () => {
    const { server, store, pass, caughtUp } = await setup();
    server.create(gateway("other"));
    // Not strait's: no labels; and one with strait's managed-by label but no Gateway name label.
    server.create({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "app", namespace: "infra" },
      spec: {},
    });
    server.create({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "half", namespace: "infra", labels: { "app.kubernetes.io/managed-by": "strait" } },
      spec: {},
    });
    await caughtUp("Gateway", "other");
    await caughtUp("Service", "half");
    expect(await pass()).toBe(2);
    await caughtUp("Service", "other-strait");

    editGateway(server, "other", (spec) => {
      spec.gatewayClassName = "someone-else";
    });
    await caughtUp("Gateway", "other");
    const live = store.get("Service", "infra", "other-strait");
    expect(await pass()).toBe(1);
    const del = writes(server).at(-1);
    expect(del).toMatchObject({
      method: "DELETE",
      path: "/api/v1/namespaces/infra/services/other-strait",
      status: 200,
    });
    expect(del?.body).toMatchObject({
      kind: "DeleteOptions",
      preconditions: { uid: live?.metadata.uid, resourceVersion: live?.metadata.resourceVersion },
    });
    expect(server.get("Service", "infra", "other-strait")).toBeUndefined();
    // Deleted once: not again while the watch brings the deletion, nor after.
    expect(await pass()).toBe(0);
    await caughtUp("Service", "other-strait");
    expect(await pass()).toBe(0);
    expect(server.get("Service", "infra", "edge-strait")).toBeDefined();
    expect(server.get("Service", "infra", "app")).toBeDefined();
    expect(server.get("Service", "infra", "half")).toBeDefined();
  });

  it("leaves a Service of the same name that strait does not manage alone, warns once, and takes the name when it is free", async () => {
    const { server, writer, lines, pass, caughtUp } = await setup();
    server.create({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "edge-strait", namespace: "infra", labels: { app: "mine" } },
      spec: { type: "ClusterIP", ports: [{ port: 80 }] },
    });
    await caughtUp("Service", "edge-strait");
    const before = server.get("Service", "infra", "edge-strait");
    expect(await pass()).toBe(0);
    expect(await pass()).toBe(0);
    expect(writes(server)).toEqual([]);
    expect(server.get("Service", "infra", "edge-strait")).toEqual(before);
    expect(writer.blocked).toEqual(["Service/infra/edge-strait"]);
    expect(lines.filter((l) => l.msg === "owned object not written: the name is taken")).toHaveLength(1);

    server.delete("Service", "infra", "edge-strait");
    await caughtUp("Service", "edge-strait");
    expect(await pass()).toBe(1);
    expect(writer.blocked).toEqual([]);
    expect(isManagedByStrait(server.get("Service", "infra", "edge-strait")?.metadata.labels as never)).toBe(
      true,
    );
    expect(lines.some((l) => l.msg === "owned object no longer blocked")).toBe(true);
  });

  it("writes nothing while not the leader, and every object once on becoming leader", async () => {
    const { server, writer, pass, caughtUp, setLeader } = await setup({ leader: false });
    server.create({
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "stale-strait",
        namespace: "infra",
        labels: { "app.kubernetes.io/managed-by": "strait", [GATEWAY_NAME_LABEL]: "stale" },
      },
      spec: {},
    });
    await caughtUp("Service", "stale-strait");
    expect(await pass()).toBe(0);
    expect(writes(server)).toEqual([]);

    setLeader(true);
    expect(await writer.resync()).toBe(2); // the create, and the delete of the stale one
    await caughtUp("Service", "edge-strait");
    await caughtUp("Service", "stale-strait");
    expect(await pass()).toBe(0);
    // A new leader does not know what the previous one applied: it applies once more (a no-op here).
    const rv = server.storage.resourceVersion;
    expect(await writer.resync()).toBe(1);
    expect(writes(server).at(-1)).toMatchObject({ method: "PATCH", status: 200 });
    expect(server.storage.resourceVersion).toBe(rv);
  });

  it("deletes nothing before the first pass, nor while the Gateway kind is not served", async () => {
    const { server, source, writer, store, pass, caughtUp } = await setup();
    server.create({
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "edge-strait",
        namespace: "infra",
        labels: { "app.kubernetes.io/managed-by": "strait", [GATEWAY_NAME_LABEL]: "edge" },
      },
      spec: {},
    });
    await caughtUp("Service", "edge-strait");
    // Leadership comes before the first pass: no wanted objects known yet, which is not "none".
    expect(await writer.resync()).toBe(0);
    expect(writes(server)).toEqual([]);

    server.setServed("Gateway", false); // the CRD is being reinstalled, say
    await waitFor(() => source.states().Gateway === "unserved", "the Gateway kind unserved");
    expect(store.list("Gateway")).toEqual([]);
    expect(await pass()).toBe(0);
    expect(writes(server)).toEqual([]);
    expect(server.get("Service", "infra", "edge-strait")).toBeDefined();
  });

  it("logs failed writes (5xx, 409, 422) and retries them after a back-off; never throws", async () => {
    const { server, lines, pass, caughtUp } = await setup();
    server.failNext({ method: "PATCH", path: "/services/", status: 503 });
    server.failNext({ method: "PATCH", path: "/services/", status: 409 });
    server.failNext({ method: "PATCH", path: "/services/", status: 422 });
    expect(await pass()).toBe(0);
    expect(lines.some((l) => l.msg === "owned object not applied; retrying" && l.status === 503)).toBe(true);
    await waitFor(() => server.get("Service", "infra", "edge-strait") !== undefined, "the retried apply");
    expect(writes(server).map((w) => w.status)).toEqual([503, 409, 422, 201]);

    editGateway(server, "edge", (spec) => {
      spec.gatewayClassName = "someone-else";
    });
    await caughtUp("Gateway", "edge");
    await caughtUp("Service", "edge-strait");
    server.failNext({ method: "DELETE", status: 500, times: 2 });
    await pass();
    await waitFor(() => server.get("Service", "infra", "edge-strait") === undefined, "the retried delete");
    expect(
      writes(server)
        .filter((w) => w.method === "DELETE")
        .map((w) => w.status),
    ).toEqual([500, 500, 200]);
  });

  it("stops retrying once leadership ends", async () => {
    const { server, pass, setLeader } = await setup();
    server.failNext({ method: "PATCH", status: 500, times: 100 });
    await pass();
    setLeader(false);
    const count = writes(server).length;
    await sleep(400); // several retry periods
    expect(writes(server).length).toBe(count);
  });

  it("applies an object whose owner has no uid without the owner reference, which the API server would refuse", async () => {
    const { server, writer, lines } = await setup();
    const desired: DesiredObject = {
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "loose-strait",
        namespace: "infra",
        labels: { "app.kubernetes.io/managed-by": "strait", [GATEWAY_NAME_LABEL]: "loose" },
        annotations: {},
        ownerReferences: [
          { apiVersion: "gateway.networking.k8s.io/v1", kind: "Gateway", name: "loose", uid: "" },
        ],
      },
      spec: { type: "LoadBalancer", ports: [{ name: "port-80", port: 80, targetPort: 80, protocol: "TCP" }] },
    };
    expect(await writer.write([desired])).toBe(1);
    const svc = server.get("Service", "infra", "loose-strait");
    expect(svc?.metadata.ownerReferences).toBeUndefined();
    expect(lines.some((l) => l.msg.startsWith("owner has no uid"))).toBe(true);
  });
});
