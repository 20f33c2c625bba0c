/**
 * `strait run --kubeconfig` (cluster mode) against the real control plane
 * (etcd + kube-apiserver from test/support/control-plane): the chart rendered
 * by the real helm and applied (server-side dry run, then for real), the
 * Gateway API v1.6.1 CRDs, the quickstart; strait runs as the chart's
 * ServiceAccount (a TokenRequest token, so the chart's ClusterRole and Role are
 * all it may do). Reflectors, status patches, the Gateway's Service by
 * server-side apply, leader election between two replicas, and a re-list after
 * a 410 when etcd's history was compacted behind a broken watch.
 */
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Applier, type Manifest, parseManifests, readManifests } from "./support/control-plane/apply.ts";
import { ControlPlane } from "./support/control-plane/control-plane.ts";
import { fixtureBinaries } from "./support/control-plane/fixtures.ts";
import { gatewayApiDir } from "./support/gateway-api-data.ts";
import { REPO, StraitProcess } from "./support/strait-process.ts";
import { waitFor } from "./support/wait.ts";

/**
 * Deadlines for a loaded 2-core machine: every wait polls its condition and gives up only after
 * two minutes (under a full parallel suite, a Go build and other helpers' suites, load 27, a
 * status once took over a minute), so a slow start is slow, not a failure.
 */
const DEADLINE_MS = 120_000;
const TEST_TIMEOUT_MS = 420_000;

const NAMESPACE = "strait-system";
const LEASE_FLAGS = [
  "--lease-duration",
  "2s",
  "--lease-renew-deadline",
  "1500ms",
  "--lease-retry-period",
  "200ms",
];

let plane: ControlPlane;
let applier: Applier;
let straitKubeconfig: string;
const replicas: StraitProcess[] = [];

function renderChart(): Manifest[] {
  const out = execFileSync(
    fixtureBinaries().helm,
    ["template", "strait", join(REPO, "charts/strait"), "--namespace", NAMESPACE],
    {
      encoding: "utf8",
    },
  );
  return parseManifests(out);
}

beforeAll(async () => {
  // Without the watch cache every watch is served by etcd, so compaction can expire a resourceVersion.
  plane = await ControlPlane.start({ controllerManager: false, watchCache: false });
  applier = new Applier(plane.admin);
  const crdDir = join(gatewayApiDir(), "config/crd/standard");
  const crds = readdirSync(crdDir)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => readManifests(join(crdDir, f)))
    .filter((m) => m.kind === "CustomResourceDefinition");
  await applier.apply(crds);
  await applier.waitEstablished(crds);
  await applier.apply([{ apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } }]);
  const chart = renderChart();
  await applier.apply(chart, { dryRun: true, namespace: NAMESPACE });
  await applier.apply(chart, { namespace: NAMESPACE });
  const quickstart = join(REPO, "examples/quickstart");
  await applier.apply(readManifests(join(quickstart, "gateway.yaml")));
  // The quickstart's endpoints are loopback addresses (its echo backends run on this machine); a real
  // API server refuses loopback EndpointSlice addresses, as it must, so here they are pod addresses.
  await applier.apply(
    readManifests(join(quickstart, "app.yaml")).map((m) =>
      m.kind === "EndpointSlice" ? JSON.parse(JSON.stringify(m).replaceAll('"127.0.2.', '"10.0.2.')) : m,
    ),
  );
  straitKubeconfig = await plane.kubeconfigForServiceAccount(NAMESPACE, "strait-controller");
}, 240_000);

afterAll(async () => {
  for (const r of replicas) await r.stop("SIGKILL");
  await plane?.stop();
});

async function startReplica(identity: string): Promise<{ proc: StraitProcess; base: string }> {
  const proc = new StraitProcess([
    "run",
    "--kubeconfig",
    straitKubeconfig,
    "--identity",
    identity,
    "--namespace",
    NAMESPACE,
    "--http-address",
    "127.0.0.1:0",
    "--xds-address",
    "127.0.0.1:0",
    "--log-level",
    "debug",
    ...LEASE_FLAGS,
  ]);
  replicas.push(proc);
  const line = await proc.waitForLog((l) => l.msg.startsWith("operations server listening"), DEADLINE_MS);
  return { proc, base: `http://${String(line.address)}` };
}

type Condition = { type: string; status: string; reason: string; observedGeneration?: number };

async function getObject(path: string): Promise<Record<string, unknown> | undefined> {
  const res = await plane.admin.request("GET", path);
  return res.ok ? (res.body as Record<string, unknown>) : undefined;
}

const ROUTE = "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/shop";
async function routeConditions(): Promise<Condition[]> {
  const route = (await getObject(ROUTE)) as
    | { status?: { parents?: { conditions?: Condition[] }[] } }
    | undefined;
  return route?.status?.parents?.[0]?.conditions ?? [];
}

