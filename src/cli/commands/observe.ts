/**
 * `strait observe`: the datapath's flows and the node's Envoy's L7 verdicts
 * from the agent's local API, printed like `hubble observe`.
 */
import { agentRequest, agentStream } from "../../agent/client.ts";
import type { FlowFilter } from "../../agent/flow-filter.ts";
import { matchesFlow } from "../../agent/flow-filter.ts";
import type { Flow } from "../../agent/flows.ts";
import { DEFAULT_AGENT_SOCKET } from "../../agent/settings.ts";
import { ERROR_CODES, StraitError } from "../../errors.ts";
import { type Command, EXIT, parseFlags, UsageError } from "../command.ts";
import { formatFlow } from "../flow-format.ts";

const VERDICTS = ["FORWARDED", "DROPPED", "REDIRECTED"];

interface AuthKeyView {
  readonly localIdentity: number;
  readonly remoteIdentity: number;
  readonly remoteNode: string;
  readonly authType: string;
}

interface AuthStatusView {
  readonly provider: string;
  readonly healthy: boolean;
  readonly entries: readonly {
    readonly key: AuthKeyView;
    readonly expires: string;
    readonly lastHandshake?: { readonly time: string; readonly result: string };
  }[];
  readonly failures: readonly {
    readonly key: AuthKeyView;
    readonly last: { readonly time: string; readonly result: string; readonly message?: string };
  }[];
}

function formatAuthStatus(s: AuthStatusView): string {
  const pair = (k: AuthKeyView) =>
    `ID:${k.localIdentity} <-> ID:${k.remoteIdentity} node ${k.remoteNode === "0.0.0.0" ? "local" : k.remoteNode} ${k.authType}`;
  const lines = [`provider ${s.provider} (${s.healthy ? "healthy" : "unreachable"})`];
  for (const e of s.entries) {
    const last =
      e.lastHandshake === undefined
        ? ""
        : `, last handshake ${e.lastHandshake.result} at ${e.lastHandshake.time}`;
    lines.push(`${pair(e.key)} expires ${e.expires}${last}`);
  }
  for (const f of s.failures) {
    lines.push(
      `${pair(f.key)} FAILED ${f.last.result} at ${f.last.time}${f.last.message === undefined ? "" : `: ${f.last.message}`}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

export const observeCommand: Command = {
  name: "observe",
  summary: "Print the datapath's flows (like hubble observe)",
  help: `Usage: strait observe [--from PEER] [--to PEER] [--verdict V] [--port N] [--protocol P] [-o json] [--follow]

Prints the flows the node's datapath reported: each new connection with its
policy verdict, and every dropped packet with its reason; and each HTTP
request the node's Envoy handled on an L7 policy port (http-request, with
method, URL and status; DROPPED when the policy denied it with a 403).

  --from PEER, --to PEER   source / destination: an IP, a pod (namespace/name) or
                           an identity (ID:1001); repeatable
  --verdict V              FORWARDED, DROPPED or REDIRECTED; repeatable
  --port N                 source or destination port; repeatable
  --protocol P             http: the L7 (HTTP) records only; l3-l4: the datapath's only
  -o json                  one JSON object per line instead of text
  -f, --follow             keep printing new flows until interrupted
  --auth                   print the mutual-auth state instead: the auth map's entries
                           (local <-> remote identity, node, expiry, last handshake) and
                           the pairs whose last handshake failed, with why
  --agent ADDRESS          the agent's unix socket or HOST:PORT (default ${DEFAULT_AGENT_SOCKET},
                           env STRAIT_AGENT_SOCKET)

  strait observe --verdict DROPPED
  strait observe --to default/server --port 80 -o json
  strait observe --protocol http --verdict DROPPED`,
  async run(args, io) {
    const { values } = parseFlags(args, {
      from: { type: "string", multiple: true },
      to: { type: "string", multiple: true },
      verdict: { type: "string", multiple: true },
      port: { type: "string", multiple: true },
      protocol: { type: "string" },
      output: { type: "string", short: "o" },
      follow: { type: "boolean", short: "f" },
      agent: { type: "string" },
      auth: { type: "boolean" },
    });
    const format = values.output ?? "text";
    if (format !== "text" && format !== "json")
      throw new UsageError(`-o must be json (or omitted), not "${format}"`);
    const verdicts = (values.verdict ?? []).map((v) => v.toUpperCase());
    for (const v of verdicts)
      if (!VERDICTS.includes(v))
        throw new UsageError(`--verdict must be one of ${VERDICTS.join(", ")}, not "${v}"`);
    const ports = (values.port ?? []).map((p) => {
      const n = Number(p);
      if (!Number.isInteger(n) || n < 1 || n > 65535)
        throw new UsageError(`--port must be 1..65535, not "${p}"`);
      return n;
    });
    const protocol = values.protocol?.toLowerCase();
    if (protocol !== undefined && protocol !== "http" && protocol !== "l3-l4")
      throw new UsageError(`--protocol must be http or l3-l4, not "${values.protocol}"`);
    const filter: FlowFilter = {
      from: values.from ?? [],
      to: values.to ?? [],
      verdict: verdicts,
      port: ports,
      ...(protocol === undefined ? {} : { protocol }),
    };
    const address = values.agent ?? io.env.STRAIT_AGENT_SOCKET ?? DEFAULT_AGENT_SOCKET;
    const print = (f: Flow) => {
      if (matchesFlow(f, filter))
        io.stdout(format === "json" ? `${JSON.stringify(f)}\n` : `${formatFlow(f)}\n`);
    };
    try {
      if (values.auth === true) {
        const res = await agentRequest(address, "GET", "/api/v1/auth");
        if (res.status !== 200)
          throw new StraitError(ERROR_CODES.NETWORK, `the agent answered ${res.status}`);
        io.stdout(
          format === "json" ? `${JSON.stringify(res.body)}\n` : formatAuthStatus(res.body as AuthStatusView),
        );
        return EXIT.OK;
      }
      if (values.follow === true) {
        await agentStream(address, "/api/v1/flows?follow=true", (line) => print(JSON.parse(line) as Flow));
        return EXIT.OK;
      }
      const res = await agentRequest(address, "GET", "/api/v1/flows");
      if (res.status !== 200 || !Array.isArray(res.body)) {
        throw new StraitError(ERROR_CODES.NETWORK, `the agent answered ${res.status}`);
      }
      for (const f of res.body as Flow[]) print(f);
      return EXIT.OK;
    } catch (cause) {
      if (cause instanceof StraitError) throw cause;
      throw new StraitError(ERROR_CODES.NETWORK, `cannot reach the agent at ${address}`, { cause });
    }
  },
};
