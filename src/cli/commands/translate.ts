import { DEFAULT_STANDALONE_ADDRESS_POOL, runPipeline } from "../../controller/pipeline.ts";
import { formatExclusion } from "../../model/exclusion.ts";
import { decodeResource, encodeResource, TYPE_URLS } from "../../xds/proto/index.ts";
import { type Command, EXIT, outputFormat, parseFlags, requirePaths } from "../command.ts";
import { loadOnePass, ONE_PASS_FLAGS, ONE_PASS_HELP } from "../one-pass.ts";
import { render, writeJsonSections } from "../render.ts";

const SECTIONS = [
  ["listeners", TYPE_URLS.listener],
  ["routes", TYPE_URLS.routeConfiguration],
  ["clusters", TYPE_URLS.cluster],
  ["endpoints", TYPE_URLS.clusterLoadAssignment],
  ["secrets", TYPE_URLS.secret],
] as const;

/** Private keys stay out of terminals and logs unless asked for. */
function redact(json: unknown): unknown {
  if (Array.isArray(json)) return json.map(redact);
  if (json === null || typeof json !== "object") return json;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json))
    out[k] = k === "private_key" ? { inline_string: "[redacted]" } : redact(v);
  return out;
}

export const translateCommand: Command = {
  name: "translate",
  summary: "Print the Envoy configuration strait generates for some manifests",
  help: `Usage: strait translate -f PATH... [-o yaml|json] [--address-pool POOL...] [--show-secrets]

Runs the controller pipeline once over the manifests and prints the Envoy
resources every node's Envoy would receive (listeners, route configurations,
clusters, endpoints, secrets), after protobuf encoding with the real Envoy API,
so what you see is what Envoy gets. A part that does not encode (a route, an
endpoint, a TLS chain, a cluster, a listener, a secret) is left out alone and
named on stderr; everything else is printed.

${ONE_PASS_HELP}
      --address-pool P  addresses Gateways are given (IPv4, a-b range or CIDR; default ${DEFAULT_STANDALONE_ADDRESS_POOL.join(",")})
      --show-secrets    print TLS private keys instead of [redacted]

Exit code 0 on success, 1 when some input was invalid (the valid rest is printed), 2 on usage errors.`,
  async run(args, io) {
    const { values } = parseFlags(args, {
      ...ONE_PASS_FLAGS,
      "address-pool": { type: "string", multiple: true },
      "show-secrets": { type: "boolean" },
    });
    const paths = requirePaths(values.file, "translate");
    const format = outputFormat(values.output);
    const input = loadOnePass(paths, values.crds, io);
    const out = runPipeline(input.store, {
      now: new Date(),
      addressPool: values["address-pool"] ?? DEFAULT_STANDALONE_ADDRESS_POOL,
    });
    // Parts that do not encode are left out alone (the rest of their resource is printed), and said.
    for (const e of out.excluded) io.stderr(`error: ${formatExclusion(e)}\n`);
    let broken = out.excluded.length > 0;
    /** One section's resources as Envoy gets them (encoded, decoded), produced one at a time. */
    function* section(name: string, typeUrl: (typeof SECTIONS)[number][1]): Generator<unknown> {
      for (const [resource, json] of [...out.resources[typeUrl]].sort(([a], [b]) =>
        a < b ? -1 : a > b ? 1 : 0,
      )) {
        const { bytes, issues } = encodeResource(typeUrl, json);
        if (bytes === undefined) {
          broken = true;
          io.stderr(
            `error: ${name} ${resource} does not encode: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}\n`,
          );
          continue;
        }
        const decoded = decodeResource(typeUrl, bytes);
        yield values["show-secrets"] === true ? decoded : redact(decoded);
      }
    }
    if (format === "json") {
      // Streamed: at 50,000 routes the whole output is hundreds of megabytes as one string.
      writeJsonSections(
        SECTIONS.map(([name, typeUrl]) => [name, section(name, typeUrl)] as const),
        io.stdout,
      );
    } else {
      const result: Record<string, unknown[]> = {};
      for (const [name, typeUrl] of SECTIONS) result[name] = [...section(name, typeUrl)];
      io.stdout(render(result, format));
    }
    return input.hadErrors || broken ? EXIT.INPUT_ERRORS : EXIT.OK;
  },
};
