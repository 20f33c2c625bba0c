import { afterEach, describe, expect, it } from "vitest";
import { captureLogger } from "../../../test/support/capture-logger.ts";
import { KubeApiServer } from "../../../test/support/kube-apiserver/server.ts";
import { sleep, waitFor } from "../../../test/support/wait.ts";
import { KINDS } from "../../resources/kinds.ts";
import { ResourceStore } from "../store.ts";
import { KubeClient, loadKubeConfig } from "./kube-client.ts";
import { KubernetesSource } from "./kubernetes-source.ts";
import type { ReflectorTiming } from "./reflector.ts";

const FAST: Partial<ReflectorTiming> = {
  pageSize: 2,
  backoff: { initialMs: 20, maxMs: 200 },
  unservedRetryMs: 100,
  healthyWatchMs: 200,
};

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function service(name: string, namespace = "shop", port = 80) {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace },
    spec: { ports: [{ name: "http", port }] },
  };
}

async function setup(
  options: { unserved?: string[]; timing?: Partial<ReflectorTiming>; only?: string[] } = {},
) {
  const server = await KubeApiServer.start(
    options.unserved === undefined ? {} : { unserved: options.unserved },
  );
  const store = new ResourceStore();
  const { logger, lines } = captureLogger();
  let syncs = 0;
  const source = new KubernetesSource({
    client: new KubeClient(loadKubeConfig(server.kubeconfig).config),
    store,
    logger,
    timing: { ...FAST, ...options.timing },
    ...(options.only === undefined ? {} : { kinds: KINDS.filter((k) => options.only?.includes(k.kind)) }),
    onSynced: () => syncs++,
  });
  cleanups.push(async () => {
    await source.stop();
    await server.close();
  });
  return { server, store, source, lines, syncs: () => syncs };
}

const serviceNames = (store: ResourceStore) => store.list("Service").map((s) => s.metadata.name);

describe("KubernetesSource: initial list", () => {
  it("lists every kind in pages, fills in apiVersion and kind, drops managedFields, then reports one sync", async () => {
    const { server, store, source, syncs } = await setup();
    for (const name of ["a", "b", "c", "d", "e"]) {
      server.create({
        ...service(name),
        metadata: { name, namespace: "shop", managedFields: [{ manager: "kubectl" }] },
      });
    }
    server.create({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: "strait" },
      spec: { controllerName: "strait.dev/gateway-controller" },
    });
    source.start();
    await waitFor(() => source.synced, "first sync");
    expect(syncs()).toBe(1);
    expect(serviceNames(store)).toEqual(["a", "b", "c", "d", "e"]);
    const a = store.get("Service", "shop", "a");
    expect(a?.apiVersion).toBe("v1");
    expect(a?.kind).toBe("Service");
    expect((a?.metadata as { managedFields?: unknown } | undefined)?.managedFields).toBeUndefined();
    expect(store.get("GatewayClass", "", "strait")?.spec.controllerName).toBe(
      "strait.dev/gateway-controller",
    );

    // Five Services in pages of two: three requests, the later two carrying the continue token.
    const lists = server.requestsFor("services", { watch: false });
    expect(lists.map((r) => r.query.limit)).toEqual(["2", "2", "2"]);
    expect(lists[0]?.query.continue).toBeUndefined();
    expect(lists[1]?.query.continue).toBeTruthy();
    expect(lists[2]?.query.continue).toBeTruthy();
    // Every kind of the catalogue was listed cluster-wide.
    for (const k of KINDS) expect(server.requestsFor(k.plural, { watch: false }).length).toBeGreaterThan(0);
  });

  it("becomes ready when a kind is not served (404), logs that once, and picks the kind up when its CRD appears", async () => {
    const { server, store, source, lines } = await setup({ unserved: ["CiliumNetworkPolicy"] });
    source.start();
    await waitFor(() => source.synced, "first sync");
    expect(source.states().CiliumNetworkPolicy).toBe("unserved");
    await sleep(350); // a few slow retries
    expect(server.requestsFor("ciliumnetworkpolicies", { watch: false }).length).toBeGreaterThan(1);
    expect(lines.filter((l) => l.msg.startsWith("kind not served")).length).toBe(1);

    server.setServed("CiliumNetworkPolicy", true);
    server.create({
      apiVersion: "cilium.io/v2",
      kind: "CiliumNetworkPolicy",
      metadata: { name: "deny", namespace: "shop" },
      spec: { endpointSelector: {} },
    });
    await waitFor(
      () => store.get("CiliumNetworkPolicy", "shop", "deny") !== undefined,
      "the CNP in the store",
    );
    expect(source.states().CiliumNetworkPolicy).toBe("synced");
  });

  it("retries a failing list with back-off and holds readiness until it succeeds", async () => {
    const { server, source } = await setup({ only: ["Service"] });
    server.failNext({ method: "GET", path: "/services", watch: false, status: 500, times: 2 });
    source.start();
    await waitFor(() => source.synced, "first sync");
    expect(server.requestsFor("services", { watch: false }).map((r) => r.status)).toEqual([500, 500, 200]);
  });
});

