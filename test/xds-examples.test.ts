/**
 * The xDS examples of the README are real configuration: the Envoy bootstrap
 * passes the strict codec as envoy.config.bootstrap.v3.Bootstrap (loaded
 * here from the same Envoy protos), and both bootstraps point at strait's
 * standalone xDS address.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import protobuf from "protobufjs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { RUN_SETTINGS } from "../src/controller/config.ts";
import { messageFromJson } from "../src/xds/proto/index.ts";
import { REPO } from "./support/strait-process.ts";

const require = createRequire(import.meta.url);

function bootstrapType(): protobuf.Type {
  const xds = dirname(require.resolve("@grpc/grpc-js-xds/package.json"));
  const dirs = [
    ...["deps/envoy-api", "deps/xds", "deps/googleapis", "deps/protoc-gen-validate"].map((d) => join(xds, d)),
    dirname(require.resolve("protobufjs/package.json")), // google/protobuf/descriptor.proto
  ];
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (
      target.startsWith("google/protobuf/") &&
      !target.endsWith("descriptor.proto") &&
      protobuf.common.get(target)
    )
      return target;
    return dirs.map((d) => join(d, target)).find((p) => existsSync(p)) ?? target;
  };
  root.loadSync("envoy/config/bootstrap/v3/bootstrap.proto", { keepCase: true });
  root.resolveAll();
  return root.lookupType("envoy.config.bootstrap.v3.Bootstrap");
}

const standaloneXds = RUN_SETTINGS.find((s) => s.key === "xdsAddress")?.standaloneDefault;

describe("xDS examples", () => {
  it("the Envoy bootstrap is a valid Bootstrap pointing at strait's standalone xDS address", () => {
    const json = parse(readFileSync(join(REPO, "examples/xds/envoy-bootstrap.yaml"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(messageFromJson(bootstrapType(), json).issues).toEqual([]);
    const cluster = (json.static_resources as { clusters: Record<string, unknown>[] }).clusters[0];
    const address = JSON.stringify(cluster?.load_assignment);
    expect(standaloneXds).toBe("127.0.0.1:18000");
    expect(address).toContain('"address":"127.0.0.1","port_value":18000');
  }, 20_000);

  it("the gRPC bootstrap names the same server", () => {
    const json = JSON.parse(readFileSync(join(REPO, "examples/xds/grpc-bootstrap.json"), "utf8")) as {
      xds_servers: { server_uri: string }[];
    };
    expect(json.xds_servers[0]?.server_uri).toBe(standaloneXds);
  });
});
