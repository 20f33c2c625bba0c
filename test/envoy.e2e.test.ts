/**
 * `strait run -f` with its managed Envoy (the real Envoy 1.40 that set-up
 * installs): the quickstart answers through it, /readyz waits for its ACK,
 * its log lines join strait's, it is restarted when it dies, and both xDS
 * variants work.
 */
import { type ChildProcess, execFile } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_ENVOY_BINARY } from "../src/envoy/index.ts";
import { httpRequest } from "./support/http-request.ts";
import { copyQuickstart, startEchoBackends } from "./support/quickstart-copy.ts";
import { STRAIT_BIN, StraitProcess } from "./support/strait-process.ts";

const run = promisify(execFile);

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startDemo(extra: readonly string[] = []) {
  const copy = await copyQuickstart();
  const backends: ChildProcess = await startEchoBackends(copy.dir);
  cleanups.push(() => backends.kill());
  const proc = new StraitProcess([
    "run",
    "-f",
    copy.dir,
    "--http-address",
    "127.0.0.1:0",
    "--xds-address",
    "127.0.0.1:0",
    "--envoy-admin-address",
    "127.0.0.1:0",
    ...extra,
  ]);
  cleanups.push(() => proc.stop("SIGTERM"));
  const ops = await proc.waitForLog((l) => l.msg.startsWith("operations server listening"), 30_000);
  return { copy, proc, base: `http://${String(ops.address)}` };
}

