/**
 * The test API server at the HTTP level, with node:http and no Kubernetes
 * client: what strait's tests rely on it to do the way kube-apiserver does.
 */
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { KubeApiServer } from "./server.ts";

const servers: KubeApiServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start(): Promise<KubeApiServer> {
  const s = await KubeApiServer.start({ token: "t" });
  servers.push(s);
  return s;
}

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function call(
  server: KubeApiServer,
  method: string,
  path: string,
  options: { body?: unknown; contentType?: string; token?: string | null } = {},
): Promise<RawResponse> {
  const text = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, {
      method,
      headers: {
        ...(options.token === null ? {} : { authorization: `Bearer ${options.token ?? "t"}` }),
        // node:http sends a DELETE body neither chunked nor sized unless told its length.
        ...(text === undefined
          ? {}
          : {
              "content-type": options.contentType ?? "application/json",
              "content-length": Buffer.byteLength(text),
            }),
      },
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(text);
  });
}

/** Opens a watch and collects its event lines until `count` arrived or the stream ended. */
function watchLines(
  server: KubeApiServer,
  path: string,
  count: number,
): Promise<{ res: RawResponse; lines: unknown[] }> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, { headers: { authorization: "Bearer t" } });
    req.on("response", (res) => {
      const lines: unknown[] = [];
      let buffer = "";
      const done = () => {
        req.destroy();
        resolve({ res: { status: res.statusCode ?? 0, headers: res.headers, body: "" }, lines });
      };
      res.on("data", (c: Buffer) => {
        buffer += c.toString();
        for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
          lines.push(JSON.parse(buffer.slice(0, i)));
          buffer = buffer.slice(i + 1);
          if (lines.length === count) done();
        }
      });
      res.on("end", done);
    });
    req.on("error", reject);
    req.end();
  });
}

const cm = (name: string) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "n" } });

describe("test API server", () => {
  it("answers 401 without the bearer token and 404 for unknown resources", async () => {
    const s = await start();
    expect((await call(s, "GET", "/api/v1/configmaps", { token: null })).status).toBe(401);
    expect((await call(s, "GET", "/apis/example.com/v1/widgets")).status).toBe(404);
  });

  it("chunks lists with limit/continue, every page at the first page's resourceVersion", async () => {
    const s = await start();
    for (const n of ["a", "b", "c"]) s.create(cm(n));
    const first = JSON.parse((await call(s, "GET", "/api/v1/configmaps?limit=2")).body);
    expect(first.kind).toBe("ConfigMapList");
    expect(first.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(["a", "b"]);
    expect(first.items[0].kind).toBeUndefined(); // built-in list items carry no kind, as on a real server
    expect(first.metadata.remainingItemCount).toBe(1);
    s.create(cm("d")); // after the first page: not part of this list
    const second = JSON.parse(
      (await call(s, "GET", `/api/v1/configmaps?limit=2&continue=${first.metadata.continue}`)).body,
    );
    expect(second.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(["c"]);
    expect(second.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
    expect(second.metadata.continue).toBeUndefined();
    s.compact();
    expect(
      (await call(s, "GET", `/api/v1/configmaps?limit=2&continue=${first.metadata.continue}`)).status,
    ).toBe(410);
  });

  it("streams watch events with chunked transfer encoding, from a resourceVersion, with bookmarks on request", async () => {
    const s = await start();
    const created = s.create(cm("a"));
    const rv = created.metadata.resourceVersion;
    s.update({ ...cm("a"), data: { k: "v" } });
    s.delete("ConfigMap", "n", "a");
    const replay = watchLines(
      s,
      `/api/v1/configmaps?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`,
      3,
    );
    await new Promise((r) => setTimeout(r, 50));
    s.sendBookmarks();
    const { res, lines } = await replay;
    expect(res.status).toBe(200);
    expect(res.headers["transfer-encoding"]).toBe("chunked");
    expect(lines.map((l) => (l as { type: string }).type)).toEqual(["MODIFIED", "DELETED", "BOOKMARK"]);
    expect(
      (lines[2] as { object: { metadata: { resourceVersion: string } } }).object.metadata.resourceVersion,
    ).toBe(String(s.storage.resourceVersion));
  });

  it("answers a watch from a compacted resourceVersion with an ERROR event carrying a 410 Expired Status", async () => {
    const s = await start();
    const old = s.create(cm("a")).metadata.resourceVersion;
    s.create(cm("b"));
    s.compact();
    const { lines } = await watchLines(s, `/api/v1/configmaps?watch=1&resourceVersion=${old}`, 1);
    expect(lines[0]).toMatchObject({
      type: "ERROR",
      object: { kind: "Status", code: 410, reason: "Expired" },
    });
  });

  it("applies merge patches to /status only, records them, and refuses a stale resourceVersion with 409", async () => {
    const s = await start();
    const route = s.create({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "r", namespace: "n" },
      spec: { hostnames: ["a.example"] },
    });
    const path = "/apis/gateway.networking.k8s.io/v1/namespaces/n/httproutes/r/status";
    const patch = {
      metadata: { resourceVersion: route.metadata.resourceVersion },
      status: { parents: [] },
      spec: {},
    };
    expect((await call(s, "PATCH", path, { body: patch })).status).toBe(415);
    const ok = await call(s, "PATCH", path, { body: patch, contentType: "application/merge-patch+json" });
    expect(ok.status).toBe(200);
    expect(s.get("HTTPRoute", "n", "r")).toMatchObject({
      spec: { hostnames: ["a.example"] },
      status: { parents: [] },
    });
    const stale = await call(s, "PATCH", path, { body: patch, contentType: "application/merge-patch+json" });
    expect(stale.status).toBe(409);
    expect(s.requests.filter((r) => r.method === "PATCH").map((r) => r.status)).toEqual([415, 200, 409]);
  });

  it("creates, reads and updates Leases with 409 on a resourceVersion conflict", async () => {
    const s = await start();
    const lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "l" },
      spec: { holderIdentity: "a" },
    };
    expect(
      (await call(s, "POST", "/apis/coordination.k8s.io/v1/namespaces/n/leases", { body: lease })).status,
    ).toBe(201);
    expect(
      (await call(s, "POST", "/apis/coordination.k8s.io/v1/namespaces/n/leases", { body: lease })).status,
    ).toBe(409);
    const got = JSON.parse((await call(s, "GET", "/apis/coordination.k8s.io/v1/namespaces/n/leases/l")).body);
    const put = (holder: string) =>
      call(s, "PUT", "/apis/coordination.k8s.io/v1/namespaces/n/leases/l", {
        body: { ...got, spec: { holderIdentity: holder } },
      });
    expect((await put("b")).status).toBe(200);
    expect((await put("c")).status).toBe(409); // same resourceVersion again: someone else wrote in between
    expect(s.get("Lease", "n", "l")?.spec).toEqual({ holderIdentity: "b" });
  });
});

