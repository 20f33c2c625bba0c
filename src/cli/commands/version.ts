import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Command, EXIT, outputFormat, parseFlags } from "../command.ts";

/** strait's version, from package.json, and the Gateway API version it targets. */
export function versionInfo(): { strait: string; gatewayAPI: string; node: string } {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "../../../package.json"), "utf8")) as {
    version: string;
  };
  return { strait: pkg.version, gatewayAPI: "v1.6.1", node: process.version };
}

export const versionCommand: Command = {
  name: "version",
  summary: "Print strait's version and the Gateway API version it implements",
  help: `Usage: strait version [-o yaml|json]

Prints strait's version, the Gateway API release it implements, and the Node.js
version it runs on.`,
  async run(args, io) {
    const { values } = parseFlags(args, { output: { type: "string", short: "o" } });
    if (values.output === undefined) {
      const v = versionInfo();
      io.stdout(`strait ${v.strait} (Gateway API ${v.gatewayAPI}, Node.js ${v.node})\n`);
    } else {
      // Loaded only here: the plain answer should not wait for the YAML library.
      const { render } = await import("../render.ts");
      io.stdout(render(versionInfo(), outputFormat(values.output)));
    }
    return EXIT.OK;
  },
};
