/**
 * The agent's xDS source against strait's real ADS server (real gRPC, the
 * real codec), fed by the real pipeline: what reaches the agent core is the
 * node's policy, changes arrive as deltas, a state the agent cannot apply is
 * NACKed and the previous one kept, and a reconnect resumes without an empty
 * state in between. The agent core is stood in for by a sink that records
 * what it is given (the kernel side is test/policy.privileged.test.ts's).
 */
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { startXds, type XdsHarness } from "../../test/support/xds-server-harness.ts";
import { runPipeline } from "../controller/pipeline.ts";
import type { MeshService } from "../model/mesh-service.ts";
import { parseManifestText } from "../sources/manifests.ts";
import { ResourceStore } from "../sources/store.ts";
import { type AgentResourceSet, meshServiceResources } from "../xds/translate/agent-resources.ts";
import type { ApplyOutcome, DesiredState } from "./desired-state.ts";
import { XdsDesiredStateSource } from "./xds-source.ts";

const MANIFESTS = `
apiVersion: v1
kind: Node
metadata: { name: node-a }
status: { addresses: [{ type: InternalIP, address: 192.168.1.1 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: server, namespace: default, labels: { app: server } }
spec: { nodeName: node-a, containers: [{ name: c, image: x }] }
status: { podIP: 10.9.0.10 }
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: default, labels: { app: client } }
spec: { nodeName: node-a, containers: [{ name: c, image: x }] }
status: { podIP: 10.9.0.11 }
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: allow-client, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
    - fromEndpoints: [{ matchLabels: { app: client } }]
      toPorts: [{ ports: [{ port: "80", protocol: TCP }] }]
`;

function load(store: ResourceStore, text: string) {
  for (const o of parseManifestText("test.yaml", text).objects) store.upsert(o.kind, o.object);
}

/** `extra`: resources the pipeline of this branch does not make yet (the GAMMA mesh services). */
function publish(h: XdsHarness, store: ResourceStore, extra: AgentResourceSet = {}) {
  const out = runPipeline(store, { now: new Date(), addressPool: ["127.0.1.0/24"] });
  for (const [node, resources] of out.nodeResources) h.cache.setNodeResources(`node/${node}`, resources);
  h.cache.publish({ ...out.resources, ...extra });
  return out;
}

