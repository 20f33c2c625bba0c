/**
 * `npm run bench:kube`: cluster mode against the wire-level test API server
 * holding the Gateway API issue's configuration (bench/generate.ts: 100
 * Gateways, 5,000 HTTPRoutes, 5,000 Services and EndpointSlices). The server
 * runs in a worker thread; the controller (`startController`, as `strait run
 * --kubeconfig` does) on the main thread. Measures: time to ready (paged lists
 * of every kind + the first reconcile), time until every status is patched,
 * the watch → reconcile → patch round for 1,000 route edits, a re-list of all
 * routes after 410 Gone, and the heap. Prints JSON.
 */
import { Worker } from "node:worker_threads";
import { pino } from "pino";
import { RUN_SETTINGS, resolveSettings } from "../src/controller/config.ts";
import { startController } from "../src/controller/start.ts";
import type { WorkerCommand, WorkerCounts } from "./kube-apiserver-worker.ts";

const gc = (globalThis as { gc?: () => void }).gc;
const heapMiB = () => Math.round(process.memoryUsage().heapUsed / 1024 / 1024);

const worker = new Worker(new URL("./kube-apiserver-worker.ts", import.meta.url));
const started = await new Promise<{ kubeconfig: string; objects: number }>((resolve) =>
  worker.once("message", resolve),
);

function send(message: WorkerCommand): Promise<{ counts?: WorkerCounts }> {
  return new Promise((resolve) => {
    worker.once("message", resolve);
    worker.postMessage(message);
  });
}

async function until(condition: () => Promise<boolean> | boolean, timeoutMs = 120_000): Promise<number> {
  const t = performance.now();
  while (!(await condition())) {
    if (performance.now() - t > timeoutMs) throw new Error("benchmark step timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - t;
}

const counts = async () => (await send({ cmd: "counts" })).counts as WorkerCounts;

gc?.();
const baseHeap = heapMiB();
const settings = resolveSettings(
  RUN_SETTINGS,
  {
    kubeconfig: started.kubeconfig,
    "http-address": "127.0.0.1:0",
    // Loopback: plaintext xDS is allowed there, and the benchmark does not measure xDS.
    "xds-address": "127.0.0.1:0",
    identity: "bench",
    "address-pool": ["10.200.0.0/16"],
  },
  {},
  undefined,
);
const t0 = performance.now();
const running = await startController(settings, pino({ level: "silent" }));
await until(() => running.controller.notReadyReason() === undefined);
const readyMs = performance.now() - t0;

// Every Gateway, route and the GatewayClass get a status; wait until the count stops growing.
const statuses = running.pipeline.latest?.statuses.length ?? 0;
const ownedObjects = running.pipeline.latest?.ownedObjects.length ?? 0;
await until(async () => (await counts()).serviceApplies >= ownedObjects);
const allServicesAppliedMs = performance.now() - t0;
await until(async () => (await counts()).patches >= statuses);
const allPatchedMs = performance.now() - t0;
gc?.();
const heapAfterSync = heapMiB();

// 1,000 route edits (a new generation each): watch events → reconciles → 1,000 new statuses patched.
const before = await counts();
const t1 = performance.now();
await send({ cmd: "updateRoutes", count: 1000, variant: 1 });
await until(async () => (await counts()).patches >= before.patches + 1000);
const editRoundMs = performance.now() - t1;
// Route edits change no Gateway's Service: none may be applied again.
const serviceAppliesDuringEdits = (await counts()).serviceApplies - before.serviceApplies;

// 410 Gone on the route watch: a re-list of all 5,000 routes, then a new watch.
const listsBefore = (await counts()).routeLists;
const t2 = performance.now();
await send({ cmd: "expireRouteWatches" });
await until(async () => (await counts()).routeLists > listsBefore);
const relistStartedMs = performance.now() - t2;
const afterRelist = await counts();

await running.stop();
await send({ cmd: "close" });
await worker.terminate();

console.log(
  JSON.stringify(
    {
      objectsInServer: started.objects,
      statuses,
      readyMs: Math.round(readyMs),
      allStatusesPatchedMs: Math.round(allPatchedMs),
      gatewayServices: ownedObjects,
      allGatewayServicesAppliedMs: Math.round(allServicesAppliedMs),
      serviceAppliesDuringRouteEdits: serviceAppliesDuringEdits,
      thousandRouteEditsPatchedMs: Math.round(editRoundMs),
      relistRequestedAfter410Ms: Math.round(relistStartedMs),
      patchErrors: afterRelist.patchErrors,
      heapMiB: { beforeStart: baseHeap, afterSyncAndStatuses: heapAfterSync },
    },
    null,
    2,
  ),
);
