/**
 * What the real proxyless client makes of a RouteConfiguration: reads its
 * protobuf bytes (base64) on stdin, lets @grpc/grpc-js-xds decode and
 * validate it as on an RDS response, and prints `{"error": …}` (a NACK) or
 * `{}` (accepted). A process of its own: grpc-js-xds loads its protos with
 * paths vitest's module loader does not resolve.
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
// The package entry first: it sets up the proto loading the resource types rely on.
require("@grpc/grpc-js-xds");
const { RouteConfigurationResourceType } =
  require("@grpc/grpc-js-xds/build/src/xds-resource-type/route-config-resource-type.js") as {
    RouteConfigurationResourceType: {
      get(): { decode(context: object, any: { type_url: string; value: Buffer }): { error?: string } };
    };
  };

let input = "";
process.stdin.on("data", (chunk) => {
  input += String(chunk);
});
process.stdin.on("end", () => {
  const decoded = RouteConfigurationResourceType.get().decode(
    {},
    {
      type_url: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
      value: Buffer.from(input, "base64"),
    },
  );
  process.stdout.write(`${JSON.stringify(decoded.error === undefined ? {} : { error: decoded.error })}\n`);
});