async function until<T>(what: string, probe: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the agent's xDS source", () => {
  let harness: XdsHarness | undefined;
  let source: XdsDesiredStateSource | undefined;
  afterEach(async () => {
    await source?.stop();
    await harness?.stop();
  });

  it("receives its node's state, then each change, NACKs what it cannot apply and keeps the last good state", async () => {
    harness = await startXds();
    const h = harness;
    const store = new ResourceStore();
    load(store, MANIFESTS);
    const out = publish(h, store);
    const states: DesiredState[] = [];
    let refuse = false;
    const rejected: unknown[] = [];
    const authSettings: { trustDomain?: string }[] = [];
    source = new XdsDesiredStateSource({
      address: h.address,
      node: "node-a",
      logger: pino({ level: "silent" }),
      onAuthSettings: (s) => authSettings.push(s),
    });
    await source.start(
      async (state): Promise<ApplyOutcome> => {
        if (refuse)
          return {
            ok: false,
            errors: [{ kind: "full", map: "strait_policy", message: "strait_policy is full" }],
          };
        states.push(state);
        return { ok: true };
      },
      (errors) => rejected.push(...errors),
    );
    const first = await until("the first state", () => states[0]);
    const node = out.policy.nodes.find((n) => n.node === "node-a");
    const byId = <T extends { id: number }>(list: readonly T[]) => [...list].sort((a, b) => a.id - b.id);
    expect(byId(first.endpoints).map((e) => [e.pod, e.id, e.identity, e.addresses])).toEqual(
      byId(node?.endpoints ?? []).map((e) => [e.pod, e.id, e.identity, e.addresses]),
    );
    const entries = (
      ps: readonly {
        endpointId: number;
        entries: readonly { remoteIdentity: unknown; protocol: string; port: unknown; verdict: string }[];
      }[],
    ) =>
      [...ps]
        .sort((a, b) => a.endpointId - b.endpointId)
        .map((p) => p.entries.map((e) => [e.remoteIdentity, e.protocol, e.port, e.verdict]));
    expect(entries(first.policies)).toEqual(entries(node?.policies ?? []));
    expect(first.ipcache).toContainEqual({
      prefix: "10.9.0.11/32",
      identity: first.endpoints.find((e) => e.pod === "default/client")?.identity,
    });
    expect(states).toHaveLength(1); // nothing applied before every type had answered
    // The controller's AuthSettings come with the state.
    expect(authSettings[0]).toEqual({ trustDomain: "strait.local" });

    // A change: port 80 becomes 8080.
    load(store, MANIFESTS.replace('port: "80"', 'port: "8080"'));
    publish(h, store);
    const second = await until("the changed state", () => states[1]);
    expect(second.policies[0]?.entries.map((e) => e.port)).toEqual([8080]);

    // The agent cannot apply the next one: NACK, and the server shows it.
    refuse = true;
    load(store, MANIFESTS.replace('port: "80"', 'port: "9090"'));
    publish(h, store);
    const nacked = await until(
      "a NACK",
      () =>
        h.server
          .clients()
          .flatMap((c) => c.types)
          .find((t) => t.lastNacked !== undefined)?.lastNacked,
    );
    expect(nacked.error).toMatch(/strait_policy is full/);
    expect(states).toHaveLength(2);

    // It can again: the next change applies.
    refuse = false;
    load(store, MANIFESTS.replace('port: "80"', 'port: "7070"'));
    publish(h, store);
    const third = await until("the state after the NACK", () => states[2]);
    expect(third.policies[0]?.entries.map((e) => e.port)).toEqual([7070]);
    expect(rejected).toEqual([]);

    // Mesh services (GAMMA) come with the state, and go with it.
    expect(first.meshServices).toEqual([]);
    const web: MeshService = {
      service: "default/web",
      address: "10.96.0.10",
      port: 80,
      protocol: "TCP",
      proxyPort: 15003,
    };
    publish(h, store, meshServiceResources([web]));
    const fourth = await until("the state with a mesh service", () => states[3]);
    expect(fourth.meshServices).toEqual([web]);
    expect(fourth.policies[0]?.entries.map((e) => e.port)).toEqual([7070]);
    publish(h, store);
    const fifth = await until("the state without it", () => states[4]);
    expect(fifth.meshServices).toEqual([]);
  });

  it("receives what its node's Envoy encrypts (--auth-encryption envoy) as encrypt entries, and the encrypted auth type", async () => {
    harness = await startXds();
    const h = harness;
    const store = new ResourceStore();
    load(
      store,
      `${MANIFESTS.replace("toPorts:", "authentication: { mode: required }\n      toPorts:").replace(
        "spec: { nodeName: node-a, containers: [{ name: c, image: x }] }\nstatus: { podIP: 10.9.0.10 }",
        "spec: { nodeName: node-b, containers: [{ name: c, image: x }] }\nstatus: { podIP: 10.9.0.10 }",
      )}
---
apiVersion: v1
kind: Node
metadata: { name: node-b }
status: { addresses: [{ type: InternalIP, address: 192.168.1.2 }] }
`,
    );
    const out = runPipeline(store, {
      now: new Date(),
      addressPool: ["127.0.1.0/24"],
      policy: { encryption: { tunnelPort: 15008, sdsDir: "/run/strait/envoy-sds" } },
    });
    for (const [node, resources] of out.nodeResources) h.cache.setNodeResources(`node/${node}`, resources);
    h.cache.publish(out.resources);
    const node = (name: string) => out.policy.nodes.find((n) => n.node === name);
    const outbound = node("node-a")?.encryption?.outbound ?? [];
    expect(outbound).toHaveLength(1); // client (node-a) → server (node-b), port 80

    const states: DesiredState[] = [];
    source = new XdsDesiredStateSource({
      address: h.address,
      node: "node-a",
      logger: pino({ level: "silent" }),
    });
    await source.start(
      async (state) => {
        states.push(state);
        return { ok: true };
      },
      () => undefined,
    );
    const first = await until("the first state", () => states[0]);
    expect(first.encrypt).toEqual(outbound);
    expect(first.encrypt[0]).toMatchObject({ port: 80, protocol: "TCP", proxyPort: 15004 });
    const client = first.endpoints.find((e) => e.pod === "default/client");
    expect(first.encrypt[0]?.localIdentity).toBe(client?.identity);

    // The server's node: its ingress entry requires the tunnel.
    const server = new XdsDesiredStateSource({
      address: h.address,
      node: "node-b",
      logger: pino({ level: "silent" }),
    });
    const serverStates: DesiredState[] = [];
    await server.start(
      async (state) => {
        serverStates.push(state);
        return { ok: true };
      },
      () => undefined,
    );
    try {
      const b = await until("node-b's state", () => serverStates[0]);
      expect(b.encrypt).toEqual([]);
      expect(b.policies.flatMap((p) => p.entries).map((e) => [e.remoteIdentity, e.port, e.auth])).toEqual([
        [client?.identity, 80, "mtls-spiffe-encrypted"],
      ]);
    } finally {
      await server.stop();
    }
  });

  it("reconnects after the server goes away, without an empty state in between", async () => {
    harness = await startXds();
    const store = new ResourceStore();
    load(store, MANIFESTS);
    publish(harness, store);
    const port = Number(harness.address.split(":")[1]);
    const states: DesiredState[] = [];
    source = new XdsDesiredStateSource({
      address: harness.address,
      node: "node-a",
      logger: pino({ level: "silent" }),
      retryMs: { initial: 50, max: 200 },
    });
    await source.start(
      async (state) => {
        states.push(state);
        return { ok: true };
      },
      () => undefined,
    );
    await until("the first state", () => states[0]);
    await harness.stop();

    // The same server address comes back (a restarted controller) with a changed policy.
    const { XdsServer, createXdsMetrics, DEFAULT_LIMITS } = await import("../xds/server/index.ts");
    const { SnapshotCache } = await import("../xds/cache/index.ts");
    const { Registry } = await import("prom-client");
    const cache = new SnapshotCache();
    const server = new XdsServer({
      cache,
      logger: pino({ level: "silent" }),
      metrics: createXdsMetrics(new Registry()),
      limits: DEFAULT_LIMITS,
    });
    await server.listen("127.0.0.1", port);
    harness = { ...harness, cache, server, stop: () => server.close() };
    load(store, MANIFESTS.replace('port: "80"', 'port: "8443"'));
    publish(harness, store);
    const after = await until("the state after reconnecting", () =>
      states.find((s) => s.policies[0]?.entries[0]?.port === 8443),
    );
    expect(after.endpoints).toHaveLength(2);
    expect(states.every((s) => s.endpoints.length === 2)).toBe(true);
    expect(source.counts.connects).toBeGreaterThanOrEqual(2);
  });
});
