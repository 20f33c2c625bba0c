import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { captureLogger } from "../../test/support/capture-logger.ts";
import { KubeApiServer } from "../../test/support/kube-apiserver/server.ts";
import { waitFor } from "../../test/support/wait.ts";
import { RUN_SETTINGS, resolveSettings } from "./config.ts";
import { type RunningController, startController } from "./start.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function settings(flags: Record<string, unknown>) {
  return resolveSettings(
    RUN_SETTINGS,
    { "http-address": "127.0.0.1:0", "xds-address": "127.0.0.1:0", ...flags },
    {},
    undefined,
  );
}

async function start(flags: Record<string, unknown>): Promise<RunningController> {
  const running = await startController(settings(flags), captureLogger("silent").logger);
  cleanups.push(() => running.stop());
  return running;
}

describe("cluster mode configuration", () => {
  it("fails with a configuration error naming the file when the kubeconfig cannot be read", async () => {
    await expect(start({ kubeconfig: "/nonexistent/kubeconfig" })).rejects.toMatchObject({
      code: "E_CONFIG",
      message: expect.stringContaining("cannot load kubeconfig"),
    });
  });

  it("fails when the kubeconfig has no current cluster", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "strait-kc-")), "config");
    writeFileSync(file, "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n");
    await expect(start({ kubeconfig: file })).rejects.toMatchObject({ code: "E_CONFIG" });
  });

  it("refuses lease timings that could let two leaders overlap, and durations that are not durations", async () => {
    const server = await KubeApiServer.start();
    cleanups.push(() => server.close());
    await expect(
      start({ kubeconfig: server.kubeconfig, "lease-duration": "5s", "lease-renew-deadline": "10s" }),
    ).rejects.toMatchObject({ code: "E_CONFIG", message: expect.stringContaining("--lease-renew-deadline") });
    await expect(
      start({ kubeconfig: server.kubeconfig, "lease-retry-period": "soon" }),
    ).rejects.toMatchObject({
      code: "E_CONFIG",
      message: expect.stringContaining("--lease-retry-period"),
    });
  });

  it("elects on the Lease named by the settings, in the given namespace, under the given identity", async () => {
    const server = await KubeApiServer.start();
    cleanups.push(() => server.close());
    const running = await start({
      kubeconfig: server.kubeconfig,
      namespace: "ops",
      "lease-name": "my-lease",
      identity: "me",
    });
    await waitFor(() => server.get("Lease", "ops", "my-lease") !== undefined, "the Lease");
    expect(server.get("Lease", "ops", "my-lease")?.spec).toMatchObject({
      holderIdentity: "me",
      leaseDurationSeconds: 15,
    });
    await waitFor(() => running.controller.notReadyReason() === undefined, "readiness");
    const metrics = await (await fetch(`http://${running.httpAddress}/metrics`)).text();
    expect(metrics).toMatch(/^strait_leader 1$/m);
  });

  it("leaves a foreign Service with the Gateway's Service name alone and counts it in strait_owned_object_conflicts", async () => {
    const server = await KubeApiServer.start();
    cleanups.push(() => server.close());
    server.create({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: "strait" },
      spec: { controllerName: "strait.dev/gateway-controller" },
    });
    server.create({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "edge", namespace: "infra" },
      spec: { gatewayClassName: "strait", listeners: [{ name: "http", protocol: "HTTP", port: 80 }] },
    });
    server.create({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "edge-strait", namespace: "infra" },
      spec: { ports: [{ port: 1234 }] },
    });
    const running = await start({ kubeconfig: server.kubeconfig });
    const conflicts = async () =>
      /^strait_owned_object_conflicts (\d+)$/m.exec(
        await (await fetch(`http://${running.httpAddress}/metrics`)).text(),
      )?.[1];
    for (let i = 0; i < 100 && (await conflicts()) !== "1"; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await conflicts()).toBe("1");
    expect(server.requestsFor("services").filter((r) => r.method !== "GET")).toEqual([]);
    server.delete("Service", "infra", "edge-strait");
    await waitFor(() => server.get("Service", "infra", "edge-strait") !== undefined, "strait's own Service");
    expect(await conflicts()).toBe("0");
  });
});
