/**
 * `strait proxy-status`: the xDS clients connected to a running controller
 * (Envoys, agents, proxyless gRPC), read from its ops server's
 * `/api/v1/xds/clients`: per client and resource type, what it subscribes
 * to, the version last sent, ACKed and NACKed, and whether it is in sync.
 */
import { ERROR_CODES, StraitError } from "../../errors.ts";
import type { ClientStatus, TypeStatus } from "../../xds/server/index.ts";
import { type Command, EXIT, parseFlags, UsageError } from "../command.ts";
import { render } from "../render.ts";

const DEFAULT_ADDRESS = "127.0.0.1:9090";

/** SYNCED: the last response was ACKed; NACKED: rejected; STALE: not answered yet; WAITING: nothing sent. */
export function syncState(t: TypeStatus): "SYNCED" | "NACKED" | "STALE" | "WAITING" {
  const sent = t.lastSent;
  if (sent === undefined) return t.lastAcked === undefined ? "WAITING" : "SYNCED";
  if (t.lastNacked?.nonce === sent.nonce) return "NACKED";
  if (t.lastAcked?.nonce === sent.nonce) return "SYNCED";
  return "STALE";
}

function subscribed(t: TypeStatus): string {
  const names = t.names === 0 ? "" : `${t.names} name${t.names === 1 ? "" : "s"}`;
  if (t.wildcard) return names === "" ? "*" : `* + ${names}`;
  return names === "" ? "-" : names;
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return `${rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

export function renderClients(clients: readonly ClientStatus[]): string {
  if (clients.length === 0) return "No xDS clients connected.\n";
  const rows: string[][] = [
    ["NODE", "STREAM", "MODE", "PEER", "TYPE", "SUBSCRIBED", "STATUS", "SENT", "ACKED", "NACKED"],
  ];
  const nacks: string[] = [];
  for (const c of clients) {
    const node = c.node.id === "" ? "(no id)" : c.node.id;
    if (c.types.length === 0)
      rows.push([node, String(c.stream), c.mode, c.peer, "-", "-", "WAITING", "-", "-", "-"]);
    for (const t of c.types) {
      rows.push([
        node,
        String(c.stream),
        c.mode,
        c.peer,
        t.type,
        subscribed(t),
        syncState(t),
        t.lastSent?.version ?? "-",
        t.lastAcked?.version ?? "-",
        t.lastNacked === undefined ? "-" : `${t.lastNacked.version} (${t.nacks})`,
      ]);
      if (t.lastNacked !== undefined)
        nacks.push(`${node} ${t.type} ${t.lastNacked.version}: ${t.lastNacked.error}`);
    }
  }
  return `${table(rows)}${nacks.length === 0 ? "" : `\nLast NACK per client and type:\n${nacks.map((n) => `  ${n}`).join("\n")}\n`}`;
}

export const proxyStatusCommand: Command = {
  name: "proxy-status",
  summary: "List the xDS clients of a running controller and their sync state",
  help: `Usage: strait proxy-status [--address HOST:PORT] [-o table|json|yaml]

Asks a running \`strait run\` (its operations server) for the xDS clients
connected to it: Envoys, agents and proxyless gRPC clients. For each client
and resource type: the node id, what it subscribes to (* for everything),
the version last sent, ACKed and NACKed, and its state:

  SYNCED   the client accepted the last response
  NACKED   the client rejected the last response (it keeps its previous configuration)
  STALE    the last response was not answered yet
  WAITING  nothing was sent yet

      --address HOST:PORT  the controller's operations server (default ${DEFAULT_ADDRESS}, or STRAIT_HTTP_ADDRESS)
  -o, --output FORMAT      table (default), json or yaml

Exit code 0 on success, 1 when the controller cannot be reached, 2 on usage errors.`,
  async run(args, io) {
    const { values } = parseFlags(args, {
      address: { type: "string" },
      output: { type: "string", short: "o" },
    });
    const format = values.output ?? "table";
    if (format !== "table" && format !== "json" && format !== "yaml") {
      throw new UsageError(`-o must be table, json or yaml, not "${format}"`);
    }
    const address = values.address ?? io.env.STRAIT_HTTP_ADDRESS ?? DEFAULT_ADDRESS;
    const host = address.startsWith("0.0.0.0:") ? `127.0.0.1:${address.slice(8)}` : address;
    const url = `http://${host}/api/v1/xds/clients`;
    let clients: ClientStatus[];
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
      clients = ((await response.json()) as { clients: ClientStatus[] }).clients;
    } catch (cause) {
      throw new StraitError(ERROR_CODES.NETWORK, `cannot read ${url} (is strait run listening there?)`, {
        cause,
      });
    }
    io.stdout(format === "table" ? renderClients(clients) : render(clients, format));
    return EXIT.OK;
  },
};
