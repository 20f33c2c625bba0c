/** One line per flow, the way `hubble observe` prints them. */
import type { Flow, FlowPeer } from "../agent/flows.ts";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function stamp(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, " ")} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}

function peer(p: FlowPeer, withPort: boolean): string {
  const name = p.pod ?? p.ip;
  return `${name}${withPort ? `:${p.port}` : ""} (ID:${p.identity})`;
}

export function formatFlow(f: Flow): string {
  if (f.l7 !== undefined) {
    const url = `http://${f.l7.authority}${f.l7.path}`;
    return `${stamp(f.time)}: ${peer(f.source, true)} -> ${peer(f.destination, true)} http-request ${f.verdict} (${f.l7.protocol} ${f.l7.method} ${url}) => ${f.l7.status}${f.verdict === "DROPPED" ? ` ${f.dropReason ?? ""}` : ""}`;
  }
  const ports = f.protocol === "TCP" || f.protocol === "UDP" || f.protocol === "SCTP";
  const what =
    f.verdict === "DROPPED"
      ? `${f.dropReason ?? "dropped"} DROPPED`
      : `${f.eventType}:L3-L4 ${f.direction.toUpperCase()} ${f.verdict}${f.proxyPort === undefined ? "" : ` to-proxy:${f.proxyPort}`}`;
  const detail = f.protocol === "TCP" ? `TCP Flags: ${(f.tcpFlags ?? []).join(", ")}` : f.protocol;
  const auth = f.auth === undefined ? "" : ` auth:${f.auth.type} node:${f.auth.remoteNode}`;
  return `${stamp(f.time)}: ${peer(f.source, ports)} -> ${peer(f.destination, ports)} ${what} (${detail})${auth}`;
}
