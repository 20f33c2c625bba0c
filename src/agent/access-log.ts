/**
 * The node's Envoy's access log of L7 policy listeners (JSON lines, see
 * src/xds/translate/l7-policy.ts) → flows beside the datapath's, so `strait
 * observe` shows each HTTP request with its verdict, like `hubble observe
 * --protocol http`. The file is followed by polling its size (it survives
 * Envoy restarts and rotation: a file that shrank is read from the start).
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import type { Flow, FlowPeer } from "./flows.ts";

export interface AccessLogRecord {
  readonly time?: string;
  readonly direction?: string;
  readonly endpoint?: string;
  readonly source?: string;
  readonly destination?: string;
  readonly protocol?: string;
  readonly method?: string;
  readonly path?: string;
  readonly authority?: string;
  readonly status?: string | number;
  readonly details?: string;
  readonly duration_ms?: string | number;
}

function hostPort(text: string | undefined): { ip: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(text ?? "");
  return m === null ? { ip: text ?? "", port: 0 } : { ip: m[1] ?? "", port: Number(m[2]) };
}

/** An access-log line → a flow; undefined when it is not one of strait's records. */
export function accessLogFlow(
  line: string,
  resolve: (ip: string) => { identity: number; pod?: string },
): Flow | undefined {
  let r: AccessLogRecord;
  try {
    r = JSON.parse(line) as AccessLogRecord;
  } catch {
    return undefined;
  }
  if (r.direction !== "ingress" && r.direction !== "egress") return undefined;
  const peer = (text: string | undefined): FlowPeer => {
    const { ip, port } = hostPort(text);
    const who = resolve(ip);
    return { ip, port, identity: who.identity, ...(who.pod === undefined ? {} : { pod: who.pod }) };
  };
  const status = Number(r.status ?? 0);
  const details = r.details ?? "";
  const denied = details.startsWith("rbac_access_denied");
  return {
    time:
      r.time !== undefined && !Number.isNaN(Date.parse(r.time))
        ? new Date(r.time).toISOString()
        : new Date().toISOString(),
    verdict: denied ? "DROPPED" : "FORWARDED",
    ...(denied ? { dropReason: "policy denied (L7)" } : {}),
    eventType: "http-request",
    direction: r.direction,
    observationPoint: r.direction === "ingress" ? "to-endpoint" : "from-endpoint",
    endpointId: Number(r.endpoint ?? 0),
    protocol: "TCP",
    source: peer(r.source),
    destination: peer(r.destination),
    l7: {
      protocol: r.protocol ?? "",
      method: r.method ?? "",
      path: r.path ?? "",
      authority: r.authority ?? "",
      status,
      details,
      durationMs: Number(r.duration_ms ?? 0),
    },
  };
}

/** Follows a growing file and hands over each complete line. */
export class LineFollower {
  readonly #path: string;
  #offset = 0;
  #rest = "";

  /** Starts at the end of what is there now: earlier lines were read by an earlier agent. */
  constructor(path: string, fromStart = false) {
    this.#path = path;
    if (!fromStart) {
      try {
        this.#offset = statSync(path).size;
      } catch {
        this.#offset = 0;
      }
    }
  }

  poll(): string[] {
    let size: number;
    try {
      size = statSync(this.#path).size;
    } catch {
      return [];
    }
    if (size < this.#offset) {
      this.#offset = 0; // rotated or truncated
      this.#rest = "";
    }
    if (size === this.#offset) return [];
    const fd = openSync(this.#path, "r");
    try {
      const buf = Buffer.alloc(size - this.#offset);
      const n = readSync(fd, buf, 0, buf.length, this.#offset);
      this.#offset += n;
      const text = this.#rest + buf.subarray(0, n).toString("utf8");
      const lines = text.split("\n");
      this.#rest = lines.pop() ?? "";
      return lines.filter((l) => l.trim() !== "");
    } finally {
      closeSync(fd);
    }
  }
}