describe("KubernetesSource: watch", () => {
  it("applies ADDED, MODIFIED and DELETED events to the store, watching from the list's resourceVersion with bookmarks", async () => {
    const { server, store, source } = await setup({ only: ["Service"] });
    server.create(service("a"));
    source.start();
    await waitFor(() => source.synced && server.openWatches("Service").length === 1, "the watch");
    const listRv = server.requestsFor("services", { watch: false }).at(-1);
    const watch = server.requestsFor("services", { watch: true })[0];
    expect(watch?.query.allowWatchBookmarks).toBe("true");
    expect(watch?.query.resourceVersion).toBe(String(server.storage.resourceVersion));
    expect(listRv?.status).toBe(200);

    server.create(service("b"));
    await waitFor(() => store.get("Service", "shop", "b") !== undefined, "b added");
    server.update(service("a", "shop", 8080));
    await waitFor(() => store.get("Service", "shop", "a")?.spec?.ports?.[0]?.port === 8080, "a modified");
    server.delete("Service", "shop", "b");
    await waitFor(() => store.get("Service", "shop", "b") === undefined, "b deleted");
    expect(source.resourceVersion("Service")).toBe(String(server.storage.resourceVersion));
  });

  it("resumes a dropped watch from the last resourceVersion without listing again", async () => {
    const { server, store, source } = await setup({ only: ["Service"] });
    server.create(service("a"));
    source.start();
    await waitFor(() => server.openWatches("Service").length === 1, "the watch");
    server.create(service("b"));
    await waitFor(() => store.get("Service", "shop", "b") !== undefined, "b added");
    const lastSeen = source.resourceVersion("Service");

    server.dropWatches("Service");
    server.create(service("c")); // while the reflector is disconnected
    await waitFor(() => store.get("Service", "shop", "c") !== undefined, "c added after the drop");

    const watches = server.requestsFor("services", { watch: true });
    expect(watches.length).toBe(2);
    expect(watches[1]?.query.resourceVersion).toBe(lastSeen);
    expect(server.requestsFor("services", { watch: false }).length).toBe(1);
  });

  it("treats a silent watch as dead after the inactivity timeout and resumes it from the same resourceVersion", async () => {
    const { server, source } = await setup({ only: ["Service"], timing: { inactivityTimeoutMs: 300 } });
    source.start();
    await waitFor(() => server.requestsFor("services", { watch: true }).length >= 2, "a second watch", 3_000);
    const [first, second] = server.requestsFor("services", { watch: true });
    expect(second?.query.resourceVersion).toBe(first?.query.resourceVersion);
    expect(server.requestsFor("services", { watch: false }).length).toBe(1);
  });

  it("re-lists after 410 Gone and removes objects deleted during the gap", async () => {
    const { server, store, source } = await setup({ only: ["Service"] });
    server.create(service("a"));
    server.create(service("b"));
    source.start();
    await waitFor(() => server.openWatches("Service").length === 1, "the watch");
    const lastSeen = source.resourceVersion("Service");

    // A gap: the watch is gone and cannot reconnect while a is deleted and c created,
    // and the server's history is compacted past the reflector's resourceVersion.
    server.failNext({ path: "/services", watch: true, status: 503, times: 1_000 });
    server.dropWatches("Service");
    server.delete("Service", "shop", "a");
    server.create(service("c"));
    server.compact();
    await waitFor(
      () => server.requestsFor("services", { watch: true }).some((r) => r.status === 503),
      "refusals",
    );
    server.clearFailures();

    await waitFor(() => serviceNames(store).join() === "b,c", "the store after the re-list");
    const watches = server.requestsFor("services", { watch: true }).filter((r) => r.status === 200);
    // The resumed watch from the old resourceVersion got a 410 ERROR event; then a list; then a fresh watch.
    expect(watches[1]?.query.resourceVersion).toBe(lastSeen);
    expect(server.requestsFor("services", { watch: false }).length).toBe(2);
    await waitFor(() => server.openWatches("Service").length === 1, "the new watch");
    expect(server.requestsFor("services", { watch: true }).at(-1)?.query.resourceVersion).toBe(
      String(server.storage.resourceVersion),
    );
  });

  it("re-lists when an open watch gets an ERROR event with a 410 Expired status", async () => {
    const { server, store, source } = await setup({ only: ["Service"] });
    server.create(service("a"));
    source.start();
    await waitFor(() => server.openWatches("Service").length === 1, "the watch");
    server.expireWatches("Service");
    await waitFor(() => server.requestsFor("services", { watch: false }).length === 2, "the re-list");
    expect(serviceNames(store)).toEqual(["a"]);
  });

  it("advances the resourceVersion on BOOKMARK events, so a reconnect after compaction needs no re-list", async () => {
    const { server, source } = await setup({ only: ["Service"] });
    server.create(service("a"));
    source.start();
    await waitFor(() => server.openWatches("Service").length === 1, "the watch");
    const before = source.resourceVersion("Service");
    // Writes to other kinds move the server's resourceVersion on; the Service watch sees none of them.
    for (let i = 0; i < 3; i++) {
      server.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `cm${i}`, namespace: "shop" } });
    }
    server.sendBookmarks();
    const bookmarked = String(server.storage.resourceVersion);
    await waitFor(() => source.resourceVersion("Service") === bookmarked, "the bookmark's resourceVersion");
    expect(bookmarked).not.toBe(before);

    server.compact(); // `before` is now too old to watch from; the bookmark's is not
    server.dropWatches("Service");
    await waitFor(() => server.openWatches("Service").length === 1, "the resumed watch");
    const watches = server.requestsFor("services", { watch: true });
    expect(watches.at(-1)?.query.resourceVersion).toBe(bookmarked);
    expect(server.openWatches("Service")[0]?.sent.some((e) => e.type === "ERROR")).toBe(false);
    expect(server.requestsFor("services", { watch: false }).length).toBe(1);
  });

  it("ignores malformed events and objects, logs them, and keeps the stream going", async () => {
    const { server, store, source, lines } = await setup({ only: ["Service"] });
    // A namespaced object without a namespace: the store cannot key it.
    server.storage.create(
      { group: "", version: "v1", plural: "services", kind: "Service", namespaced: true },
      { apiVersion: "v1", kind: "Service", metadata: { name: "no-namespace" } },
    );
    server.create(service("good"));
    source.start();
    await waitFor(() => server.openWatches("Service").length === 1, "the watch");
    expect(serviceNames(store)).toEqual(["good"]);
    for (const line of [
      "this is not JSON",
      '{"type":"ADDED","object":null}',
      '{"type":"ADDED","object":{"metadata":{}}}',
      '{"type":"MODIFIED","object":{"kind":"Pod","metadata":{"name":"x","namespace":"shop"}}}',
      '{"type":"DELETED","object":42}',
      '{"type":"SURPRISE","object":{}}',
    ]) {
      server.sendRawWatchLine("Service", line);
    }
    server.create(service("after"));
    await waitFor(() => store.get("Service", "shop", "after") !== undefined, "the event after the garbage");
    expect(serviceNames(store)).toEqual(["after", "good"]);
    // One from the list (no namespace), three from the stream (null, no name, wrong kind).
    const malformed = lines.filter((l) => l.msg === "malformed object ignored");
    expect(malformed.map((l) => l.reason)).toEqual([
      "metadata.namespace is missing",
      "not a JSON object",
      "metadata.name is missing",
      "kind is Pod, expected Service",
    ]);
    expect(lines.some((l) => l.msg === "unknown watch event type ignored")).toBe(true);
    expect(server.requestsFor("services", { watch: true }).length).toBe(1);
  });

  it("stops cleanly: no requests after stop()", async () => {
    const { server, source } = await setup({ only: ["Service"] });
    source.start();
    await waitFor(() => server.openWatches("Service").length === 1, "the watch");
    await source.stop();
    const count = server.requests.length;
    await waitFor(() => server.openWatches("Service").length === 0, "the watch closed");
    await sleep(100);
    expect(server.requests.length).toBe(count);
  });
});
