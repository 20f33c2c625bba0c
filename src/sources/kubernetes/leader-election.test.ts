import { afterEach, describe, expect, it } from "vitest";
import { captureLogger } from "../../../test/support/capture-logger.ts";
import { LEASE } from "../../../test/support/kube-apiserver/resources.ts";
import { KubeApiServer } from "../../../test/support/kube-apiserver/server.ts";
import { sleep, waitFor } from "../../../test/support/wait.ts";
import { KubeClient, loadKubeConfig } from "./kube-client.ts";
import { LeaderElector, type LeaseSpec } from "./leader-election.ts";

// Short durations so the test runs in seconds: lease 1 s, renew deadline 600 ms, retry 100 ms.
const TIMING = { leaseDurationMs: 1_000, renewDeadlineMs: 600, retryPeriodMs: 100 };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startServer(): Promise<KubeApiServer> {
  const server = await KubeApiServer.start();
  cleanups.push(() => server.close());
  return server;
}

function elector(server: KubeApiServer, identity: string): LeaderElector {
  const e = new LeaderElector({
    client: new KubeClient(loadKubeConfig(server.kubeconfig).config),
    namespace: "strait-system",
    name: "strait-controller",
    identity,
    logger: captureLogger().logger,
    ...TIMING,
  });
  cleanups.push(() => e.stop({ release: false }));
  return e;
}

function leaseSpec(server: KubeApiServer): LeaseSpec | undefined {
  return server.get("Lease", "strait-system", "strait-controller")?.spec as LeaseSpec | undefined;
}

/** Samples leadership every 5 ms and fails the test if two replicas ever lead at once. */
function watchForOverlap(electors: readonly LeaderElector[]): () => number {
  let overlaps = 0;
  const timer = setInterval(() => {
    if (electors.filter((e) => e.isLeader).length > 1) overlaps++;
  }, 5);
  cleanups.push(async () => clearInterval(timer));
  return () => overlaps;
}

describe("LeaderElector", () => {
  it("creates the Lease, holds it, and renews it (renewTime moves, acquireTime and transitions stay)", async () => {
    const server = await startServer();
    const a = elector(server, "replica-a");
    const changes: boolean[] = [];
    a.onChange((leading) => changes.push(leading));
    a.start();
    await waitFor(() => a.isLeader, "leadership");
    expect(changes).toEqual([true]);
    const first = leaseSpec(server);
    expect(first).toMatchObject({
      holderIdentity: "replica-a",
      leaseDurationSeconds: 1,
      leaseTransitions: 0,
    });
    expect(first?.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(server.requestsFor("leases", { method: "POST" })[0]?.status).toBe(201);

    await waitFor(() => leaseSpec(server)?.renewTime !== first?.renewTime, "a renewal");
    const renewed = leaseSpec(server);
    expect(renewed?.acquireTime).toBe(first?.acquireTime);
    expect(renewed?.leaseTransitions).toBe(0);
    // Every update carried the resourceVersion it read (optimistic concurrency).
    for (const put of server.requestsFor("leases", { method: "PUT" })) {
      expect((put.body as { metadata: { resourceVersion?: string } }).metadata.resourceVersion).toMatch(
        /^\d+$/,
      );
    }
  });

  it("lets exactly one of two replicas lead; when the leader dies, the other takes over once the lease expired", async () => {
    const server = await startServer();
    const a = elector(server, "replica-a");
    const b = elector(server, "replica-b");
    const overlaps = watchForOverlap([a, b]);
    a.start();
    await waitFor(() => a.isLeader, "a leads");
    b.start();
    await sleep(1_500); // longer than the lease: b must keep waiting while a renews
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    expect(b.holder).toBe("replica-a");

    const crashed = performance.now();
    await a.stop({ release: false }); // a crash: no release
    await waitFor(() => b.isLeader, "b takes over", 3_000);
    const tookMs = performance.now() - crashed;
    // Not before the lease expired as b observed it, and within the lease duration plus two retry periods.
    expect(tookMs).toBeGreaterThanOrEqual(TIMING.leaseDurationMs - 2 * TIMING.retryPeriodMs);
    expect(tookMs).toBeLessThan(TIMING.leaseDurationMs + 3 * TIMING.retryPeriodMs + 300);
    expect(leaseSpec(server)).toMatchObject({ holderIdentity: "replica-b", leaseTransitions: 1 });
    expect(overlaps()).toBe(0);
  });

  it("hands the Lease over at once on a graceful stop", async () => {
    const server = await startServer();
    const a = elector(server, "replica-a");
    const b = elector(server, "replica-b");
    a.start();
    await waitFor(() => a.isLeader, "a leads");
    b.start();
    await sleep(300);
    const stopped = performance.now();
    await a.stop();
    expect(a.isLeader).toBe(false);
    await waitFor(() => b.isLeader, "b takes over");
    expect(performance.now() - stopped).toBeLessThan(TIMING.leaseDurationMs);
  });

  it("stops leading within the renew deadline when it cannot renew, before anyone else may take over", async () => {
    const server = await startServer();
    const a = elector(server, "replica-a");
    const changes: boolean[] = [];
    a.onChange((leading) => changes.push(leading));
    a.start();
    await waitFor(() => a.isLeader, "a leads");
    server.failNext({ path: "/leases/", status: 500, times: 1_000 });
    const broken = performance.now();
    await waitFor(() => !a.isLeader, "a steps down");
    expect(performance.now() - broken).toBeLessThan(TIMING.leaseDurationMs);
    await waitFor(() => changes.length === 2, "the change event");
    expect(changes).toEqual([true, false]);

    server.clearFailures();
    await waitFor(() => a.isLeader, "a leads again");
  });

  it("steps down at once when the Lease shows another holder, and retries after a 409 conflict", async () => {
    const server = await startServer();
    const a = elector(server, "replica-a");
    server.failNext({ method: "PUT", path: "/leases/", status: 409 });
    a.start();
    await waitFor(() => a.isLeader, "a leads");
    await waitFor(
      () => server.requestsFor("leases", { method: "PUT" }).some((r) => r.status === 409),
      "the 409",
    );
    await waitFor(
      () => server.requestsFor("leases", { method: "PUT" }).some((r) => r.status === 200),
      "a renewal",
    );
    expect(a.isLeader).toBe(true);

    // Someone else writes the Lease (as a replica with a skewed view would).
    const lease = server.get("Lease", "strait-system", "strait-controller");
    if (lease === undefined) throw new Error("no lease");
    server.storage.update(
      LEASE,
      {
        ...lease,
        spec: {
          ...(lease.spec as object),
          holderIdentity: "intruder",
          renewTime: "2030-01-01T00:00:00.000000Z",
        },
      },
      "replace",
    );
    await waitFor(() => !a.isLeader, "a steps down", 1_000);
    expect(a.holder).toBe("intruder");
  });

  it("rejects timings where the lease could expire before the leader notices", async () => {
    const server = await startServer();
    const client = new KubeClient(loadKubeConfig(server.kubeconfig).config);
    const base = { client, namespace: "n", name: "l", identity: "i", logger: captureLogger().logger };
    expect(
      () =>
        new LeaderElector({ ...base, leaseDurationMs: 1_000, renewDeadlineMs: 1_000, retryPeriodMs: 100 }),
    ).toThrow(/renew deadline/);
    expect(
      () => new LeaderElector({ ...base, leaseDurationMs: 1_000, renewDeadlineMs: 500, retryPeriodMs: 500 }),
    ).toThrow(/retry period/);
  });
});
