import {
  RUN_SETTINGS,
  resolveSettings,
  settingsFlags,
  settingsHelp,
  stringSetting,
} from "../../controller/config.ts";
import { createLogger } from "../../controller/logger.ts";
import { startController } from "../../controller/start.ts";
import { type Command, EXIT, parseFlags, UsageError } from "../command.ts";
import { untilSignal } from "../until-signal.ts";

export const runCommand: Command = {
  name: "run",
  summary: "Run the controller: watch resources, serve xDS, write status",
  help: `Usage: strait run [-f DIR] [flags]

Runs the strait controller until SIGTERM or SIGINT. It reads Gateway API
(GatewayClass, Gateway, ListenerSet, HTTPRoute, GRPCRoute, TLSRoute,
ReferenceGrant, BackendTLSPolicy; HTTPRoutes with a Service parent as GAMMA mesh
routes), Ingress and Cilium network-policy resources, translates them, serves
the result over xDS to every node's Envoy and agent, and writes statuses.
TCPRoute and UDPRoute are planned.

  strait run -f examples/quickstart     standalone: manifests from a folder, watched,
                                        and a managed local Envoy serving the Gateways
  strait run                            in a cluster (or with a kubeconfig)

Settings (flag, environment variable or --config file key):
      --config FILE
          YAML file of settings, keyed as below.
${settingsHelp(RUN_SETTINGS)}

Logs are JSON lines on stdout (the managed Envoy's lines too, "component":"envoy").
The operations server answers /healthz, /metrics and /readyz: named checks, ready once
the first full sync and reconcile are done and a first xDS snapshot is published and,
with --envoy managed, once that Envoy ACKed its first configuration. /readyz?verbose
lists each check, also the informational ones that never fail it (resources withheld
because they fail encoding, proxyless targets that do not resolve); ?exclude=NAME
leaves one out; /readyz/NAME runs one.`,
  async run(args, io) {
    const { values } = parseFlags(args, { ...settingsFlags(RUN_SETTINGS), config: { type: "string" } });
    const settings = resolveSettings(RUN_SETTINGS, values, io.env, values.config);
    if (stringSetting(settings, "manifests") === "") throw new UsageError("-f needs a folder");
    const logger = createLogger(stringSetting(settings, "logLevel") ?? "info", "strait-controller");
    const running = await startController(settings, logger);
    await untilSignal(logger, "shutting down");
    await running.stop();
    logger.info("stopped");
    return EXIT.OK;
  },
};