const SERVICES = "/api/v1/namespaces/n/services";

function service(name: string, extra: { labels?: Record<string, string>; ports?: number[] } = {}) {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "n", ...(extra.labels === undefined ? {} : { labels: extra.labels }) },
    spec: {
      type: "LoadBalancer",
      ports: (extra.ports ?? [80]).map((port) => ({ name: `p${port}`, port, protocol: "TCP" })),
    },
  };
}

function applyCall(
  s: KubeApiServer,
  name: string,
  body: unknown,
  query = "fieldManager=strait&force=true",
): Promise<RawResponse> {
  return call(s, "PATCH", `${SERVICES}/${name}?${query}`, {
    body,
    contentType: "application/apply-patch+yaml",
  });
}

type ServiceOut = {
  metadata: { resourceVersion: string; labels?: Record<string, string>; managedFields?: unknown[] };
  spec: { clusterIP?: string; ports: { port: number; nodePort?: number }[] };
};

describe("test API server: server-side apply and delete", () => {
  it("creates with 201, then merges with 200; no new resourceVersion or event when nothing changes", async () => {
    const s = await start();
    expect((await applyCall(s, "a", service("a"), "force=true")).status).toBe(422); // no fieldManager
    const merge = await call(s, "PATCH", `${SERVICES}/a?force=true`, {
      body: {},
      contentType: "application/merge-patch+json",
    });
    expect(merge.status).toBe(422);
    const created = await applyCall(s, "a", service("a", { labels: { app: "x", old: "y" } }));
    expect(created.status).toBe(201);
    const obj = JSON.parse(created.body) as ServiceOut;
    // The server's defaults come back: an allocated cluster IP and node port, which strait did not write.
    expect(obj.spec.clusterIP).toMatch(/^10\.96\./);
    expect(obj.spec.ports[0]?.nodePort).toBeGreaterThanOrEqual(30000);
    expect(obj.metadata.managedFields).toEqual([
      expect.objectContaining({
        manager: "strait",
        operation: "Apply",
        fieldsType: "FieldsV1",
        fieldsV1: expect.objectContaining({
          "f:metadata": { "f:labels": { "f:app": {}, "f:old": {} } },
        }),
      }),
    ]);
    const rv = s.storage.resourceVersion;
    const again = await applyCall(s, "a", service("a", { labels: { app: "x", old: "y" } }));
    expect(again.status).toBe(200);
    expect(s.storage.resourceVersion).toBe(rv);
    expect((JSON.parse(again.body) as ServiceOut).metadata.resourceVersion).toBe(
      obj.metadata.resourceVersion,
    );

    // A label strait no longer applies is removed; one set by another client stays.
    s.update({ ...(s.get("Service", "n", "a") as ApiObjectLike), metadata: withLabel(s, "a", "team", "t") });
    const next = await applyCall(s, "a", service("a", { labels: { app: "z" } }));
    expect(next.status).toBe(200);
    expect(s.get("Service", "n", "a")?.metadata.labels).toEqual({ app: "z", team: "t" });
    expect(s.storage.resourceVersion).toBeGreaterThan(rv);
    expect(s.requestsFor("services", { method: "PATCH" }).map((r) => r.status)).toEqual([
      422, 422, 201, 200, 200,
    ]);
  });

  it("refuses a field another manager owns with another value (409) unless forced, which moves the ownership", async () => {
    const s = await start();
    await applyCall(s, "a", service("a", { labels: { app: "x" } }), "fieldManager=other");
    const refused = await applyCall(s, "a", service("a", { labels: { app: "y" } }), "fieldManager=strait");
    expect(refused.status).toBe(409);
    expect(JSON.parse(refused.body)).toMatchObject({
      reason: "Conflict",
      details: { causes: [{ reason: "FieldManagerConflict", field: ".metadata.labels.app" }] },
    });
    expect(s.get("Service", "n", "a")?.metadata.labels).toEqual({ app: "x" });
    expect((await applyCall(s, "a", service("a", { labels: { app: "y" } }))).status).toBe(200);
    expect(s.get("Service", "n", "a")?.metadata.labels).toEqual({ app: "y" });
    // Now strait's alone: when strait stops applying it, it goes.
    await applyCall(s, "a", service("a"));
    expect(s.get("Service", "n", "a")?.metadata.labels).toBeUndefined();
    // Shared ownership (same value, no conflict): the field stays while the other manager keeps it.
    await applyCall(s, "a", service("a", { labels: { shared: "1" } }), "fieldManager=other");
    await applyCall(s, "a", service("a", { labels: { shared: "1" } }), "fieldManager=strait");
    await applyCall(s, "a", service("a"));
    expect(s.get("Service", "n", "a")?.metadata.labels).toEqual({ shared: "1" });
    // With two managers on an object, strait's first, the same apply again still changes nothing.
    await applyCall(s, "b", service("b"));
    await applyCall(s, "b", service("b", { labels: { x: "1" } }), "fieldManager=other");
    const rv = s.storage.resourceVersion;
    expect((await applyCall(s, "b", service("b"))).status).toBe(200);
    expect(s.storage.resourceVersion).toBe(rv);
  });

  it("merges Service ports item by item, keeping the node port allocated to a port that stays", async () => {
    const s = await start();
    const first = JSON.parse((await applyCall(s, "a", service("a", { ports: [80] }))).body) as ServiceOut;
    const nodePort = first.spec.ports[0]?.nodePort;
    const both = JSON.parse((await applyCall(s, "a", service("a", { ports: [80, 443] }))).body) as ServiceOut;
    expect(both.spec.ports.map((p) => [p.port, p.nodePort === nodePort])).toEqual([
      [80, true],
      [443, false],
    ]);
    const last = JSON.parse((await applyCall(s, "a", service("a", { ports: [443] }))).body) as ServiceOut;
    expect(last.spec.ports.map((p) => p.port)).toEqual([443]);
  });

  it("validates as the real server: 422 for an owner reference without uid or a bad port, 400 for a name that differs from the URL", async () => {
    const s = await start();
    const noUid = {
      ...service("a"),
      metadata: {
        name: "a",
        ownerReferences: [
          { apiVersion: "gateway.networking.k8s.io/v1", kind: "Gateway", name: "g", uid: "" },
        ],
      },
    };
    const res = await applyCall(s, "a", noUid);
    expect(res.status).toBe(422);
    expect(JSON.parse(res.body)).toMatchObject({
      reason: "Invalid",
      message:
        'Service "a" is invalid: metadata.ownerReferences.uid: Invalid value: "": uid must not be empty',
    });
    expect((await applyCall(s, "a", service("a", { ports: [0] }))).status).toBe(422);
    expect((await applyCall(s, "b", service("a"))).status).toBe(400);
    expect(s.get("Service", "n", "a")).toBeUndefined();
  });

  it("deletes with DeleteOptions preconditions: 409 for another uid or resourceVersion, 404 once gone", async () => {
    const s = await start();
    const created = s.create(service("a"));
    const del = (preconditions: Record<string, string>) =>
      call(s, "DELETE", `${SERVICES}/a`, {
        body: { kind: "DeleteOptions", apiVersion: "v1", preconditions },
      });
    const wrongUid = await del({ uid: "another" });
    expect(wrongUid.status).toBe(409);
    expect(JSON.parse(wrongUid.body).message).toContain("Precondition failed: UID in precondition: another");
    expect((await del({ resourceVersion: "1" })).status).toBe(409);
    expect(s.get("Service", "n", "a")).toBeDefined();
    expect((await del({ uid: created.metadata.uid ?? "" })).status).toBe(200);
    expect(s.get("Service", "n", "a")).toBeUndefined();
    expect((await del({})).status).toBe(404);
  });
});

type ApiObjectLike = Parameters<KubeApiServer["update"]>[0];

function withLabel(s: KubeApiServer, name: string, key: string, value: string): ApiObjectLike["metadata"] {
  const current = s.get("Service", "n", name);
  if (current === undefined) throw new Error(`no Service ${name}`);
  return { ...current.metadata, labels: { ...(current.metadata.labels as object), [key]: value } };
}
