/**
 * `strait run --kubeconfig FILE` (cluster mode) as child processes against the
 * wire-level test API server, with the quickstart manifests: statuses patched,
 * the Gateway's Service applied, readiness, leader election between two
 * replicas, take-over after a crash.
 *
 * run-cluster-real.e2e.test.ts covers the same ground against a real
 * kube-apiserver; this file stays on the test API server for what a real one
 * does not show: its record of every request with its user, so these tests
 * assert what strait sent (no status patched twice with the same content, only
 * the leader writing, the Service applied with content type and field manager,
 * the new leader's single re-apply), not only the state that resulted.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { EVENT } from "./support/kube-apiserver/resources.ts";
import { KubeApiServer } from "./support/kube-apiserver/server.ts";
import type { ApiObject } from "./support/kube-apiserver/storage.ts";
import { REPO, StraitProcess } from "./support/strait-process.ts";
import { waitFor } from "./support/wait.ts";

// Long enough that a leader on a loaded 2-core machine (timers late by a second or two) keeps
// its Lease, short enough that a take-over is seen within seconds.
const LEASE_FLAGS = [
  "--lease-duration",
  "4s",
  "--lease-renew-deadline",
  "3s",
  "--lease-retry-period",
  "250ms",
];

/** Deadline of every wait on the replicas: generous, since other suites share the machine's two cores. */
const LOADED_MS = 120_000;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A server holding the quickstart, in a cluster without the Cilium CRDs. */
async function quickstartServer(options: { eventTtlMs?: number } = {}): Promise<KubeApiServer> {
  const server = await KubeApiServer.start({
    unserved: ["CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"],
    ...options,
  });
  cleanups.push(() => server.close());
  const dir = join(REPO, "examples/quickstart");
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), "utf8"))) {
      const obj = doc.toJSON() as ApiObject | null;
      if (obj !== null) server.create(obj);
    }
  }
  return server;
}

async function startReplica(
  server: KubeApiServer,
  identity: string,
  flags: readonly string[] = [],
): Promise<{ proc: StraitProcess; base: string }> {
  const proc = new StraitProcess([
    "run",
    "--kubeconfig",
    server.kubeconfigFor(identity),
    "--identity",
    identity,
    "--namespace",
    "strait-system",
    "--http-address",
    "127.0.0.1:0",
    // Replicas on one host: each its own port (on loopback, plaintext xDS is allowed).
    "--xds-address",
    "127.0.0.1:0",
    "--log-level",
    "debug",
    ...LEASE_FLAGS,
    ...flags,
  ]);
  cleanups.push(() => proc.stop("SIGKILL"));
  const line = await proc.waitForLog((l) => l.msg.startsWith("operations server listening"), LOADED_MS);
  return { proc, base: `http://${String(line.address)}` };
}

