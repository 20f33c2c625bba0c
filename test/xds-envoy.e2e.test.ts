/**
 * strait's xDS server proven against a real Envoy 1.40, in both protocol
 * variants: first sync, a change reaching Envoy, make-before-break under
 * steady load while 1,000 edits (new clusters behind loaded routes, endpoint
 * changes, routes created and deleted) apply, and a controller restart while
 * Envoy serves.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envoyResources, sideBySide } from "../src/cli/commands/proxy-config.ts";
import { GatewayLab } from "./support/gateway-lab.ts";

const ROUTES = 20;
const LOADED = Array.from({ length: ROUTES }, (_, i) => i);

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Envoy's counters of listener and cluster changes: they move only when strait sends something different. */
async function changeCounters(lab: GatewayLab): Promise<Record<string, number>> {
  const stats = await lab.envoy?.admin().stats();
  const names = [
    "listener_manager.listener_added",
    "listener_manager.listener_modified",
    "listener_manager.listener_removed",
    "cluster_manager.cluster_added",
    "cluster_manager.cluster_modified",
    "cluster_manager.cluster_removed",
  ];
  return Object.fromEntries(names.map((n) => [n, stats?.get(n) ?? -1]));
}

/** Envoy's own dump compared with what strait serves its node: every resource not SYNCED, as text. */
async function notSynced(lab: GatewayLab, nodeId: string): Promise<string[]> {
  const served = (await (
    await fetch(`http://${lab.opsAddress}/api/v1/xds/config?node=${nodeId}`)
  ).json()) as {
    resources: Parameters<typeof sideBySide>[0];
  };
  const dump = await lab.envoy?.admin().configDump();
  return sideBySide(served.resources, envoyResources(dump ?? { configs: [] }), [
    "listeners",
    "routes",
    "clusters",
    "endpoints",
  ])
    .filter((r) => r.state !== "SYNCED")
    .map((r) => `${r.kind} ${r.name} ${r.state} strait=${r.straitVersion} envoy=${r.envoyVersion}`);
}

async function envoySynced(lab: GatewayLab, nodeId: string): Promise<true | undefined> {
  const res = await fetch(`http://${lab.opsAddress}/api/v1/xds/clients`);
  const { clients } = (await res.json()) as {
    clients: {
      node: { id: string };
      types: { type: string; lastSent?: { nonce: string }; lastAcked?: { nonce: string } }[];
    }[];
  };
  const mine = clients.find((c) => c.node.id === nodeId);
  if (mine === undefined || mine.types.length === 0) return undefined;
  return mine.types.every((t) => t.lastSent === undefined || t.lastAcked?.nonce === t.lastSent.nonce)
    ? true
    : undefined;
}

describe.each(["delta", "sotw"] as const)("xDS %s with a real Envoy", (api) => {
  let lab: GatewayLab;
  const nodeId = `lab-envoy-${api}`;

  beforeAll(async () => {
    lab = await GatewayLab.create(8);
    for (const i of LOADED) lab.writeRoute(i, [i, i + 1]);
    await lab.startStrait();
    await lab.startEnvoy(api);
  }, 120_000);
  afterAll(async () => {
    await lab?.close();
  });

  it("first sync: every route answers from its backends", async () => {
    for (const i of LOADED) {
      const body = await until(`route ${i}`, async () => {
        const r = await lab.get(i);
        return r.status === 200 ? (JSON.parse(r.body) as { backend: string }) : undefined;
      });
      expect([`b${i % 8}`, `b${(i + 1) % 8}`]).toContain(body.backend);
    }
  }, 120_000);

  it("a manifest edit reaches Envoy", async () => {
    const written = Date.now();
    lab.writeRoute(0, [0, 1], { header: "edited" });
    await until("the edited route", async () =>
      (await lab.get(0)).headers["x-lab"] === "edited" ? true : undefined,
    );
    console.log(`xDS ${api}: manifest write → Envoy serving the edit: ${Date.now() - written} ms`);
  }, 60_000);

  it("make before break: zero failed requests on loaded routes while 1,000 edits apply", async () => {
    let done!: () => void;
    const stop = new Promise<void>((r) => {
      done = r;
    });
    const load = lab.load(LOADED, 200, stop);
    for (let k = 0; k < 1000; k++) {
      const i = k % ROUTES;
      switch (k % 4) {
        case 0: // a new Service (a new cluster) behind a loaded route
          lab.writeRoute(i, [k, k + 3], { newService: true });
          break;
        case 1: // its endpoints change
          lab.writeRoute(i, [k + 5]);
          break;
        case 2: // a filter changes on a loaded route
          lab.writeRoute(i, [k + 2, k + 4], { header: `v${k}` });
          break;
        default: // routes nobody sends to come and go
          if ((k >> 2) % 2 === 0) lab.writeRoute(100 + (k % 40), [k]);
          else lab.deleteRoute(100 + ((k - 4) % 40));
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await until("Envoy in sync after the edits", () => envoySynced(lab, nodeId), 60_000);
    await new Promise((r) => setTimeout(r, 1000));
    done();
    // Envoy runs exactly what strait serves: no resource lost or left behind in the churn.
    expect(await notSynced(lab, nodeId)).toEqual([]);
    const result = await load;
    console.log(`xDS ${api}: make-before-break load ${JSON.stringify(result)}`);
    expect(result.sent).toBeGreaterThan(1000);
    expect(result.non2xx).toEqual({});
    expect(result.errors).toEqual({});
    expect(result.ok).toBe(result.sent);
  }, 300_000);

  it("controller restart while Envoy serves: zero failed requests, nothing pushed again", async () => {
    await until("Envoy in sync", () => envoySynced(lab, nodeId), 60_000);
    expect(await notSynced(lab, nodeId)).toEqual([]);
    const before = await changeCounters(lab);
    let done!: () => void;
    const stop = new Promise<void>((r) => {
      done = r;
    });
    const load = lab.load(LOADED, 200, stop);
    await lab.stopStrait();
    await new Promise((r) => setTimeout(r, 1500));
    await lab.startStrait();
    await until("Envoy reconnected and in sync", () => envoySynced(lab, nodeId), 60_000);
    await new Promise((r) => setTimeout(r, 1000));
    done();
    const result = await load;
    expect(result.non2xx).toEqual({});
    expect(result.errors).toEqual({});
    expect(result.ok).toBe(result.sent);
    // Same configuration computed again: Envoy added, changed and removed nothing.
    expect(await changeCounters(lab)).toEqual(before);
  }, 180_000);
});