async function waitReady(base: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < until) {
    const res = await fetch(`${base}/readyz`);
    if (res.status === 200) return;
    last = await res.text();
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready: ${last}`);
}

async function throughGateway(copy: Awaited<ReturnType<typeof copyQuickstart>>, path: string) {
  const res = await httpRequest(copy.gateway.address, copy.gateway.port, { host: "shop.example.com", path });
  return {
    status: res.status,
    server: res.headers.server,
    body: res.status === 200 ? (JSON.parse(res.body) as Record<string, unknown>) : {},
  };
}

describe("strait run -f with the managed Envoy", () => {
  it("serves the quickstart through a real Envoy once /readyz says ready", async () => {
    const { copy, proc, base } = await startDemo();
    await waitReady(base);
    const store = await throughGateway(copy, "/store/cart");
    expect(store.status).toBe(200);
    expect(store.server).toBe("envoy");
    expect(store.body).toMatchObject({
      namespace: "shop",
      service: "store",
      path: "/store/cart",
      host: "shop.example.com",
    });
    expect(["store-0", "store-1"]).toContain(store.body.pod);
    const landing = await throughGateway(copy, "/");
    expect(landing.body).toMatchObject({ pod: "landing-0", service: "landing" });
    // Envoy's own log lines are in strait's log, with Envoy's logger name, at their level.
    const envoyLine = await proc.waitForLog(
      (l) => l.component === "envoy" && String(l.msg).includes("add/update listener"),
    );
    expect(envoyLine.level).toBe(30);
    expect(envoyLine.envoyLogger).toBe("upstream");
    const info = (await (await fetch(`${base}/api/v1/envoy`)).json()) as {
      managed: boolean;
      adminAddress: string;
    };
    expect(info.managed).toBe(true);
    expect(info.adminAddress).toMatch(/^127\.0\.0\.1:\d+$/);

    // proxy-config: Envoy's own dump beside what strait serves; every resource the same.
    const { stdout } = await run(STRAIT_BIN, ["proxy-config", "--address", base.slice(7), "-o", "json"]);
    const shown = JSON.parse(stdout) as {
      node: string;
      resources: { kind: string; name: string; state: string }[];
    };
    expect(shown.node).toBe("strait-managed-envoy");
    expect(shown.resources.map((r) => `${r.kind} ${r.name} ${r.state}`).sort()).toEqual([
      "clusters shop/landing:80 SYNCED",
      "clusters shop/store:80 SYNCED",
      "endpoints shop/landing:80 SYNCED",
      "endpoints shop/store:80 SYNCED",
      `listeners infra/edge/${copy.gateway.port} SYNCED`,
      `routes infra/edge/${copy.gateway.port} SYNCED`,
    ]);
  });

  it("restarts Envoy with back-off when it dies, and serves again", async () => {
    const { copy, proc, base } = await startDemo();
    await waitReady(base);
    const before = (await (await fetch(`${base}/api/v1/envoy`)).json()) as { pid: number; restarts: number };
    process.kill(before.pid, "SIGKILL");
    const exited = await proc.waitForLog((l) => l.msg === "Envoy exited; restarting");
    expect(exited.signal).toBe("SIGKILL");
    let after = before;
    for (let i = 0; i < 100 && after.restarts === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = (await (await fetch(`${base}/api/v1/envoy`)).json()) as typeof before;
    }
    expect(after.restarts).toBe(1);
    expect(after.pid).not.toBe(before.pid);
    await waitReady(base);
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = await throughGateway(copy, "/store").then(
        (r) => r.status,
        () => 0,
      );
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
  });

  it("speaks state-of-the-world xDS when asked (--envoy-xds-api sotw)", async () => {
    const { copy, base } = await startDemo(["--envoy-xds-api", "sotw"]);
    await waitReady(base);
    const clients = (await (await fetch(`${base}/api/v1/xds/clients`)).json()) as {
      clients: { mode: string; node: { id: string } }[];
    };
    expect(clients.clients.map((c) => [c.node.id, c.mode])).toEqual([["strait-managed-envoy", "sotw"]]);
    expect((await throughGateway(copy, "/store")).status).toBe(200);
  });

  it("stays not ready while its Envoy has not ACKed, and says why", async () => {
    // The real Envoy, started through a wrapper that points its bootstrap's xDS cluster at a closed
    // port: it runs, but never gets a configuration.
    const dir = mkdtempSync(join(tmpdir(), "strait-envoy-wrapper-"));
    const wrapper = join(dir, "envoy");
    writeFileSync(
      wrapper,
      `#!/bin/sh
for a in "$@"; do case "$prev" in -c) sed -Ei 's/"port_value": [1-9][0-9]*/"port_value": 1/' "$a";; esac; prev=$a; done
exec ${DEFAULT_ENVOY_BINARY} "$@"
`,
    );
    chmodSync(wrapper, 0o755);
    const { base, proc } = await startDemo(["--envoy-binary", wrapper]);
    await proc.waitForLog((l) => l.msg === "managed Envoy running", 30_000);
    // The servers listen before the first load: once it is reconciled and published, only Envoy is missing.
    await proc.waitForLog((l) => l.msg === "source synced", 30_000);
    const readyz = async () => {
      const res = await fetch(`${base}/readyz`);
      return { status: res.status, body: (await res.json()) as { reason: string; failed: string[] } };
    };
    for (let i = 0; i < 100 && (await readyz()).body.failed.join() !== "managed-envoy"; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; i < 10; i++) {
      expect(await readyz()).toEqual({
        status: 503,
        body: {
          status: "not ready",
          reason: "the managed Envoy is not connected to the xDS server yet",
          failed: ["managed-envoy"],
        },
      });
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await (await fetch(`${base}/readyz/managed-envoy`)).text()).toBe(
      "[-]managed-envoy failed: the managed Envoy is not connected to the xDS server yet\nreadyz check failed\n",
    );
  });

  it("refuses to start with a clear error when the Envoy binary is missing", async () => {
    const copy = await copyQuickstart();
    const proc = new StraitProcess([
      "run",
      "-f",
      copy.dir,
      "--http-address",
      "127.0.0.1:0",
      "--xds-address",
      "127.0.0.1:0",
      "--envoy-binary",
      "/nonexistent/envoy",
    ]);
    expect(await proc.exited).toBe(1);
    expect(proc.stderr.join("\n")).toContain("no Envoy binary at /nonexistent/envoy");
  });
});
