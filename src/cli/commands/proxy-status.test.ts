import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawAdsClient } from "../../../test/support/raw-ads-client.ts";
import { CDS, EDS } from "../../../test/support/xds-fixtures.ts";
import { RUN_SETTINGS, resolveSettings } from "../../controller/config.ts";
import { type RunningController, startController } from "../../controller/start.ts";
import type { ClientStatus } from "../../xds/server/index.ts";
import type { CommandIO } from "../command.ts";
import { main } from "../main.ts";

const QUICKSTART = join(import.meta.dirname, "../../../examples/quickstart");

async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIO = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env: {} };
  const code = await main(args, io);
  return { code, out: out.join(""), err: err.join("") };
}

describe("strait proxy-status", () => {
  let controller: RunningController;
  const clients: RawAdsClient[] = [];

  beforeAll(async () => {
    const settings = resolveSettings(
      RUN_SETTINGS,
      { file: QUICKSTART, "http-address": "127.0.0.1:0", "xds-address": "127.0.0.1:0", envoy: "none" },
      {},
      undefined,
    );
    controller = await startController(settings, pino({ level: "silent" }));
    await controller.controller.settle();
    // One client in sync on CDS, one that rejects its EDS response.
    const synced = new RawAdsClient(controller.xdsAddress, "sotw");
    const rejecting = new RawAdsClient(controller.xdsAddress, "delta");
    clients.push(synced, rejecting);
    synced.send({ node: { id: "envoy-synced" }, type_url: CDS });
    const cds = await synced.next();
    synced.send({ type_url: CDS, version_info: cds.version, response_nonce: cds.nonce });
    rejecting.send({
      node: { id: "envoy-rejecting" },
      type_url: EDS,
      resource_names_subscribe: ["shop/web:80"],
    });
    const eds = await rejecting.next();
    rejecting.send({
      type_url: EDS,
      response_nonce: eds.nonce,
      error_detail: { code: 3, message: "bad endpoints" },
    });
    await synced.quiet(200);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await controller.stop();
  });

  it("lists connected clients per type with their sync state and the last NACK", async () => {
    const r = await run(["proxy-status", "--address", controller.httpAddress]);
    expect(r.code).toBe(0);
    const lines = r.out.split("\n");
    expect(lines[0]).toMatch(
      /^NODE\s+STREAM\s+MODE\s+PEER\s+TYPE\s+SUBSCRIBED\s+STATUS\s+SENT\s+ACKED\s+NACKED$/,
    );
    expect(lines.find((l) => l.startsWith("envoy-synced"))).toMatch(
      /sotw .* CDS\s+\*\s+SYNCED\s+[0-9a-f]{16}/,
    );
    expect(lines.find((l) => l.startsWith("envoy-rejecting"))).toMatch(
      /delta .* EDS\s+1 name\s+NACKED .*\(1\)$/,
    );
    expect(r.out).toMatch(
      /Last NACK per client and type:\n {2}envoy-rejecting EDS [0-9a-f]{16}: bad endpoints/,
    );
  });

  it("prints the status as JSON with -o json", async () => {
    const r = await run(["proxy-status", "--address", controller.httpAddress, "-o", "json"]);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.out) as ClientStatus[];
    const synced = list.find((c) => c.node.id === "envoy-synced");
    const cds = synced?.types.find((t) => t.type === "CDS");
    expect(cds?.lastSent?.version).toBe(cds?.lastAcked?.version);
    expect(cds?.lastSent?.resources).toBeGreaterThan(0);
    expect(list.find((c) => c.node.id === "envoy-rejecting")?.types[0]?.lastNacked?.error).toBe(
      "bad endpoints",
    );
  });

  it("exits 1 with a clear message when no controller answers, 2 on a bad -o", async () => {
    const r = await run(["proxy-status", "--address", "127.0.0.1:1"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      "cannot read http://127.0.0.1:1/api/v1/xds/clients (is strait run listening there?)",
    );
    expect((await run(["proxy-status", "-o", "xml"])).code).toBe(2);
  });
});
