/**
 * The event loop while the file source reads a large manifest (issue 16): the
 * longest stall of the event loop (what a /healthz or xDS request would wait
 * at worst) and the time until the file is applied, with the parse
 * on the main thread ("before": offThreadBytes = Infinity) and in the worker
 * (the default). Each run uses a fresh FileSource, so the worker start is counted.
 *
 * Usage: node bench/large-manifest.ts [MEGABYTES=24] [RUNS=3]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileSource } from "../src/sources/file-source.ts";
import { ResourceStore } from "../src/sources/store.ts";

const megabytes = Number(process.argv[2] ?? 24);
const runs = Number(process.argv[3] ?? 3);

/** Deployments (parsed, kept aside) padded with labels, then one Service. */
function largeManifest(mb: number): string {
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < mb * 1e6; i++) {
    const labels = Array.from({ length: 40 }, (_, j) => `      l${j}: ${"x".repeat(60)}${i}`).join("\n");
    const doc = `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d${i}\n  namespace: app\n  labels:\n${labels}\nspec:\n  replicas: 1\n`;
    parts.push(doc);
    size += doc.length;
  }
  parts.push(
    "apiVersion: v1\nkind: Service\nmetadata: { name: s, namespace: app }\nspec: { ports: [{ port: 80 }] }\n",
  );
  return parts.join("---\n");
}

const dir = mkdtempSync(join(tmpdir(), "strait-bench-large-"));
writeFileSync(join(dir, "large.yaml"), largeManifest(megabytes));

async function once(offThreadBytes: number): Promise<{ loadMs: number; stallMs: number }> {
  const source = new FileSource(dir, new ResourceStore(), { offThreadBytes });
  // The longest gap between ticks of a 5 ms timer (monitorEventLoopDelay misses a stall that
  // begins before its first tick, which is what a synchronous parse is).
  let last = performance.now();
  let stallMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 5);
  await new Promise((resolve) => setTimeout(resolve, 30));
  const t = performance.now();
  const result = await source.rescan();
  const loadMs = performance.now() - t;
  // The ticker sees a stall when the loop comes back to it: let it.
  await new Promise((resolve) => setTimeout(resolve, 30));
  clearInterval(ticker);
  source.stop();
  if (result.objects !== 1) throw new Error(`expected the Service, got ${result.objects} objects`);
  return { loadMs, stallMs };
}

try {
  for (const [name, threshold] of [
    ["main thread (before)", Number.POSITIVE_INFINITY],
    ["worker (after)", 256 * 1024],
  ] as const) {
    for (let i = 0; i < runs; i++) {
      const r = await once(threshold);
      console.log(
        `${name} run ${i + 1}: applied in ${r.loadMs.toFixed(0)} ms, longest event-loop stall ${r.stallMs.toFixed(0)} ms`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
