/**
 * The quickstart's backends: one small HTTP echo server per endpoint of the
 * EndpointSlices in this folder whose address is on loopback, so the demo
 * answers on one machine without a cluster. Each answers with JSON saying
 * which pod it is and what request it received (as the Gateway API
 * conformance suite's echo server does).
 *
 *   node examples/quickstart/echo-backends.ts [DIR]
 */
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

interface Slice {
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  ports?: { name?: string; port?: number }[];
  endpoints?: { addresses?: string[]; targetRef?: { name?: string } }[];
}

const dir = process.argv[2] ?? import.meta.dirname;
const slices = readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => d.toJSON() as Slice))
  .filter((o) => o?.kind === "EndpointSlice");

const servers = slices.flatMap((slice) =>
  (slice.endpoints ?? []).flatMap((endpoint, i) =>
    (endpoint.addresses ?? [])
      .filter((a) => a.startsWith("127."))
      .flatMap((address) =>
        (slice.ports ?? []).map((p) => ({
          address,
          port: p.port ?? 80,
          namespace: slice.metadata?.namespace ?? "default",
          service: slice.metadata?.labels?.["kubernetes.io/service-name"] ?? "",
          pod: endpoint.targetRef?.name ?? `${slice.metadata?.name ?? "endpoint"}-${i}`,
        })),
      ),
  ),
);

for (const s of servers) {
  createServer((req, res) => {
    const body = JSON.stringify({
      pod: s.pod,
      namespace: s.namespace,
      service: s.service,
      method: req.method,
      path: req.url,
      host: req.headers.host,
      headers: req.headers,
    });
    res.writeHead(200, { "content-type": "application/json" }).end(`${body}\n`);
  })
    .listen(s.port, s.address, () =>
      console.log(`echo backend ${s.namespace}/${s.pod} on ${s.address}:${s.port}`),
    )
    .on("error", (error) => {
      console.error(`echo backend ${s.namespace}/${s.pod} on ${s.address}:${s.port}: ${error.message}`);
      process.exitCode = 1;
    });
}
if (servers.length === 0) console.error(`no EndpointSlice endpoints on loopback in ${dir}`);
