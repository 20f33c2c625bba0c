import { execFile } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { envoyRoot, loadEnvoyRootFromProtos, protoCacheFile, rootToJson } from "./envoy-protos.ts";

const run = promisify(execFile);
const CACHE_DIR = join(import.meta.dirname, "../../../build/proto-cache");

describe("the Envoy protos' JSON cache (build/proto-cache/)", () => {
  it("holds exactly what parsing the .proto files gives, parsed (repeated) options included", () => {
    const root = envoyRoot(); // from the cache, or written to it now
    const files = readdirSync(CACHE_DIR).filter((f) => /^envoy-[0-9a-f]{16}\.json$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    const fresh = rootToJson(loadEnvoyRootFromProtos());
    const cached = rootToJson(root);
    expect(JSON.stringify(cached.root)).toBe(JSON.stringify(fresh.root));
    expect(cached.parsedOptions).toEqual(fresh.parsedOptions);
    // validate.rules with repeated values (`in: [...]`) are what the flattened options lose.
    expect(Object.keys(fresh.parsedOptions).length).toBeGreaterThan(100);
  }, 60_000);

  it("is what a new process reads: the loaded types encode as the parsed ones do", () => {
    // The current protos' file: a stale one of an older hash may sit beside it.
    envoyRoot();
    const text = readFileSync(protoCacheFile(), "utf8");
    expect(JSON.parse(text)).toHaveProperty("parsedOptions");
    const fresh = loadEnvoyRootFromProtos();
    const cluster = { name: "ns/svc:80", type: 3, connect_timeout: { seconds: 5 } };
    const type = envoyRoot().lookupType("envoy.config.cluster.v3.Cluster");
    const freshType = fresh.lookupType("envoy.config.cluster.v3.Cluster");
    expect(Buffer.from(type.encode(type.fromObject(cluster)).finish())).toEqual(
      Buffer.from(freshType.encode(freshType.fromObject(cluster)).finish()),
    );
  }, 60_000);

  it("survives a damaged file: a new process parses the protos and writes the file again", async () => {
    envoyRoot();
    const path = protoCacheFile();
    writeFileSync(path, "{ not json");
    const script = `import { envoyRoot } from ${JSON.stringify(join(import.meta.dirname, "envoy-protos.ts"))};
      process.stdout.write(envoyRoot().lookupType("envoy.config.listener.v3.Listener").name);`;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script]);
    expect(stdout).toBe("Listener");
    expect(JSON.parse(readFileSync(path, "utf8"))).toHaveProperty("parsedOptions");
  }, 60_000);
});