async function metric(base: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

async function ready(base: string): Promise<boolean> {
  return (await fetch(`${base}/readyz`)).status === 200;
}

/** Polls /readyz until it answers 200 (or fails after LOADED_MS). */
async function waitReady(base: string): Promise<void> {
  for (let i = 0; i < LOADED_MS / 100; i++) {
    if (await ready(base)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${base} never became ready`);
}

type Condition = { type: string; status: string; reason: string; observedGeneration?: number };

function routeConditions(server: KubeApiServer): Condition[] {
  const status = server.get("HTTPRoute", "shop", "shop")?.status as
    | { parents?: { conditions?: Condition[] }[] }
    | undefined;
  return status?.parents?.[0]?.conditions ?? [];
}

function condition(obj: ApiObject | undefined, type: string): Condition | undefined {
  return ((obj?.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find(
    (c) => c.type === type,
  );
}

const statusPatches = (server: KubeApiServer) =>
  server.requests.filter((r) => r.method === "PATCH" && r.path.endsWith("/status"));

/** Status patches that repeat the previous patch of the same object, body for body. */
function repeatedStatusPatches(server: KubeApiServer): { path: string; body: unknown }[] {
  const last = new Map<string, string>();
  const repeated: { path: string; body: unknown }[] = [];
  for (const p of statusPatches(server)) {
    const body = JSON.stringify(p.body);
    if (last.get(p.path) === body) repeated.push({ path: p.path, body: p.body });
    last.set(p.path, body);
  }
  return repeated;
}

const SERVICE_PATH = "/api/v1/namespaces/infra/services/edge-strait";
const serviceApplies = (server: KubeApiServer) =>
  server.requests.filter((r) => r.method === "PATCH" && r.path === SERVICE_PATH);

/** Points the quickstart route's catch-all rule at another Service. */
function retarget(server: KubeApiServer, backend: string): void {
  const route = server.get("HTTPRoute", "shop", "shop");
  if (route === undefined) throw new Error("no route");
  const spec = route.spec as { rules: { backendRefs: { name: string }[] }[] };
  const rules = spec.rules.map((r, i) =>
    i === 1 ? { ...r, backendRefs: r.backendRefs.map((b) => ({ ...b, name: backend })) } : r,
  );
  server.update({ ...route, spec: { ...spec, rules } });
}

/** An EndpointSlice of the quickstart's `store` Service with one endpoint of these addresses (`""` is invalid). */
const badSlice = (addresses: string[]): ApiObject => ({
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: "store-bad", namespace: "shop", labels: { "kubernetes.io/service-name": "store" } },
  addressType: "IPv4",
  ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  endpoints: [{ addresses, conditions: { ready: true } }],
});

const eventPosts = (server: KubeApiServer) =>
  server.requests.filter((r) => r.method === "POST" && r.path.startsWith("/apis/events.k8s.io/"));

describe("strait run --kubeconfig (cluster mode)", { timeout: 420_000 }, () => {
  it("syncs the quickstart, becomes ready, patches statuses only when they change, and releases the Lease on SIGTERM", async () => {
    const server = await quickstartServer();
    const { proc, base } = await startReplica(server, "solo");
    await waitFor(() => proc.logs.some((l) => l.msg === "kubernetes source synced"), "the sync", LOADED_MS);
    const synced = proc.logs.find((l) => l.msg === "kubernetes source synced");
    expect(synced?.unserved).toEqual(["CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"]);

    await waitFor(
      () => routeConditions(server).some((c) => c.type === "Accepted" && c.status === "True"),
      "the HTTPRoute status",
      LOADED_MS,
    );
    await waitReady(base);
    expect(await metric(base, "strait_leader")).toBe(1);
    expect(condition(server.get("GatewayClass", undefined, "strait"), "Accepted")?.status).toBe("True");
    expect(condition(server.get("Gateway", "infra", "edge"), "Accepted")?.status).toBe("True");

    // The quickstart Gateway's Service, applied by strait and owned by the Gateway.
    await waitFor(
      () => server.get("Service", "infra", "edge-strait") !== undefined,
      "the Gateway's Service",
      LOADED_MS,
    );
    const gateway = server.get("Gateway", "infra", "edge");
    const service = server.get("Service", "infra", "edge-strait");
    expect(service?.metadata.labels).toEqual({
      "gateway.networking.k8s.io/gateway-name": "edge",
      "app.kubernetes.io/managed-by": "strait",
    });
    expect(service?.metadata.ownerReferences).toEqual([
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "Gateway",
        name: "edge",
        uid: gateway?.metadata.uid,
        controller: true,
      },
    ]);
    expect(service?.spec).toMatchObject({ type: "LoadBalancer", ports: [{ port: 8080, protocol: "TCP" }] });
    expect(await metric(base, "strait_owned_object_conflicts")).toBe(0);

    // No status patched twice with the same content once the watch has brought it back (an
    // object may be patched again when its status really changed, e.g. when the Gateway's
    // Service arrives after the first pass); besides the Service's apply, all on /status.
    await new Promise((r) => setTimeout(r, 500));
    const paths = statusPatches(server).map((p) => p.path);
    expect(repeatedStatusPatches(server)).toEqual([]);
    expect(serviceApplies(server).map((r) => [r.contentType, r.query.fieldManager, r.status])).toEqual([
      ["application/apply-patch+yaml", "strait", 201],
    ]);
    expect(
      server.requests.filter((r) => r.method === "PATCH").length -
        paths.length -
        serviceApplies(server).length,
    ).toBe(0);
    expect(paths).toContain("/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/shop/status");
    expect(paths).toContain("/apis/gateway.networking.k8s.io/v1/gatewayclasses/strait/status");
    expect(paths).toContain("/apis/gateway.networking.k8s.io/v1/namespaces/infra/gateways/edge/status");

    // An edit that breaks a reference: the route's status follows, with the new generation.
    retarget(server, "gone");
    await waitFor(
      () => routeConditions(server).some((c) => c.type === "ResolvedRefs" && c.status === "False"),
      "ResolvedRefs False",
      LOADED_MS,
    );
    expect(routeConditions(server).find((c) => c.type === "ResolvedRefs")).toMatchObject({
      reason: "BackendNotFound",
      observedGeneration: 2,
    });

    expect(await proc.stop("SIGTERM")).toBe(0);
    expect(server.get("Lease", "strait-system", "strait-controller")?.spec).toMatchObject({
      holderIdentity: "",
    });
  }, 420_000);

  it("writes one Warning Event regarding an EndpointSlice whose endpoint is left out, not one per pass; a recurrence extends its series", async () => {
    const server = await quickstartServer();
    server.create(badSlice([""]));
    const { proc, base } = await startReplica(server, "solo");
    await waitReady(base);
    const events = () => server.storage.list(EVENT, "shop");
    const eventWrites = () => server.requests.filter((r) => r.path.startsWith("/apis/events.k8s.io/"));
    await waitFor(() => events().length > 0, "the InvalidEndpoint Event", LOADED_MS);
    const slice = server.get("EndpointSlice", "shop", "store-bad");
    const [event] = events();
    expect(event).toMatchObject({
      type: "Warning",
      reason: "InvalidEndpoint",
      action: "Translate",
      reportingController: "strait.dev/gateway-controller",
      reportingInstance: "solo",
      regarding: {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        namespace: "shop",
        name: "store-bad",
        uid: slice?.metadata.uid,
      },
    });
    // The note names the endpoint, the load assignment and the failing field.
    expect(event?.note).toBe(
      "endpoint :8080 left out of the endpoints of Envoy cluster shop/store:80; the other endpoints are served: endpoint.address.socket_address.address: must be at least 1 characters long",
    );
    expect(String(event?.eventTime)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    // More passes with the endpoint still bad: no second Event, no update.
    const passes = () => proc.logs.filter((l) => l.msg === "pipeline ran").length;
    const before = passes();
    // (The catch-all rule points at landing: first to store, then back, two real edits.)
    retarget(server, "store");
    await waitFor(() => passes() > before, "another pass", LOADED_MS);
    retarget(server, "landing");
    await waitFor(() => passes() > before + 1, "a third pass", LOADED_MS);
    await new Promise((r) => setTimeout(r, 500));
    expect(eventWrites().map((r) => r.method)).toEqual(["POST"]);

    // Fixed, then broken again: the same Event, its series counted as client-go counts it.
    server.update(badSlice(["127.0.2.99"]));
    await waitFor(() => passes() > before + 2, "the pass after the fix", LOADED_MS);
    server.update(badSlice([""]));
    await waitFor(() => eventWrites().length === 2, "the series update", LOADED_MS);
    expect(eventWrites().map((r) => [r.method, r.contentType])).toEqual([
      ["POST", "application/json"],
      ["PATCH", "application/merge-patch+json"],
    ]);
    expect(events()).toHaveLength(1);
    expect(events()[0]?.series).toMatchObject({ count: 2 });
    expect(await proc.stop("SIGTERM")).toBe(0);
  }, 420_000);

  it("keeps the Event of a problem that holds past the API server's Event TTL with heartbeats, with no pass running", async () => {
    // A TTL of 10 s and a heartbeat of 2 s (checked each second): the Event lives only if renewed.
    const server = await quickstartServer({ eventTtlMs: 10_000 });
    server.create(badSlice([""]));
    const { proc, base } = await startReplica(server, "solo", ["--event-heartbeat", "2s"]);
    await waitReady(base);
    const events = () => {
      server.expireEvents();
      return server.storage.list(EVENT, "shop");
    };
    const eventWrites = () =>
      server.requests
        .filter((r) => r.path.startsWith("/apis/events.k8s.io/"))
        .map((r) => `${r.method} ${r.status}`);
    await waitFor(() => events().length > 0, "the InvalidEndpoint Event", LOADED_MS);
    const name = events()[0]?.metadata.name;
    const passes = () => proc.logs.filter((l) => l.msg === "pipeline ran").length;
    const before = passes();
    // Two and a half TTLs without an edit (the passes that still run, e.g. after the leader's own
    // status writes, are fewer than the heartbeats: the timer writes them).
    await new Promise((r) => setTimeout(r, 25_000));
    const passesDuring = passes() - before;
    expect(events().map((e) => e.metadata.name)).toEqual([name]);
    const writes = eventWrites();
    expect(writes[0]).toBe("POST 201");
    expect(writes.slice(1).every((w) => w === "PATCH 200")).toBe(true);
    expect(writes.length).toBeGreaterThanOrEqual(6);
    expect(writes.length - 1).toBeGreaterThan(passesDuring);
    expect(events()[0]?.series).toMatchObject({ count: writes.length });
    expect(await proc.stop("SIGTERM")).toBe(0);
  }, 420_000);

  it("runs two replicas of which exactly one writes statuses; after the leader is killed the other takes over within the lease duration", async () => {
    const server = await quickstartServer();
    const [a, b] = await Promise.all([startReplica(server, "replica-a"), startReplica(server, "replica-b")]);
    await waitFor(
      () => routeConditions(server).some((c) => c.type === "Accepted" && c.status === "True"),
      "the HTTPRoute status",
      LOADED_MS,
    );
    const holder = () =>
      (
        server.get("Lease", "strait-system", "strait-controller")?.spec as
          | { holderIdentity?: string }
          | undefined
      )?.holderIdentity;
    const leaderName = holder();
    expect(["replica-a", "replica-b"]).toContain(leaderName);
    const [leader, follower] = leaderName === "replica-a" ? [a, b] : [b, a];
    const followerName = leaderName === "replica-a" ? "replica-b" : "replica-a";
    await waitReady(leader.base);
    await waitReady(follower.base); // every replica syncs and reconciles, not only the leader
    expect(await metric(leader.base, "strait_leader")).toBe(1);
    expect(await metric(follower.base, "strait_leader")).toBe(0);
    expect(new Set(statusPatches(server).map((p) => p.user))).toEqual(new Set([leaderName]));
    await waitFor(() => serviceApplies(server).length > 0, "the Gateway's Service", LOADED_MS);
    expect(new Set(serviceApplies(server).map((p) => p.user))).toEqual(new Set([leaderName]));
    // An endpoint left out: the leader alone writes its Event.
    server.create(badSlice([""]));
    await waitFor(() => eventPosts(server).length > 0, "the InvalidEndpoint Event", LOADED_MS);
    await new Promise((r) => setTimeout(r, 500));
    expect(eventPosts(server).map((p) => [p.user, p.status])).toEqual([[leaderName, 201]]);

    // The leader crashes; while no one leads, the route changes.
    await leader.proc.stop("SIGKILL");
    const killed = performance.now();
    retarget(server, "gone");
    await waitFor(() => holder() === followerName, "the follower takes the Lease", LOADED_MS);
    const tookMs = performance.now() - killed;
    // The lease duration (4 s) from the follower's last observation of a change, plus its retry
    // period with jitter (≤ 550 ms) and process scheduling; a 2-core machine running other
    // suites delays timers by seconds, hence the upper bound.
    expect(tookMs).toBeGreaterThanOrEqual(4_000 - 800); // its last observation may predate the kill by a retry period
    expect(tookMs).toBeLessThan(12_000);

    // The new leader writes every current status, including the change made while no one led.
    await waitFor(
      () => routeConditions(server).some((c) => c.type === "ResolvedRefs" && c.status === "False"),
      "the status written by the new leader",
      LOADED_MS,
    );
    const byUser = statusPatches(server).filter((p) => p.user === followerName && p.status === 200);
    expect(byUser.map((p) => p.path)).toContain(
      "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/shop/status",
    );
    expect(await metric(follower.base, "strait_leader")).toBe(1);
    expect(follower.proc.logs.some((l) => l.msg === "became leader: writing statuses")).toBe(true);
    // It does not know which Events the old leader wrote: it writes the one that holds once.
    await waitFor(
      () => eventPosts(server).some((p) => p.user === followerName),
      "the new leader's Event",
      LOADED_MS,
    );
    // It cannot know what the old leader applied: it applies the Service once (a no-op on the server).
    await waitFor(
      () => serviceApplies(server).some((p) => p.user === followerName),
      "the new leader's apply",
      LOADED_MS,
    );
    expect(
      serviceApplies(server)
        .filter((p) => p.user === followerName)
        .map((p) => p.status),
    ).toEqual([200]);
  }, 420_000);
});
