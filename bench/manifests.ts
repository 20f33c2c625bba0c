/**
 * Writes the benchmark configuration of bench/generate.ts as one multi-document
 * YAML file, the input of the through-the-CLI benchmarks (bench/cli.ts) and of the
 * side-by-side run against egctl (bench/egctl.ts). Sizes scale from the issue's
 * 5,000 routes: one Gateway per 50 routes, one Service (10 endpoints) per route.
 *
 * Usage: node bench/manifests.ts ROUTES OUT.yaml [CONTROLLER_NAME]
 */
import { writeFileSync } from "node:fs";
import { dump } from "js-yaml";
import { KIND_NAMES } from "../src/resources/kinds.ts";
import type { ObjectOf } from "../src/resources/objects.ts";
import { type BenchSize, generate } from "./generate.ts";

export function sizeFor(routes: number): BenchSize {
  return { gateways: Math.max(1, Math.ceil(routes / 50)), routes, services: routes, endpointsPerService: 10 };
}

/** A Service's cluster IP (egctl translates a Service to its clusterIP, not to its EndpointSlices). */
function clusterIp(n: number): string {
  return `10.96.${Math.floor(n / 250) % 256}.${(n % 250) + 1}`;
}

/** The configuration as YAML documents; `controllerName` for a peer's GatewayClass. */
export function manifestsYaml(routes: number, controllerName = "strait.dev/gateway-controller"): string {
  const store = generate(sizeFor(routes));
  const docs: string[] = [];
  for (const kind of KIND_NAMES) {
    for (const obj of store.list(kind)) {
      const o =
        obj.kind === "GatewayClass"
          ? { ...obj, spec: { controllerName } }
          : obj.kind === "Service"
            ? { ...obj, spec: { ...(obj as ObjectOf<"Service">).spec, clusterIP: clusterIp(docs.length) } }
            : obj;
      docs.push(dump(o, { lineWidth: -1, noRefs: true }));
    }
  }
  return docs.join("---\n");
}

if (import.meta.main) {
  const [routes, out, controller] = process.argv.slice(2);
  if (routes === undefined || out === undefined) {
    console.error("usage: node bench/manifests.ts ROUTES OUT.yaml [CONTROLLER_NAME]");
    process.exit(2);
  }
  writeFileSync(out, manifestsYaml(Number(routes), controller));
}
