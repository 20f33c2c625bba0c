/** `strait agent`: the per-node agent process (composition in src/agent/start.ts). */
import { AGENT_SETTINGS } from "../../agent/settings.ts";
import { startAgent } from "../../agent/start.ts";
import { resolveSettings, settingsFlags, settingsHelp, stringSetting } from "../../controller/config.ts";
import { createLogger } from "../../controller/logger.ts";
import { type Command, EXIT, parseFlags } from "../command.ts";
import { untilSignal } from "../until-signal.ts";

export const agentCommand: Command = {
  name: "agent",
  summary: "Run the node agent: eBPF datapath, TPROXY rules, flow events",
  help: `Usage: strait agent [flags]

Runs the per-node agent until SIGTERM or SIGINT (as root, in the node's
network namespace). It loads the eBPF datapath with its maps pinned under
the bpf root, attaches it to every pod interface strait-cni reports, keeps
the maps at the desired state (endpoints, policies, ipcache), installs the
TPROXY rules for L7 redirects, and serves flows and metrics.

Stopping the agent leaves the datapath in place: enforcement and established
connections go on, and the next agent takes the pinned maps over.

Settings (flag, environment variable or --config file key):
      --config FILE
          YAML file of settings, keyed as below.
${settingsHelp(AGENT_SETTINGS)}`,
  async run(args, io) {
    const { values } = parseFlags(args, { ...settingsFlags(AGENT_SETTINGS), config: { type: "string" } });
    const settings = resolveSettings(AGENT_SETTINGS, values, io.env, values.config);
    const logger = createLogger(stringSetting(settings, "logLevel") ?? "info", "strait-agent");
    const running = await startAgent(settings, logger);
    await untilSignal(logger, "shutting down (the datapath stays in place)");
    await running.stop();
    logger.info("stopped");
    return EXIT.OK;
  },
};
