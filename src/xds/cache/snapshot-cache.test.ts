import { describe, expect, it } from "vitest";
import { TYPE_URLS } from "../proto/index.ts";
import type { ResourceJsonSet } from "./layer-encoder.ts";
import { NODE_KEY_METADATA, type NodeInfo } from "./node.ts";
import { SnapshotCache } from "./snapshot-cache.ts";

function cluster(name: string, timeout = "10s") {
  return {
    name,
    type: "EDS",
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" }, service_name: name },
    connect_timeout: timeout,
    lb_policy: "ROUND_ROBIN",
  };
}

function set(clusters: Record<string, unknown>[]): ResourceJsonSet {
  return { [TYPE_URLS.cluster]: new Map(clusters.map((c) => [String(c.name), c])) };
}

const node = (id: string, metadata: Record<string, unknown> = {}): NodeInfo => ({
  id,
  cluster: "",
  metadata,
  userAgent: "test",
});

describe("SnapshotCache", () => {
  it("serves nothing before the first publish, then the same snapshot to every unknown node", () => {
    const cache = new SnapshotCache();
    expect(cache.snapshotFor(node("a"))).toBeUndefined();
    expect(cache.publish(set([cluster("ns/a:80")])).ok).toBe(true);
    const a = cache.snapshotFor(node("a"));
    const b = cache.snapshotFor(node("b"));
    expect(a).toBe(b);
    expect([...(a?.type(TYPE_URLS.cluster).entries.keys() ?? [])]).toEqual(["ns/a:80"]);
    expect(a?.type(TYPE_URLS.listener).size).toBe(0);
  });

  it("versions are content hashes: a second cache (a restart) computing the same config gets the same versions", () => {
    const first = new SnapshotCache();
    const second = new SnapshotCache();
    first.publish(set([cluster("ns/a:80"), cluster("ns/b:80")]));
    second.publish(set([cluster("ns/b:80"), cluster("ns/a:80")])); // other order, same content
    const one = first.snapshotFor(node("x"))?.type(TYPE_URLS.cluster);
    const two = second.snapshotFor(node("x"))?.type(TYPE_URLS.cluster);
    expect(one?.version).toBe(two?.version);
    expect(one?.get("ns/a:80")?.version).toBe(two?.get("ns/a:80")?.version);
    expect(first.snapshotFor(node("x"))?.version).toBe(second.snapshotFor(node("x"))?.version);

    second.publish(set([cluster("ns/b:80"), cluster("ns/a:80", "5s")]));
    const three = second.snapshotFor(node("x"))?.type(TYPE_URLS.cluster);
    expect(three?.version).not.toBe(one?.version);
    expect(three?.get("ns/a:80")?.version).not.toBe(one?.get("ns/a:80")?.version);
    expect(three?.get("ns/b:80")?.version).toBe(one?.get("ns/b:80")?.version);
    expect(three?.changedSince(two)).toEqual(["ns/a:80"]);
  });

  it("keeps the TypeSnapshot object of a type whose content did not change", () => {
    const cache = new SnapshotCache();
    const clusters = set([cluster("ns/a:80")]);
    cache.publish(clusters);
    const before = cache.snapshotFor(node("x"))?.type(TYPE_URLS.cluster);
    cache.publish(set([cluster("ns/a:80")])); // new objects, same content
    expect(cache.snapshotFor(node("x"))?.type(TYPE_URLS.cluster)).toBe(before);
  });

  it("keeps an invalid resource at its previous version, leaves a new one out, and publishes the rest", () => {
    const reported: string[] = [];
    const cache = new SnapshotCache({
      onInvalid: (layer, invalid) => reported.push(...invalid.map((i) => `${layer} ${i.name}: ${i.error}`)),
    });
    cache.publish(set([cluster("ns/a:80")]));
    const good = cache.snapshotFor(node("x"));
    const goodA = good?.type(TYPE_URLS.cluster).get("ns/a:80")?.version;
    // ns/a:80 becomes invalid (kept as it was), ns/b:80 is new and invalid (left out), ns/c:80 is new and fine.
    const result = cache.publish(
      set([
        { ...cluster("ns/a:80"), lb_policy: "NOPE" },
        { ...cluster("ns/b:80"), lb_policy: "NOPE" },
        cluster("ns/c:80"),
      ]),
    );
    expect(result.ok).toBe(true);
    expect(reported).toHaveLength(2);
    expect(reported[0]).toMatch(/^gateway ns\/a:80: lb_policy: unknown LbPolicy value "NOPE"/);
    expect(reported[1]).toMatch(/^gateway ns\/b:80: lb_policy: unknown LbPolicy value "NOPE"/);
    const clusters = cache.snapshotFor(node("x"))?.type(TYPE_URLS.cluster);
    expect([...(clusters?.entries.keys() ?? [])].sort()).toEqual(["ns/a:80", "ns/c:80"]);
    expect(clusters?.get("ns/a:80")?.version).toBe(goodA);
  });

  it("gives a node its own resources on top of the shared ones, keyed by metadata or id", () => {
    const cache = new SnapshotCache();
    cache.publish(set([cluster("ns/a:80"), cluster("ns/shared:80")]));
    cache.setNodeResources("node/worker-1", set([cluster("ns/a:80", "1s"), cluster("ns/own:80")]));
    const worker = cache.snapshotFor(node("envoy-123", { [NODE_KEY_METADATA]: "worker-1" }));
    const other = cache.snapshotFor(node("envoy-456"));
    const clusters = worker?.type(TYPE_URLS.cluster);
    expect([...(clusters?.entries.keys() ?? [])].sort()).toEqual(["ns/a:80", "ns/own:80", "ns/shared:80"]);
    // The node's own resource hides the shared one of the same name.
    expect(clusters?.get("ns/a:80")?.version).not.toBe(
      other?.type(TYPE_URLS.cluster).get("ns/a:80")?.version,
    );
    expect([...(other?.type(TYPE_URLS.cluster).entries.keys() ?? [])].sort()).toEqual([
      "ns/a:80",
      "ns/shared:80",
    ]);
    cache.setNodeResources("node/worker-1", undefined);
    expect(cache.snapshotFor(node("envoy-123", { [NODE_KEY_METADATA]: "worker-1" }))).toBe(
      cache.snapshotFor(node("envoy-456")),
    );
  });

  it("makes resources on demand for named subscriptions, outside wildcard, and drops them with the last subscriber", () => {
    const resolved: string[] = [];
    let timeout = "10s";
    const cache = new SnapshotCache({
      resolver: (typeUrl, name) => {
        resolved.push(name);
        if (typeUrl !== TYPE_URLS.cluster || !name.startsWith("demand/")) return undefined;
        return set([cluster(name, timeout)]);
      },
    });
    let notified = 0;
    cache.subscribe(() => notified++);
    cache.retain(TYPE_URLS.cluster, ["demand/x:1", "other"]);
    expect(resolved).toEqual([]); // not before the first publish
    cache.publish(set([cluster("ns/a:80")]));
    expect(resolved.sort()).toEqual(["demand/x:1", "other"]);
    const clusters = cache.snapshotFor(node("x"))?.type(TYPE_URLS.cluster);
    expect(clusters?.get("demand/x:1")?.wildcard).toBe(false);
    expect(clusters?.get("ns/a:80")?.wildcard).toBe(true);
    expect(clusters?.wildcardEntries().map((e) => e.name)).toEqual(["ns/a:80"]);

    cache.retain(TYPE_URLS.cluster, ["demand/x:1"]); // a second stream: no new resolution
    expect(resolved).toHaveLength(2);
    timeout = "3s";
    cache.publish(set([cluster("ns/a:80")])); // every publish resolves again
    const after = cache.snapshotFor(node("x"))?.type(TYPE_URLS.cluster);
    expect(after?.changedSince(clusters)).toEqual(["demand/x:1"]);

    const before = notified;
    cache.release(TYPE_URLS.cluster, ["demand/x:1"]);
    expect(cache.snapshotFor(node("x"))?.type(TYPE_URLS.cluster).get("demand/x:1")).toBeDefined();
    cache.release(TYPE_URLS.cluster, ["demand/x:1"]);
    expect(cache.snapshotFor(node("x"))?.type(TYPE_URLS.cluster).get("demand/x:1")).toBeUndefined();
    expect(notified).toBe(before + 1);
  });

  it("survives a resolver that throws: the name resolves to nothing, reported, and the rest is served", () => {
    const reported: string[] = [];
    const cache = new SnapshotCache({
      resolver: (_typeUrl, name) => {
        if (name === "boom") throw new Error("resolver bug");
        return set([cluster(name)]);
      },
      onInvalid: (layer, invalid) => reported.push(...invalid.map((i) => `${layer} ${i.name}: ${i.error}`)),
    });
    cache.retain(TYPE_URLS.cluster, ["boom", "fine"]);
    expect(cache.publish(set([cluster("ns/a:80")])).ok).toBe(true);
    expect(reported).toEqual(["on-demand boom: resolver bug"]);
    const clusters = cache.snapshotFor(node("x"))?.type(TYPE_URLS.cluster);
    expect([...(clusters?.entries.keys() ?? [])].sort()).toEqual(["fine", "ns/a:80"]);
  });

  it("counts interest only in the types given for on-demand resolution", () => {
    const resolved: string[] = [];
    const cache = new SnapshotCache({
      resolver: (_t, name) => {
        resolved.push(name);
        return undefined;
      },
      onDemandTypes: [TYPE_URLS.listener],
    });
    cache.publish(set([cluster("ns/a:80")]));
    cache.retain(TYPE_URLS.clusterLoadAssignment, ["ns/a:80"]);
    cache.retain(TYPE_URLS.listener, ["svc.ns:80"]);
    expect(resolved).toEqual(["svc.ns:80"]);
  });

  it("keeps why a subscribed name does not resolve, until it does or nobody asks for it", () => {
    let exists = false;
    const cache = new SnapshotCache({
      resolver: (_t, name) => {
        if (name === "not-mine") return undefined;
        return exists ? set([cluster(name)]) : { missing: `no Service for ${name}` };
      },
    });
    cache.publish(set([cluster("ns/a:80")]));
    cache.retain(TYPE_URLS.cluster, ["svc.ns:80", "not-mine"]);
    cache.retain(TYPE_URLS.cluster, ["svc.ns:80"]);
    expect(cache.onDemandProblems()).toEqual([
      { typeUrl: TYPE_URLS.cluster, name: "svc.ns:80", subscribers: 2, reason: "no Service for svc.ns:80" },
    ]);
    exists = true;
    cache.publish(set([cluster("ns/a:80")]));
    expect(cache.onDemandProblems()).toEqual([]);
    exists = false;
    cache.publish(set([cluster("ns/a:80")]));
    expect(cache.onDemandProblems()).toHaveLength(1);
    cache.release(TYPE_URLS.cluster, ["svc.ns:80"]);
    cache.release(TYPE_URLS.cluster, ["svc.ns:80"]);
    expect(cache.onDemandProblems()).toEqual([]);
  });

  it("resolves a name per client namespace (node metadata NAMESPACE): each namespace sees its own resources", () => {
    const cache = new SnapshotCache({
      // The scope goes into the content, as consumer routes would.
      resolver: (_t, name, scope) => set([cluster(name, scope === "" ? "10s" : "2s")]),
    });
    cache.publish(set([cluster("ns/a:80")]));
    const web = node("web-client", { NAMESPACE: "web" });
    const plain = node("plain-client");
    const odd = node("odd-client", { NAMESPACE: "Not A Namespace" });
    cache.retain(TYPE_URLS.cluster, ["svc.ns:80"], web);
    cache.retain(TYPE_URLS.cluster, ["svc.ns:80"], plain);
    const version = (n: NodeInfo) =>
      cache.snapshotFor(n)?.type(TYPE_URLS.cluster).entries.get("svc.ns:80")?.version;
    const other = new SnapshotCache();
    other.publish(set([cluster("svc.ns:80", "2s")]));
    expect(version(web)).toBe(
      other.snapshotFor(plain)?.type(TYPE_URLS.cluster).entries.get("svc.ns:80")?.version,
    );
    expect(version(plain)).toBeDefined();
    expect(version(plain)).not.toBe(version(web));
    // A value that is no namespace name is no namespace: the client is served as one without.
    expect(version(odd)).toBe(version(plain));
    // Each namespace's interest is its own: web's going leaves the other.
    cache.release(TYPE_URLS.cluster, ["svc.ns:80"], web);
    expect(version(web)).toBeUndefined();
    expect(version(plain)).toBeDefined();
  });
});
