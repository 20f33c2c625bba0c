/**
 * GAMMA through the pipeline and the xDS cache: the mesh services reach every
 * node's agent as strait.v1.MeshService (decoded back as the agent does), the
 * mesh listener every Kubernetes node's Envoy (and no client that announces
 * no node, such as standalone mode's managed Envoy); with no ClusterIP
 * Service there is neither.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MESH_LISTENER_NAME, MESH_PROXY_PORT } from "../model/mesh-service.ts";
import { parseManifestText } from "../sources/manifests.ts";
import { ResourceStore } from "../sources/store.ts";
import type { NodeInfo } from "../xds/cache/node.ts";
import { SnapshotCache } from "../xds/cache/snapshot-cache.ts";
import { STRAIT_TYPE_URLS, TYPE_URLS } from "../xds/proto/envoy-protos.ts";
import { decodeResource } from "../xds/proto/index.ts";
import { agentStateFrom } from "../xds/translate/agent-resources.ts";
import { forEveryNode, runPipeline, sharedResources } from "./pipeline.ts";

const GOLDEN = join(import.meta.dirname, "../../testdata/gateway");

function storeOf(files: readonly string[]): ResourceStore {
  const store = new ResourceStore();
  for (const f of files) {
    const set = parseManifestText(f, readFileSync(join(GOLDEN, f), "utf8"));
    expect(set.diagnostics).toEqual([]);
    for (const o of set.objects) store.upsert(o.kind, o.object);
  }
  return store;
}

const NODE_CLIENT = {
  id: "agent-n1",
  cluster: "strait",
  metadata: { "strait.dev/node": "n1" },
  userAgent: "strait-agent",
};

function served(files: readonly string[], client: NodeInfo = NODE_CLIENT) {
  const out = runPipeline(storeOf(files), { now: new Date(0), addressPool: ["127.0.1.0/24"] });
  const cache = new SnapshotCache();
  cache.publish(sharedResources(out), forEveryNode(out));
  const snapshot = cache.snapshotFor(client);
  if (snapshot === undefined) throw new Error("nothing published");
  const decoded = (typeUrl: string) =>
    new Map(
      [...snapshot.type(typeUrl).entries.values()].map((e) => [
        e.name,
        decodeResource(typeUrl, e.bytes) as Record<string, unknown>,
      ]),
    );
  return { out, decoded };
}

describe("mesh services and the mesh listener, served to every node", () => {
  it("serves each ClusterIP Service port to the agents and the mesh listener to the Envoys", () => {
    const { out, decoded } = served(["common.yaml", "mesh.yaml", "MeshConsumerRoute/input.yaml"]);
    const msvc = decoded(STRAIT_TYPE_URLS.meshService);
    expect(msvc.size).toBe(15);
    expect(msvc.get("10.96.10.11:80")).toEqual({
      service: "gateway-conformance-mesh/echo-v1",
      address: "10.96.10.11",
      port: 80,
      protocol: "TCP",
      proxy_port: MESH_PROXY_PORT,
    });
    // What the agent makes of them is the model's list.
    const state = agentStateFrom(new Map([[STRAIT_TYPE_URLS.meshService, msvc]]));
    expect(state.meshServices).toEqual(out.model.mesh.services);
    const listeners = decoded(TYPE_URLS.listener);
    expect(listeners.get(MESH_LISTENER_NAME)?.transparent).toBe(true);
    // The consumer route's table and its backend's cluster are served beside it.
    expect(
      decoded(TYPE_URLS.routeConfiguration).has(
        "strait/mesh/gateway-conformance-mesh/echo-v1:80/consumer/gateway-conformance-mesh-consumer",
      ),
    ).toBe(true);
    expect(decoded(TYPE_URLS.cluster).has("gateway-conformance-mesh/echo-v1:80")).toBe(true);
  });

  it("does not give the mesh listener to an Envoy that announces no node (it binds transparently, and no agent steers flows to it)", () => {
    const managed = { id: "strait-managed-envoy", cluster: "strait", metadata: {}, userAgent: "envoy" };
    const { decoded } = served(["common.yaml", "mesh.yaml", "MeshConsumerRoute/input.yaml"], managed);
    expect(decoded(TYPE_URLS.listener).has(MESH_LISTENER_NAME)).toBe(false);
    // The rest of the shared layer is the same for it.
    expect(decoded(TYPE_URLS.cluster).has("gateway-conformance-mesh/echo-v1:80")).toBe(true);
    // A node's Envoy with a layer of its own (its L7 listeners) gets it as well.
    const out = runPipeline(storeOf(["common.yaml", "mesh.yaml"]), {
      now: new Date(0),
      addressPool: ["127.0.1.0/24"],
    });
    const cache = new SnapshotCache();
    cache.setNodeResources("node/n1", { [TYPE_URLS.listener]: new Map() });
    cache.publish(sharedResources(out), forEveryNode(out));
    const own = cache.snapshotFor(NODE_CLIENT);
    expect(own?.type(TYPE_URLS.listener).entries.has(MESH_LISTENER_NAME)).toBe(true);
    expect(cache.snapshotFor(managed)?.type(TYPE_URLS.listener).entries.has(MESH_LISTENER_NAME)).toBe(false);
  });

  it("serves neither without a ClusterIP Service", () => {
    const { out, decoded } = served(["common.yaml", "backends.yaml"]);
    expect(out.model.mesh).toEqual({ services: [], chains: [] });
    expect(decoded(STRAIT_TYPE_URLS.meshService).size).toBe(0);
    expect(decoded(TYPE_URLS.listener).has(MESH_LISTENER_NAME)).toBe(false);
  });
});
