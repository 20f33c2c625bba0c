/**
 * `npm run bench:status`: status convergence against the real control plane
 * (etcd + kube-apiserver built from source, test/support/control-plane), the
 * measure gateway-api-bench uses: N HTTPRoutes attached to one Gateway are
 * written as fast as the API server takes them, and the clock runs from the
 * last write's answer to the moment every route's status says Accepted=True
 * for its current generation. Then the same for an edit of every route (new
 * generation, so the status must be written again), and for the Gateway's
 * attachedRoutes reaching N.
 *
 * strait runs as `strait run --kubeconfig` (a child process, cluster mode,
 * leader election on), exactly as a user runs it. The watcher is this
 * process: a watch on HTTPRoutes from the API server, so the moment is taken
 * when the API server sends the last status, not by polling. Last, with
 * strait stopped, the floor: this process patches every route's status itself,
 * the API server's own pace for the writes strait has to make.
 *
 *   node bench/status-convergence.ts [--routes N] [--rounds R] [--writers W]
 *
 * Prints one JSON line per round and a summary. Needs the control-plane
 * fixtures (`make fixtures`).
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Applier, readManifests } from "../test/support/control-plane/apply.ts";
import { ControlPlane } from "../test/support/control-plane/control-plane.ts";
import { gatewayApiDir } from "../test/support/gateway-api-data.ts";
import { StraitProcess } from "../test/support/strait-process.ts";

const { values } = parseArgs({
  options: {
    routes: { type: "string", default: "1000" },
    rounds: { type: "string", default: "3" },
    writers: { type: "string", default: "16" },
    timeout: { type: "string", default: "300000" },
  },
});
const ROUTES = Number(values.routes);
const ROUNDS = Number(values.rounds);
const WRITERS = Number(values.writers);
const TIMEOUT_MS = Number(values.timeout);

const NS = "bench";
const GROUP = "/apis/gateway.networking.k8s.io/v1";
const ROUTES_PATH = `${GROUP}/namespaces/${NS}/httproutes`;

interface Condition {
  type: string;
  status: string;
  observedGeneration?: number;
}
interface RouteObject {
  metadata: { name: string; generation?: number; resourceVersion?: string };
  status?: { parents?: { conditions?: Condition[] }[] };
}

function route(name: string, round: number): Record<string, unknown> {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: NS },
    spec: {
      parentRefs: [{ name: "gw" }],
      hostnames: [`${name}.example.com`],
      rules: [
        {
          matches: [{ path: { type: "PathPrefix", value: `/round-${round}` } }],
          backendRefs: [{ name: "echo", port: 8080 }],
        },
      ],
    },
  };
}

function converged(r: RouteObject): boolean {
  const c = r.status?.parents?.[0]?.conditions?.find((x) => x.type === "Accepted");
  return c?.status === "True" && c.observedGeneration === r.metadata.generation;
}

/** Runs `work` over `items` with `limit` requests in flight. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** strait's warning and error lines, counted by message: failed or refused writes show here. */
function warnings(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const l of strait?.logs ?? []) {
    if (l.level >= 40) counts[l.msg] = (counts[l.msg] ?? 0) + 1;
  }
  return counts;
}

