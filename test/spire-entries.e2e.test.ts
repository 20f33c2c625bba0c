/**
 * The controller keeps real SPIRE's registration entries in step with the
 * security identities (`strait run --spire-server-socket`): a real
 * spire-server (built by scripts/build-spire.sh), a controller in standalone
 * mode whose watched folder holds the pods, and the server's own CLI
 * (`spire-server entry show`) as the independent reader of what it holds.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RUN_SETTINGS, resolveSettings } from "../src/controller/config.ts";
import { type RunningController, startController } from "../src/controller/start.ts";
import { captureLogger } from "./support/capture-logger.ts";
import { writeServerConfig } from "./support/spire.ts";

/** The SPIRE binaries scripts/build-spire.sh made, without starting a build (that is the set-up's job). */
function builtSpire(): string | undefined {
  const root = join(process.env.STRAIT_CACHE_DIR ?? join(homedir(), ".cache/strait"), "spire");
  if (!existsSync(root)) return undefined;
  for (const d of readdirSync(root)) {
    const bin = join(root, d, "bin");
    if (existsSync(join(bin, "spire-server"))) return bin;
  }
  return undefined;
}

const BIN = builtSpire();
const SKIP = BIN === undefined ? "(skipped: SPIRE is not built; run scripts/build-spire.sh)" : "";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function eventually<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function podYaml(name: string, app: string, node: string, ip: string): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default, labels: { app: ${app} } }
spec: { nodeName: ${node}, containers: [{ name: c, image: x }] }
status: { podIP: ${ip} }
`;
}

describe.skipIf(BIN === undefined)(
  `the controller's SPIRE entry sync against a real spire-server ${SKIP}`,
  () => {
    let dir: string;
    let server: ChildProcess;
    let socket: string;
    let running: RunningController;

    let serverConf: string;

    async function startServer(): Promise<void> {
      server = spawn(join(BIN ?? "", "spire-server"), ["run", "-config", serverConf], { stdio: "ignore" });
      await eventually("the SPIRE server's socket", () => {
        try {
          execFileSync(join(BIN ?? "", "spire-server"), ["healthcheck", "-socketPath", socket], {
            stdio: "ignore",
          });
          return true;
        } catch {
          return undefined;
        }
      });
    }

    async function inSync(): Promise<string | undefined> {
      const metrics = await (await fetch(`http://${running.httpAddress}/metrics`)).text();
      return /^strait_spire_entries_in_sync (\d)$/m.exec(metrics)?.[1];
    }

    /** `spiffeId → selectors` of every entry the server holds, read with its own CLI. */
    function entries(): Map<string, string[]> {
      const out = execFileSync(
        join(BIN ?? "", "spire-server"),
        ["entry", "show", "-socketPath", socket, "-output", "json"],
        {
          encoding: "utf8",
        },
      );
      const parsed = JSON.parse(out) as {
        entries?: {
          spiffe_id: { trust_domain: string; path: string };
          selectors: { type: string; value: string }[];
        }[];
      };
      return new Map(
        (parsed.entries ?? []).map((e) => [
          `spiffe://${e.spiffe_id.trust_domain}${e.spiffe_id.path}`,
          e.selectors.map((s) => `${s.type}:${s.value}`).sort(),
        ]),
      );
    }

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "strait-spire-"));
      const port = await freePort();
      const conf = writeServerConfig(join(dir, "server"), {
        host: "127.0.0.1",
        port,
        trustDomain: "strait.local",
      });
      socket = join(dir, "server", "api.sock");
      serverConf = conf;
      await startServer();
      const manifests = join(dir, "manifests");
      mkdirSync(manifests);
      writeFileSync(join(manifests, "web.yaml"), podYaml("web", "web", "node-1", "10.1.0.10"));
      writeFileSync(join(manifests, "db.yaml"), podYaml("db", "db", "node-2", "10.1.0.20"));
      const settings = resolveSettings(
        RUN_SETTINGS,
        {
          file: manifests,
          "http-address": "127.0.0.1:0",
          "xds-address": "127.0.0.1:0",
          envoy: "none",
          "spire-server-socket": socket,
          "spire-delegate-selector": ["unix:uid:0"],
        },
        {},
        undefined,
      );
      running = await startController(settings, captureLogger("silent").logger);
    }, 180_000);

    afterAll(async () => {
      await running?.stop();
      server?.kill("SIGKILL");
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    const identityOf = (pod: string) =>
      running.pipeline.latest?.policy.endpoints.find((e) => e.pod === pod)?.identity;

    it("creates one entry per identity with endpoints, plus the delegate entry, under the agents' alias", async () => {
      const web = await eventually("web's identity", () => identityOf("default/web"));
      const db = await eventually("db's identity", () => identityOf("default/db"));
      await eventually("the entries", () => (entries().size === 3 ? true : undefined));
      expect(Object.fromEntries(entries())).toEqual({
        [`spiffe://strait.local/identity/${web}`]: ["strait:mutual-auth"],
        [`spiffe://strait.local/identity/${db}`]: ["strait:mutual-auth"],
        "spiffe://strait.local/strait-delegate": ["unix:uid:0"],
      });
      const metrics = await (await fetch(`http://${running.httpAddress}/metrics`)).text();
      expect(metrics).toMatch(/^strait_spire_entries_in_sync 1$/m);
    }, 90_000);

    it("deletes the entry of an identity no pod has any more, and adds the new one's", async () => {
      const db = identityOf("default/db");
      const manifests = join(dir, "manifests");
      rmSync(join(manifests, "db.yaml"));
      writeFileSync(join(manifests, "cache.yaml"), podYaml("cache", "cache", "node-2", "10.1.0.30"));
      const cache = await eventually("cache's identity", () => identityOf("default/cache"));
      await eventually("the entries follow", () =>
        entries().has(`spiffe://strait.local/identity/${cache}`) &&
        !entries().has(`spiffe://strait.local/identity/${db}`)
          ? true
          : undefined,
      );
      expect(entries().size).toBe(3);
    }, 90_000);

    it("while the SPIRE server is down: reports it, retries with back-off, and catches up once it is back", async () => {
      server.kill("SIGKILL");
      await new Promise((r) => server.once("exit", r));
      const manifests = join(dir, "manifests");
      writeFileSync(join(manifests, "queue.yaml"), podYaml("queue", "queue", "node-1", "10.1.0.40"));
      const queue = await eventually("queue's identity", () => identityOf("default/queue"));
      const deadline = Date.now() + 60_000;
      while ((await inSync()) !== "0") {
        if (Date.now() > deadline) throw new Error("strait_spire_entries_in_sync never dropped to 0");
        await new Promise((r) => setTimeout(r, 200));
      }
      await startServer(); // same data folder: the entries made before are still there
      await eventually("the missed entry", () =>
        entries().has(`spiffe://strait.local/identity/${queue}`) ? true : undefined,
      );
      expect(entries().size).toBe(4);
      while ((await inSync()) !== "1") {
        if (Date.now() > deadline + 60_000)
          throw new Error("strait_spire_entries_in_sync never came back to 1");
        await new Promise((r) => setTimeout(r, 200));
      }
    }, 180_000);
  },
);
