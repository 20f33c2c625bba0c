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
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, {
      method,
      headers: {
        ...(options.token === null ? {} : { authorization: `Bearer ${options.token ?? "t"}` }),
        ...(options.body === undefined ? {} : { "content-type": options.contentType ?? "application/json" }),
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
    req.end(options.body === undefined ? undefined : JSON.stringify(options.body));
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
