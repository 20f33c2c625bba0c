/**
 * The test API server in a worker thread, holding the benchmark configuration
 * (bench/generate.ts), so the controller under measurement has the main
 * thread to itself. Answers the benchmark's commands over postMessage.
 */
import { parentPort } from "node:worker_threads";
import { KINDS } from "../src/resources/kinds.ts";
import { KubeApiServer } from "../test/support/kube-apiserver/server.ts";
import type { ApiObject } from "../test/support/kube-apiserver/storage.ts";
import { generate, ISSUE_SIZE, route } from "./generate.ts";

export type WorkerCommand =
  | { readonly cmd: "updateRoutes"; readonly count: number; readonly variant: number }
  | { readonly cmd: "expireRouteWatches" }
  | { readonly cmd: "counts" }
  | { readonly cmd: "close" };

export interface WorkerCounts {
  readonly patches: number;
  readonly patchErrors: number;
  /** Server-side applies of the Gateways' Services (strait's owned objects). */
  readonly serviceApplies: number;
  readonly routeLists: number;
}

const port = parentPort;
if (port === null) throw new Error("run as a worker");

const server = await KubeApiServer.start({ bookmarkIntervalMs: 60_000 });
const store = generate(ISSUE_SIZE);
let objects = 0;
for (const k of KINDS) {
  for (const obj of store.list(k.kind)) {
    const { resourceVersion: _rv, ...metadata } = obj.metadata;
    server.create({ ...(obj as unknown as ApiObject), metadata });
    objects++;
  }
}

// Counted incrementally: the benchmark polls often, and rescanning every request would slow the server.
let scanned = 0;
const tally = { patches: 0, patchErrors: 0, serviceApplies: 0, routeLists: 0 };
function counts(): WorkerCounts {
  for (; scanned < server.requests.length; scanned++) {
    const r = server.requests[scanned];
    if (r === undefined || r.status === 0) break; // still in flight
    if (r.method === "PATCH" && r.path.includes("/services/")) {
      if (r.status === 200 || r.status === 201) tally.serviceApplies++;
      else tally.patchErrors++;
    } else if (r.method === "PATCH") {
      if (r.status === 200) tally.patches++;
      else tally.patchErrors++;
    } else if (!r.watch && r.method === "GET" && r.path.endsWith("/httproutes")) tally.routeLists++;
  }
  return { ...tally };
}

port.on("message", async (message: WorkerCommand) => {
  if (message.cmd === "updateRoutes") {
    for (let i = 0; i < message.count; i++) {
      const r = route(i * 5, ISSUE_SIZE, message.variant);
      const { resourceVersion: _rv, generation: _g, ...metadata } = r.metadata;
      server.update({ ...(r as unknown as ApiObject), metadata });
    }
    port.postMessage({ done: message.cmd });
  } else if (message.cmd === "expireRouteWatches") {
    server.expireWatches("HTTPRoute");
    port.postMessage({ done: message.cmd });
  } else if (message.cmd === "counts") {
    port.postMessage({ done: message.cmd, counts: counts() });
  } else {
    await server.close();
    port.postMessage({ done: message.cmd });
    port.close();
  }
});
port.postMessage({ ready: true, kubeconfig: server.kubeconfig, objects });
