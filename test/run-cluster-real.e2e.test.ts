/**
 * `strait run --kubeconfig` (cluster mode) against the real control plane
 * (etcd + kube-apiserver from test/support/control-plane): the chart rendered
 * by the real helm and applied (server-side dry run, then for real), the
 * Gateway API v1.6.1 CRDs, the quickstart; strait runs as the chart's
 * ServiceAccount (a TokenRequest token, so the chart's ClusterRole and Role are
 * all it may do). Reflectors, status patches, the Gateway's Service by
 * server-side apply, leader election between two replicas, a re-list after
 * a 410 when etcd's history was compacted behind a broken watch, and the
 * security identities recorded as CiliumIdentity objects (the chart's CRD)
 * and read back by a restarted controller.
 */
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTH_PROVIDER_VALUES, authProviderSets } from "./support/chart-auth-values.ts";
import { Applier, type Manifest, parseManifests, readManifests } from "./support/control-plane/apply.ts";
import { ControlPlane } from "./support/control-plane/control-plane.ts";
import { fixtureBinaries } from "./support/control-plane/fixtures.ts";
import { gatewayApiDir } from "./support/gateway-api-data.ts";
import { REPO, StraitProcess } from "./support/strait-process.ts";
import { waitFor } from "./support/wait.ts";

const NAMESPACE = "strait-system";
// Long enough that a leader on a loaded 2-core machine keeps its Lease, short enough that a
// take-over is seen within seconds.
const LEASE_FLAGS = [
  "--lease-duration",
  "4s",
  "--lease-renew-deadline",
  "3s",
  "--lease-retry-period",
  "250ms",
];

/** Deadline of every wait on strait and the API server: generous, the machine's two cores are shared. */
const LOADED_MS = 120_000;

let plane: ControlPlane;
let applier: Applier;
let straitKubeconfig: string;
const replicas: StraitProcess[] = [];

