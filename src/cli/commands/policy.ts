/**
 * `strait policy trace`: explains the verdict for one flow over a set of
 * manifests (the same pipeline the controller runs), like `cilium policy
 * trace`: which policies select each side, which entry decides at the
 * source's egress and at the destination's ingress, and what the node's
 * Envoy does with an HTTP request on an L7 port.
 */
import { DEFAULT_STANDALONE_ADDRESS_POOL, runPipeline } from "../../controller/pipeline.ts";
import { parseIpv4 } from "../../net/ipv4.ts";
import { parseHttpRequest } from "../../policy/http-match.ts";
import { type TracePeer, tracePolicy } from "../../policy/trace.ts";
import { type Command, EXIT, outputFormat, parseFlags, requirePaths, UsageError } from "../command.ts";
import { loadOnePass, ONE_PASS_FLAGS, ONE_PASS_HELP } from "../one-pass.ts";
import { render } from "../render.ts";

function peer(text: string | undefined, flag: string): TracePeer {
  if (text === undefined || text === "") throw new UsageError(`policy trace: ${flag} is required`);
  const id = /^(?:ID:)?(\d+)$/.exec(text);
  if (id !== null) return { kind: "identity", id: Number(id[1]) };
  if (parseIpv4(text).ok) return { kind: "ip", ip: text };
  if (/^[a-z0-9.-]+\/[a-z0-9.-]+$/.test(text)) return { kind: "pod", pod: text };
  throw new UsageError(
    `policy trace: ${flag} must be a pod (namespace/name), an identity (ID:1234) or an IPv4 address`,
  );
}

const PROTOCOLS = ["TCP", "UDP", "ICMP"] as const;

export const policyCommand: Command = {
  name: "policy",
  summary: "Explain a CiliumNetworkPolicy verdict for one flow (policy trace)",
  help: `Usage: strait policy trace -f PATH... --src PEER --dst PEER --port N [--protocol TCP|UDP]
                           [--http 'METHOD /path'] [--header 'name: value'...] [--host HOST] [-o text|yaml|json]

Computes identities and every node's policy from the manifests, as the
controller does, and explains the verdict for one flow the way
\`cilium policy trace\` does: the rules that select the source and the
destination, the entry that decides at the source's egress and at the
destination's ingress (as the datapath looks it up: most specific first,
a deny wins over any allow), and, when the flow goes through the node's
Envoy, the HTTP rule that lets the request through or the 403 it gets.

A PEER is a pod (namespace/name), an identity (ID:1234 or 1234) or an IPv4
address (a pod's, or one outside the cluster: world or a CIDR identity).

${ONE_PASS_HELP.replace("yaml (default) or json", "text (default), yaml or json")}
      --src PEER       the client
      --dst PEER       the server
      --port N         destination port
      --protocol P     TCP (default), UDP or ICMP
      --http REQ       an HTTP request, e.g. 'GET /public', checked against L7 rules
      --header H       a request header 'name: value' (repeatable)
      --host HOST      the request's :authority

Exit code 0 when the flow is allowed, 1 when it is denied (or the input had
errors), 2 on usage errors.`,
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub !== "trace")
      throw new UsageError("policy: the only subcommand is `trace` (see strait policy --help)");
    const { values } = parseFlags(rest, {
      ...ONE_PASS_FLAGS,
      src: { type: "string" },
      dst: { type: "string" },
      port: { type: "string" },
      protocol: { type: "string" },
      http: { type: "string" },
      header: { type: "string", multiple: true },
      host: { type: "string" },
    });
    const paths = requirePaths(values.file, "policy trace");
    const port = Number(values.port);
    if (!/^\d+$/.test(values.port ?? "") || port < 1 || port > 65535)
      throw new UsageError("policy trace: --port must be a port number (1..65535)");
    const protocol = (values.protocol ?? "TCP").toUpperCase();
    if (!PROTOCOLS.includes(protocol as (typeof PROTOCOLS)[number]))
      throw new UsageError("policy trace: --protocol must be TCP, UDP or ICMP");
    let http: ReturnType<typeof parseHttpRequest>;
    if (values.http !== undefined) {
      http = parseHttpRequest(values.http, values.host ?? "");
      if (http === undefined) throw new UsageError("policy trace: --http must look like 'GET /path'");
      const headers: Record<string, string> = {};
      for (const h of values.header ?? []) {
        const colon = h.indexOf(":");
        if (colon < 1) throw new UsageError(`policy trace: --header must be 'name: value', got "${h}"`);
        headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
      }
      http = { ...http, headers };
    }
    const src = peer(values.src, "--src");
    const dst = peer(values.dst, "--dst");
    const text = values.output === undefined || values.output === "text";
    const input = loadOnePass(paths, values.crds, io);
    const out = runPipeline(input.store, { now: new Date(), addressPool: DEFAULT_STANDALONE_ADDRESS_POOL });
    for (const bad of out.policy.invalid) {
      io.stderr(
        `warning: ${bad.ref.kind} ${bad.ref.namespace === "" ? "" : `${bad.ref.namespace}/`}${bad.ref.name} is invalid and not enforced: ${bad.problems.map((p) => `${p.path}: ${p.message}`).join("; ")}\n`,
      );
    }
    const result = tracePolicy(out.policy, {
      src,
      dst,
      protocol: protocol as (typeof PROTOCOLS)[number],
      port,
      ...(http === undefined ? {} : { http }),
    });
    if (text) io.stdout(`${result.lines.join("\n")}\n`);
    else io.stdout(render(result, outputFormat(values.output)));
    if (input.hadErrors) return EXIT.INPUT_ERRORS;
    return result.verdict === "ALLOWED" ? EXIT.OK : EXIT.INPUT_ERRORS;
  },
};