const plane = await ControlPlane.start({ controllerManager: false });
let strait: StraitProcess | undefined;
try {
  const applier = new Applier(plane.admin);
  const crdDir = join(gatewayApiDir(), "config/crd/standard");
  const crds = readdirSync(crdDir)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => readManifests(join(crdDir, f)))
    .filter((m) => m.kind === "CustomResourceDefinition");
  await applier.apply(crds);
  await applier.waitEstablished(crds);
  await applier.apply([
    { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: "strait" },
      spec: { controllerName: "strait.dev/gateway-controller" },
    },
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "gw", namespace: NS },
      spec: {
        gatewayClassName: "strait",
        listeners: [
          {
            name: "http",
            protocol: "HTTP",
            port: 8080,
            hostname: "*.example.com",
            allowedRoutes: { namespaces: { from: "Same" } },
          },
        ],
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "echo", namespace: NS },
      spec: { ports: [{ port: 8080 }] },
    },
  ]);

  strait = new StraitProcess([
    "run",
    "--kubeconfig",
    plane.adminKubeconfig,
    "--identity",
    "bench",
    "--namespace",
    NS,
    "--http-address",
    "127.0.0.1:0",
    "--xds-address",
    "127.0.0.1:0",
  ]);
  await strait.waitForLog((l) => l.msg === "kubernetes source synced", 120_000);

  // A watch on the routes, from the API server: the time of the last status is when it is sent.
  const latest = new Map<string, RouteObject>();
  let onChange: (() => void) | undefined;
  // The API server may end a watch (a slow consumer, a timeout): it is resumed from the last
  // resourceVersion seen, so no event is missed, and each restart is counted in the output.
  let resourceVersion = "";
  let stopped = false;
  let watchRestarts = 0;
  let watch: AbortController | undefined;
  const startWatch = async (): Promise<void> => {
    watch = await plane.admin.watch(
      ROUTES_PATH,
      { resourceVersion },
      (type: unknown, object: unknown) => {
        const o = object as RouteObject;
        if (o.metadata.resourceVersion !== undefined) resourceVersion = o.metadata.resourceVersion;
        if (type === "DELETED") latest.delete(o.metadata.name);
        else latest.set(o.metadata.name, o);
        onChange?.();
      },
      () => {
        if (stopped) return;
        watchRestarts++;
        void startWatch();
      },
      600_000,
    );
  };
  const list = await plane.admin.request("GET", ROUTES_PATH);
  if (!list.ok) throw new Error(list.message);
  resourceVersion = (list.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
  await startWatch();

  const allConverged = (timeoutMs: number) =>
    new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        const pending = [...latest.values()].filter((r) => !converged(r));
        const logs = strait?.logs.slice(-10).map((l) => JSON.stringify(l)) ?? [];
        reject(
          new Error(
            `routes did not converge in ${timeoutMs} ms: ${latest.size} seen, ${pending.length} not converged, ` +
              `e.g. ${JSON.stringify(pending[0] ?? null).slice(0, 1500)}\nstrait's last lines:\n${logs.join("\n")}`,
          ),
        );
      }, timeoutMs);
      const check = () => {
        if (latest.size === ROUTES && [...latest.values()].every(converged)) {
          clearTimeout(timer);
          onChange = undefined;
          resolve(performance.now());
        }
      };
      onChange = check;
      check();
    });

  async function attachedRoutes(): Promise<number | undefined> {
    const res = await plane.admin.request("GET", `${GROUP}/namespaces/${NS}/gateways/gw`);
    if (!res.ok) return undefined;
    const gw = res.body as { status?: { listeners?: { attachedRoutes?: number }[] } };
    return gw.status?.listeners?.[0]?.attachedRoutes;
  }

  const names = Array.from({ length: ROUTES }, (_, i) => `route-${String(i).padStart(5, "0")}`);
  const results: { round: number; kind: string; writeMs: number; convergedMs: number; gatewayMs: number }[] =
    [];
  for (let round = 0; round < ROUNDS; round++) {
    // Round 0 creates the routes, later rounds edit every one (a new generation each).
    const kind = round === 0 ? "create" : "edit";
    const waiting = allConverged(TIMEOUT_MS);
    const t0 = performance.now();
    await pool(names, WRITERS, async (name) => {
      const res =
        round === 0
          ? await plane.admin.request("POST", ROUTES_PATH, { body: route(name, round) })
          : await plane.admin.request("PATCH", `${ROUTES_PATH}/${name}`, {
              body: { spec: route(name, round).spec },
              contentType: "application/merge-patch+json",
            });
      if (!res.ok) throw new Error(`${name}: ${res.message}`);
    });
    const lastWrite = performance.now();
    const done = await waiting;
    let gatewayDone = done;
    while ((await attachedRoutes()) !== ROUTES) {
      await new Promise((r) => setTimeout(r, 10));
      gatewayDone = performance.now();
    }
    const r = {
      round,
      kind,
      writeMs: Math.round(lastWrite - t0),
      convergedMs: Math.round(Math.max(0, done - lastWrite)),
      gatewayMs: Math.round(Math.max(0, gatewayDone - lastWrite)),
    };
    results.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
  stopped = true;
  watch?.abort();

  // The floor: the API server's own pace for the same writes. strait stopped, this process
  // patches every route's status itself (one condition, new each time), at strait's 8 and at
  // 16 patches in flight; what strait needs for its patches cannot be less.
  await strait.stop();
  const floor: Record<string, number> = {};
  for (const inFlight of [8, 16]) {
    const t = performance.now();
    await pool(names, inFlight, async (name) => {
      const res = await plane.admin.request("PATCH", `${ROUTES_PATH}/${name}/status`, {
        body: {
          status: {
            parents: [
              {
                parentRef: { name: "gw" },
                controllerName: "strait.dev/gateway-controller",
                conditions: [
                  {
                    type: "Accepted",
                    status: "True",
                    reason: "Accepted",
                    message: `floor ${inFlight}`,
                    observedGeneration: 1,
                    lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
                  },
                ],
              },
            ],
          },
        },
        contentType: "application/merge-patch+json",
      });
      if (!res.ok) throw new Error(`${name} status: ${res.message}`);
    });
    floor[`statusPatchesMs@${inFlight}`] = Math.round(performance.now() - t);
  }
  process.stdout.write(
    `${JSON.stringify({
      routes: ROUTES,
      writers: WRITERS,
      watchRestarts,
      straitWarnings: warnings(),
      convergedMs: results.map((r) => r.convergedMs),
      floor,
      target: "≤ 500 ms after the last write (issue 15)",
    })}\n`,
  );
} finally {
  await strait?.stop();
  await plane.stop();
}