function renderChart(sets: readonly string[] = []): Manifest[] {
  const out = execFileSync(
    fixtureBinaries().helm,
    ["template", "strait", join(REPO, "charts/strait"), "--namespace", NAMESPACE, ...sets],
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
  // The chart's own CRDs (crds/: the CiliumIdentity kind the leader records identities in).
  const chartCrds = readdirSync(join(REPO, "charts/strait/crds")).flatMap((f) =>
    readManifests(join(REPO, "charts/strait/crds", f)),
  );
  crds.push(...chartCrds);
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
  const line = await proc.waitForLog((l) => l.msg.startsWith("operations server listening"), LOADED_MS);
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

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = LOADED_MS): Promise<void> {
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

  it("the chart rendered with each auth.provider passes the API server's server-side dry run", async () => {
    for (const provider of Object.keys(AUTH_PROVIDER_VALUES)) {
      await applier.apply(renderChart(authProviderSets(provider)), { dryRun: true, namespace: NAMESPACE });
    }
    // builtin-ca without a Secret named: the chart generates the CA root Secret (kubernetes.io/tls).
    await applier.apply(
      renderChart([
        "--set",
        "auth.provider=builtin-ca",
        "--set",
        "auth.builtinCa.nodeTokens.node-a=0123456789abcdef0123",
      ]),
      { dryRun: true, namespace: NAMESPACE },
    );
  });

  it("the chart keeps an existing generated CA root: rendering against the cluster (lookup, as an upgrade does) gives the Secret's own data back", async () => {
    const sets = [
      "--set",
      "auth.provider=builtin-ca",
      "--set",
      "auth.builtinCa.nodeTokens.node-a=0123456789abcdef0123",
    ];
    const first = renderChart(sets).find(
      (m) => m.kind === "Secret" && m.metadata.name === "strait-builtin-ca",
    ) as (Manifest & { data: Record<string, string> }) | undefined;
    expect(first?.data["tls.key"]).toBeTruthy();
    await applier.apply([first as Manifest], { namespace: NAMESPACE });
    try {
      const out = execFileSync(
        fixtureBinaries().helm,
        [
          "template",
          "strait",
          join(REPO, "charts/strait"),
          "--namespace",
          NAMESPACE,
          "--dry-run=server",
          "--kubeconfig",
          plane.adminKubeconfig,
          ...sets,
        ],
        { encoding: "utf8" },
      );
      const again = parseManifests(out).find(
        (m) => m.kind === "Secret" && m.metadata.name === "strait-builtin-ca",
      ) as (Manifest & { data: Record<string, string> }) | undefined;
      expect(again?.data).toEqual(first?.data);
      // Without the cluster (plain helm template) a new root is made each time.
      expect(
        (
          renderChart(sets).find((m) => m.kind === "Secret" && m.metadata.name === "strait-builtin-ca") as
            | (Manifest & { data: Record<string, string> })
            | undefined
        )?.data["tls.key"],
      ).not.toBe(first?.data["tls.key"]);
    } finally {
      await plane.admin.request("DELETE", `/api/v1/namespaces/${NAMESPACE}/secrets/strait-builtin-ca`);
    }
  });

  it("two replicas sync; the leader patches statuses and applies the Gateway's Service; the other takes over after a crash", async () => {
    const [a, b] = await Promise.all([startReplica("replica-a"), startReplica("replica-b")]);
    // Generous: two replicas start, list every kind and elect on a machine other tests load too.
    await eventually(
      "the HTTPRoute status",
      async () => (await routeConditions()).some((c) => c.type === "Accepted" && c.status === "True"),
      LOADED_MS,
    );
    for (const r of [a, b]) {
      await waitFor(
        () => r.proc.logs.some((l) => l.msg === "kubernetes source synced"),
        "the sync",
        LOADED_MS,
      );
    }
    const synced = a.proc.logs.find((l) => l.msg === "kubernetes source synced");
    // No Cilium policy CRDs in this cluster (only the chart's CiliumIdentity): unserved, not errors.
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
      expect.objectContaining({ kind: "Gateway", name: "edge", uid: gateway.metadata.uid, controller: true }),
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
    await eventually("the follower takes the Lease", async () => (await holder()) === followerName);
    // The lease duration (4 s) plus a retry period and the scheduling delays of a loaded machine.
    expect(performance.now() - killed).toBeLessThan(12_000);
    await eventually("the status written by the new leader", async () =>
      (await routeConditions()).some(
        (c) => c.type === "ResolvedRefs" && c.status === "False" && c.reason === "BackendNotFound",
      ),
    );
    expect(follower.proc.logs.some((l) => l.msg === "became leader: writing statuses")).toBe(true);
  }, 420_000);

  it("re-lists after a 410: etcd compacted past the watch's resourceVersion while the API server was down", async () => {
    const { proc } = await startReplica("replica-c");
    await waitFor(() => proc.logs.some((l) => l.msg === "kubernetes source synced"), "the sync", LOADED_MS);
    // Leases renew every 250 ms, so etcd's revision moves past the quiet kinds' resourceVersions.
    const synced = await plane.etcdRevision();
    await eventually("etcd's revision moving on", async () => (await plane.etcdRevision()) > synced + 2);
    await plane.restartApiServer({
      whileDown: async () => {
        await plane.compactEtcd();
      },
    });
    await waitFor(
      () => proc.logs.some((l) => l.msg === "watch cannot resume; re-listing" && l.reason === "expired"),
      "a re-list after 410",
      LOADED_MS,
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
  }, 420_000);

  it("records the pods' identities as CiliumIdentity objects; a restarted controller numbers them alike", async () => {
    const ns = "identities";
    await applier.apply([
      { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace: ns } },
      { apiVersion: "v1", kind: "Node", metadata: { name: "node-id-1" } },
      ...["web", "api"].map((app) => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: `${app}-1`, namespace: ns, labels: { app, "pod-template-hash": "abc" } },
        spec: { nodeName: "node-id-1", containers: [{ name: "c", image: "example.invalid/none" }] },
      })),
    ]);
    for (const [i, app] of ["web", "api"].entries()) {
      const ip = `10.0.9.${10 + i}`;
      const res = await plane.admin.request("PATCH", `/api/v1/namespaces/${ns}/pods/${app}-1/status`, {
        contentType: "application/merge-patch+json",
        body: { status: { podIP: ip, podIPs: [{ ip }] } },
      });
      if (!res.ok) throw new Error(res.message);
    }
    type Identity = {
      metadata: { name: string; labels?: Record<string, string>; managedFields?: { manager: string }[] };
      "security-labels": Record<string, string>;
    };
    const recorded = async (): Promise<Identity[]> => {
      const list = (await getObject("/apis/cilium.io/v2/ciliumidentities")) as
        | { items?: Identity[] }
        | undefined;
      return (list?.items ?? []).filter(
        (i) => i["security-labels"]["k8s:io.kubernetes.pod.namespace"] === ns,
      );
    };
    const numbering = async (base: string): Promise<Record<string, number>> => {
      const body = (await (await fetch(`${base}/api/v1/identities`)).json()) as {
        endpoints: { pod: string; identity: number }[];
      };
      return Object.fromEntries(
        body.endpoints.filter((e) => e.pod.startsWith(`${ns}/`)).map((e) => [e.pod, e.identity]),
      );
    };

    const first = await startReplica("replica-id-1");
    await eventually("two CiliumIdentity objects", async () => (await recorded()).length === 2, LOADED_MS);
    const objects = await recorded();
    const byApp: Record<string, Identity | undefined> = Object.fromEntries(
      objects.map((o) => [o["security-labels"]["k8s:app"] ?? "", o]),
    );
    // pod-template-hash is not identity-relevant (Cilium's label filter): not in the identity.
    expect(byApp.web?.["security-labels"]).not.toHaveProperty("k8s:pod-template-hash");
    expect(byApp.web?.metadata.labels).toMatchObject({ app: "web", "io.kubernetes.pod.namespace": ns });
    expect(byApp.web?.metadata.managedFields?.map((f) => f.manager)).toEqual(["strait"]);
    await eventually(
      "the first controller's numbering",
      async () => Object.keys(await numbering(first.base)).length === 2,
      LOADED_MS,
    );
    const numbers = await numbering(first.base);
    expect(numbers).toEqual({
      [`${ns}/web-1`]: Number(byApp.web?.metadata.name),
      [`${ns}/api-1`]: Number(byApp.api?.metadata.name),
    });
    const forbidden = first.proc.logs.filter((l) => JSON.stringify(l).includes("forbidden"));
    expect(forbidden).toEqual([]);
    await first.proc.stop("SIGTERM");

    const second = await startReplica("replica-id-2");
    await eventually(
      "the restarted controller's numbering",
      async () => Object.keys(await numbering(second.base)).length === 2,
      LOADED_MS,
    );
    expect(await numbering(second.base)).toEqual(numbers);
    expect((await recorded()).map((o) => o.metadata.name).sort()).toEqual(
      objects.map((o) => o.metadata.name).sort(),
    );
  }, 240_000);
});
