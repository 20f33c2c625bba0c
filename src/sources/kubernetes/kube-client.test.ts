import { afterEach, describe, expect, it } from "vitest";
import { KubeApiServer } from "../../../test/support/kube-apiserver/server.ts";
import { KubeClient, loadKubeConfig } from "./kube-client.ts";

const servers: KubeApiServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

describe("KubeClient", () => {
  it("reuses connections across requests instead of one per request", async () => {
    const server = await KubeApiServer.start();
    servers.push(server);
    const client = new KubeClient(loadKubeConfig(server.kubeconfig).config);
    for (let i = 0; i < 50; i++) {
      const res = await client.request("GET", "/api/v1/namespaces/default/configmaps");
      expect(res.ok).toBe(true);
    }
    expect(server.connections).toBeLessThanOrEqual(2);
  });

  it("returns HTTP errors and an unreachable server as values with the server's reason", async () => {
    const server = await KubeApiServer.start();
    servers.push(server);
    const client = new KubeClient(loadKubeConfig(server.kubeconfig).config);
    const missing = await client.request("GET", "/api/v1/namespaces/default/configmaps/nope");
    expect(missing).toMatchObject({ ok: false, status: 404, reason: "NotFound" });
    const kubeconfig = server.kubeconfig;
    await server.close();
    servers.length = 0;
    const down = await new KubeClient(loadKubeConfig(kubeconfig).config).request("GET", "/api/v1/configmaps");
    expect(down).toMatchObject({ ok: false, status: 0 });
  });
});
