/**
 * A minimal client of the agent's local API over its unix socket or TCP
 * address (node:http only: strait-cni imports it, and a CNI plugin's
 * start-up time counts).
 */
import { request } from "node:http";

/** `/path/to.sock` (or `unix:/path`) for a unix socket, else `host:port` / `http://host:port`. */
export function agentTarget(address: string): { socketPath: string } | { host: string; port: number } {
  if (address.startsWith("unix:")) return { socketPath: address.slice(5) };
  if (address.startsWith("/")) return { socketPath: address };
  const hostPort = address.replace(/^https?:\/\//, "").replace(/\/$/, "");
  const i = hostPort.lastIndexOf(":");
  return { host: hostPort.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(hostPort.slice(i + 1)) };
}

export interface AgentResponse {
  readonly status: number;
  readonly body: unknown;
}

export function agentRequest(
  address: string,
  method: "GET" | "POST" | "PUT",
  path: string,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<AgentResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        ...agentTarget(address),
        method,
        path,
        timeout: timeoutMs,
        headers:
          payload === undefined
            ? {}
            : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = text === "" ? undefined : JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`agent did not answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** Streams NDJSON lines from a GET (for `--follow`); resolves when the stream ends. */
export function agentStream(address: string, path: string, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ ...agentTarget(address), method: "GET", path }, (res) => {
      let rest = "";
      res.on("data", (c: Buffer) => {
        rest += c.toString("utf8");
        const lines = rest.split("\n");
        rest = lines.pop() ?? "";
        for (const l of lines) if (l !== "") onLine(l);
      });
      res.on("end", () => resolve());
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}
