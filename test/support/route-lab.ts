/**
 * Pieces the route end-to-end tests share: a Service with an EndpointSlice on
 * a loopback address, servers listening there, `strait run -f DIR` with its
 * managed Envoy, and the simulator's verdict on the same manifests.
 */
import type { Server } from "node:net";
import { runPipeline } from "../../src/controller/pipeline.ts";
import { parseManifestText } from "../../src/sources/manifests.ts";
import { ResourceStore } from "../../src/sources/store.ts";
import { type NodeConfig, prepareNodeConfig } from "../../src/xds/simulate/index.ts";
import { runArgs, StraitProcess } from "./strait-process.ts";

export const ADDRESS_POOL = ["127.0.1.0/24"];

export const GATEWAY_CLASS = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: strait }
spec: { controllerName: strait.dev/gateway-controller }
---
apiVersion: v1
kind: Namespace
metadata: { name: lab }
---
`;

/** A Service `lab/<name>` with one ready endpoint. */
export function serviceManifest(name: string, address: string, port: number, appProtocol?: string): string {
  const proto = appProtocol === undefined ? "" : `, appProtocol: ${appProtocol}`;
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: lab }
spec: { ports: [{ name: p, port: ${port}, targetPort: ${port}${proto} }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: lab, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: p, port: ${port}${proto} }]
endpoints: [{ addresses: ["${address}"], conditions: { ready: true } }]
---
`;
}

export function listen(
  server: Pick<Server, "once" | "listen">,
  address: string,
  port: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, () => resolve());
  });
}

/** Polls until `probe` gives a value (errors count as not yet). */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `strait run -f dir` with its managed Envoy, once its operations server listens. */
export async function startStrait(dir: string): Promise<StraitProcess> {
  const proc = new StraitProcess(runArgs(dir, { managedEnvoy: true }));
  await proc.waitForLog((l) => l.msg.startsWith("operations server listening"), 60_000);
  return proc;
}

/** The node configuration strait serves for these manifests, as the simulator reads it. */
export function simulatorConfig(manifests: string): NodeConfig {
  const store = new ResourceStore();
  const set = parseManifestText("lab.yaml", manifests);
  if (set.diagnostics.length > 0) throw new Error(JSON.stringify(set.diagnostics));
  for (const o of set.objects) store.upsert(o.kind, o.object);
  const out = runPipeline(store, { now: new Date(), addressPool: ADDRESS_POOL });
  const { config, issues } = prepareNodeConfig(out.resources);
  if (issues.length > 0) throw new Error(JSON.stringify(issues));
  return config;
}
