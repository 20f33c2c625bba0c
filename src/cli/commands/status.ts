import { DEFAULT_STANDALONE_ADDRESS_POOL, runPipeline } from "../../controller/pipeline.ts";
import { formatExclusion } from "../../model/exclusion.ts";
import { isKindName } from "../../resources/kinds.ts";
import { carryTransitionTimes } from "../../sources/status/transition-times.ts";
import { type Command, EXIT, outputFormat, parseFlags, requirePaths } from "../command.ts";

import { loadOnePass, ONE_PASS_FLAGS, ONE_PASS_HELP } from "../one-pass.ts";
import { render } from "../render.ts";

export const statusCommand: Command = {
  name: "status",
  summary: "Print the status strait would write on each object of some manifests",
  help: `Usage: strait status -f PATH... [-o yaml|json] [--address-pool POOL...]

Runs the controller pipeline once over the manifests and prints the status of
every object strait owns (GatewayClasses with strait's controllerName, their
Gateways, and the routes attached to them), as it would be written through the
Kubernetes /status subresource: conditions with the Gateway API's reasons,
listener statuses, attached routes, addresses.

${ONE_PASS_HELP}
      --address-pool P  addresses Gateways are given (default ${DEFAULT_STANDALONE_ADDRESS_POOL.join(",")})

Exit code 0 on success, 1 when some input was invalid (the valid rest is printed), 2 on usage errors.`,
  async run(args, io) {
    const { values } = parseFlags(args, {
      ...ONE_PASS_FLAGS,
      "address-pool": { type: "string", multiple: true },
    });
    const paths = requirePaths(values.file, "status");
    const format = outputFormat(values.output);
    const input = loadOnePass(paths, values.crds, io);
    const out = runPipeline(input.store, {
      now: new Date(),
      addressPool: values["address-pool"] ?? DEFAULT_STANDALONE_ADDRESS_POOL,
    });
    const objects = [...out.statuses]
      .sort((a, b) =>
        `${a.ref.kind}/${a.ref.namespace}/${a.ref.name}`.localeCompare(
          `${b.ref.kind}/${b.ref.namespace}/${b.ref.name}`,
        ),
      )
      .map((s) => ({
        kind: s.ref.kind,
        ...(s.ref.namespace === "" ? {} : { namespace: s.ref.namespace }),
        name: s.ref.name,
        // As the status writers would write it: transition times kept from the manifest's status.
        status: isKindName(s.ref.kind)
          ? carryTransitionTimes(
              (input.store.get(s.ref.kind, s.ref.namespace, s.ref.name) as { status?: unknown } | undefined)
                ?.status,
              s.status,
            )
          : s.status,
      }));
    io.stdout(render(objects, format));
    // The parts translation left out (also in the conditions above), said as `strait translate` says them.
    for (const e of out.excluded) io.stderr(`error: ${formatExclusion(e)}\n`);
    return input.hadErrors || out.excluded.length > 0 ? EXIT.INPUT_ERRORS : EXIT.OK;
  },
};