async function eventually(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = DEADLINE_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function holder(): Promise<string | undefined> {
  const lease = (await getObject(
    `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/strait-controller`,
  )) as { spec?: { holderIdentity?: string } } | undefined;
  return lease?.spec?.holderIdentity;
}

/** Points the quickstart route's second rule at another Service (an edit by a user, through the API). */
async function retarget(backend: string): Promise<void> {
  const route = (await getObject(ROUTE)) as { spec: { rules: { backendRefs: { name: string }[] }[] } };
  const rules = route.spec.rules.map((r, i) =>
    i === 1 ? { ...r, backendRefs: r.backendRefs.map((b) => ({ ...b, name: backend })) } : r,
  );
  const res = await plane.admin.request("PATCH", ROUTE, {
    contentType: "application/merge-patch+json",
    body: { spec: { rules } },
  });
  if (!res.ok) throw new Error(res.message);
}

describe("strait run --kubeconfig against a real kube-apiserver, as the chart's service account", () => {
  it("the rendered chart is accepted by the API server", async () => {
    const role = await getObject("/apis/rbac.authorization.k8s.io/v1/clusterroles/strait-controller");
    expect(role).toBeDefined();
    expect(
      await getObject(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments/strait-controller`),
    ).toBeDefined();
  });

  it(
    "two replicas sync; the leader patches statuses and applies the Gateway's Service; the other takes over after a crash",
    async () => {
      const [a, b] = await Promise.all([startReplica("replica-a"), startReplica("replica-b")]);
      await eventually("the HTTPRoute status", async () =>
        (await routeConditions()).some((c) => c.type === "Accepted" && c.status === "True"),
      );
      for (const r of [a, b]) {
        await waitFor(
          () => r.proc.logs.some((l) => l.msg === "kubernetes source synced"),
          "the sync",
          DEADLINE_MS,
        );
      }
      const synced = a.proc.logs.find((l) => l.msg === "kubernetes source synced");
      // No Cilium CRDs in this cluster: those kinds are unserved, not errors.
      expect(synced?.unserved).toEqual(["CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"]);
      // Nothing was forbidden: the chart's RBAC covers every request strait made.
      for (const r of [a, b]) {
        const forbidden = r.proc.logs.filter((l) => JSON.stringify(l).includes("forbidden"));
        expect(forbidden).toEqual([]);
      }

      const gatewayClass = (await getObject("/apis/gateway.networking.k8s.io/v1/gatewayclasses/strait")) as {
        status?: { conditions?: Condition[] };
      };
      expect(gatewayClass.status?.conditions?.find((c) => c.type === "Accepted")?.status).toBe("True");
      const gateway = (await getObject(
        "/apis/gateway.networking.k8s.io/v1/namespaces/infra/gateways/edge",
      )) as {
        metadata: { uid: string };
        status?: { conditions?: Condition[] };
      };
      expect(gateway.status?.conditions?.find((c) => c.type === "Accepted")?.status).toBe("True");

      // The Gateway's Service, server-side applied by the leader and owned by the Gateway.
      await eventually(
        "the Gateway's Service",
        async () => (await getObject("/api/v1/namespaces/infra/services/edge-strait")) !== undefined,
      );
      const service = (await getObject("/api/v1/namespaces/infra/services/edge-strait")) as {
        metadata: {
          labels: Record<string, string>;
          ownerReferences: unknown[];
          managedFields: { manager: string; operation: string }[];
        };
        spec: { type: string; clusterIP: string };
      };
      expect(service.metadata.labels).toMatchObject({ "app.kubernetes.io/managed-by": "strait" });
      expect(service.metadata.ownerReferences).toEqual([
        expect.objectContaining({
          kind: "Gateway",
          name: "edge",
          uid: gateway.metadata.uid,
          controller: true,
        }),
      ]);
      expect(
        service.metadata.managedFields.filter((f) => f.manager === "strait").map((f) => f.operation),
      ).toEqual(["Apply"]);
      expect(service.spec.clusterIP).toMatch(/^10\.96\./); // allocated by the real server

      const leaderName = await holder();
      expect(["replica-a", "replica-b"]).toContain(leaderName);
      const [leader, follower] = leaderName === "replica-a" ? [a, b] : [b, a];
      const followerName = leaderName === "replica-a" ? "replica-b" : "replica-a";

      await leader.proc.stop("SIGKILL");
      const killed = performance.now();
      await retarget("gone");
      await eventually(
        "the follower takes the Lease",
        async () => (await holder()) === followerName,
        DEADLINE_MS,
      );
      // Lease duration (2 s) + retry period with jitter (≤ 440 ms) + 3 s of scheduling on a loaded machine.
      expect(performance.now() - killed).toBeLessThan(2_000 + 440 + 3_000);
      await eventually("the status written by the new leader", async () =>
        (await routeConditions()).some(
          (c) => c.type === "ResolvedRefs" && c.status === "False" && c.reason === "BackendNotFound",
        ),
      );
      expect(follower.proc.logs.some((l) => l.msg === "became leader: writing statuses")).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "re-lists after a 410: etcd compacted past the watch's resourceVersion while the API server was down",
    async () => {
      const { proc } = await startReplica("replica-c");
      await waitFor(
        () => proc.logs.some((l) => l.msg === "kubernetes source synced"),
        "the sync",
        DEADLINE_MS,
      );
      // Leases renew every 200 ms, so etcd's revision moves past the quiet kinds' resourceVersions.
      await new Promise((r) => setTimeout(r, 1_000));
      await plane.restartApiServer({
        whileDown: async () => {
          await plane.compactEtcd();
        },
      });
      await waitFor(
        () => proc.logs.some((l) => l.msg === "watch cannot resume; re-listing" && l.reason === "expired"),
        "a re-list after 410",
        30_000,
      );
      // The source still follows changes after the re-list.
      await retarget("shop-v2-missing");
      await retarget("gone-again");
      await eventually("a status after the re-list", async () => {
        const route = (await getObject(ROUTE)) as {
          metadata: { generation: number };
          status?: { parents?: { conditions?: Condition[] }[] };
        };
        return (route.status?.parents?.[0]?.conditions ?? []).some(
          (c) => c.type === "ResolvedRefs" && c.observedGeneration === route.metadata.generation,
        );
      });
    },
    TEST_TIMEOUT_MS,
  );
});
