/**
 * The one kubelet endpoint the conformance suite reaches through the API
 * server: container logs (`GET /containerLogs/{namespace}/{pod}/{container}`,
 * which kube-apiserver proxies `pods/log` to, at the Node's InternalIP and its
 * `daemonEndpoints.kubeletEndpoint.Port`). The mirror tests read the echo
 * pods' logs this way.
 *
 * Served over TLS with a certificate of the control plane's CA for 127.0.0.1,
 * and only to clients with a certificate of that CA (the API server's
 * `--kubelet-client-certificate`), as a kubelet does. The options the suite
 * and `kubectl logs` use are honoured: `sinceTime`, `sinceSeconds`,
 * `timestamps`, `tailLines`, `limitBytes`; `follow` answers what was written so
 * far and ends the stream (no test needs more).
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { ContainerLog, LogEntry } from "./container-log.ts";

export type LogLookup = (namespace: string, pod: string, container: string) => ContainerLog | undefined;

export interface KubeletLogServerOptions {
  readonly caCert: string;
  readonly cert: string;
  readonly key: string;
  readonly lookup: LogLookup;
}

/** The lines a query selects, formatted as the kubelet writes them. */
export function selectLog(entries: readonly LogEntry[], query: URLSearchParams, now: Date): string {
  const sinceTime = query.get("sinceTime");
  const sinceSeconds = query.get("sinceSeconds");
  const since =
    sinceTime !== null
      ? new Date(sinceTime)
      : sinceSeconds !== null
        ? new Date(now.getTime() - Number(sinceSeconds) * 1000)
        : undefined;
  let lines = since === undefined ? entries : entries.filter((e) => e.time >= since);
  const tail = query.get("tailLines");
  if (tail !== null && Number(tail) >= 0) lines = lines.slice(Math.max(0, lines.length - Number(tail)));
  const timestamps = query.get("timestamps") === "true";
  let text = lines.map((e) => `${timestamps ? `${e.time.toISOString()} ` : ""}${e.line}\n`).join("");
  const limit = query.get("limitBytes");
  if (limit !== null && Number(limit) > 0) text = Buffer.from(text).subarray(0, Number(limit)).toString();
  return text;
}

export class KubeletLogServer {
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(options: KubeletLogServerOptions): Promise<KubeletLogServer> {
    const server = createServer(
      {
        cert: readFileSync(options.cert),
        key: readFileSync(options.key),
        ca: readFileSync(options.caCert),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        const url = new URL(req.url ?? "/", "https://kubelet");
        const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
        if (req.method !== "GET" || m === null) {
          res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
          return;
        }
        const [namespace, pod, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
        const log = options.lookup(namespace, pod, container);
        if (log === undefined) {
          res
            .writeHead(404, { "content-type": "text/plain" })
            .end(`container "${container}" in pod "${namespace}/${pod}" is not running on this node\n`);
          return;
        }
        res
          .writeHead(200, { "content-type": "text/plain" })
          .end(selectLog(log.entries, url.searchParams, new Date()));
      },
    );
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return new KubeletLogServer(server);
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
