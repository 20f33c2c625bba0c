/**
 * The GAMMA datapath redirect end to end, in network namespaces on this
 * machine's kernel: a node namespace running `strait agent` (its desired state
 * through the local API, with `meshServices`), a pod made by the real CNI
 * chain, and a real Envoy (build/bin/envoy) in the node namespace with a
 * static transparent listener on 127.0.0.1:15003 that answers every request
 * with the connection's local address, so the test sees whether the original
 * destination (the ClusterIP, which no interface holds) was preserved.
 *
 * The translation half (HTTPRoutes with a Service parent → the mesh listener
 * and the MeshService resources over xDS: src/gateway/mesh.ts,
 * src/xds/translate/mesh-listener.ts) is the controller's; this test feeds
 * the agent what it sends, so it needs no controller.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentRequest } from "../src/agent/client.ts";
import type { Flow } from "../src/agent/flows.ts";
import { DEFAULT_ENVOY_BINARY } from "../src/envoy/index.ts";
import { MESH_PROXY_PORT, type MeshService } from "../src/model/mesh-service.ts";
import { transparentListenerOptions } from "../src/xds/translate/l7-policy.ts";
import { canRunKernelTests, KERNEL_SKIP_REASON } from "./support/kernel.ts";
import { NodeLab, type NsHelper, type Pod, sweepLeftovers } from "./support/netns-lab.ts";
import type { StraitProcess } from "./support/strait-process.ts";
import { waitForValue as waitFor } from "./support/wait.ts";

const OCTET = 234;
const CLIENT = 1001;
// Addresses no interface of any namespace holds, as a Service's ClusterIP.
const WEB: MeshService = {
  service: "default/web",
  address: "10.96.0.10",
  port: 80,
  protocol: "TCP",
  proxyPort: MESH_PROXY_PORT,
};
const API: MeshService = { ...WEB, service: "default/api", address: "10.96.0.11", port: 8080 };

/** A transparent listener whose HTTP answer is `mesh <local address> from <client>`. */
function envoyConfig(): unknown {
  const any = (type: string, body: Record<string, unknown> = {}) => ({
    "@type": `type.googleapis.com/${type}`,
    ...body,
  });
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
    static_resources: {
      listeners: [
        {
          name: "strait/mesh",
          // The port is the thing under test, in the test's own node namespace.
          address: { socket_address: { address: "127.0.0.1", port_value: MESH_PROXY_PORT } },
          // What the controller gives the mesh listener (and the L7 policy's) besides its chains.
          ...transparentListenerOptions(),
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: any(
                    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    {
                      stat_prefix: "mesh",
                      // Direct responses are local replies: the body format fills in the addresses.
                      local_reply_config: {
                        body_format: {
                          text_format_source: {
                            inline_string:
                              "mesh %DOWNSTREAM_LOCAL_ADDRESS% from %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%\n",
                          },
                        },
                      },
                      route_config: {
                        virtual_hosts: [
                          {
                            name: "all",
                            domains: ["*"],
                            routes: [
                              {
                                match: { prefix: "/" },
                                direct_response: { status: 200, body: { inline_string: "-" } },
                              },
                            ],
                          },
                        ],
                      },
                      http_filters: [
                        {
                          name: "envoy.filters.http.router",
                          typed_config: any("envoy.extensions.filters.http.router.v3.Router"),
                        },
                      ],
                    },
                  ),
                },
              ],
            },
          ],
        },
      ],
    },
  };
}

describe.skipIf(!canRunKernelTests)(`GAMMA mesh redirect to a real Envoy ${KERNEL_SKIP_REASON ?? ""}`, () => {
  let lab: NodeLab;
  let agent: StraitProcess;
  let envoy: ChildProcess;
  let node: NsHelper;
  let client: Pod;
  let adminPort = 0;

  const state = (meshServices: readonly MeshService[]) => ({
    endpoints: [{ id: 1, identity: CLIENT, addresses: [], hostInterface: "", pod: "default/client" }],
    policies: [],
    ipcache: [{ prefix: `${client.ip}/32`, identity: CLIENT }],
    meshServices,
  });

  const put = (body: unknown) => agentRequest(lab.socket, "PUT", "/api/v1/desired-state", body);

  /** Connections Envoy's mesh listener accepted so far. */
  async function accepted(): Promise<number> {
    const r = await node.call("httpRequest", {
      host: "127.0.0.1",
      port: adminPort,
      path: `/stats?filter=^listener\\.127\\.0\\.0\\.1_${MESH_PROXY_PORT}\\.downstream_cx_total$`,
    });
    const m = /downstream_cx_total: (\d+)/.exec(String(r.body ?? ""));
    if (m === null) throw new Error(`no listener counter in ${String(r.body)}`);
    return Number(m[1]);
  }

  const get = (host: string, port: number, timeoutMs = 2000) =>
    client.helper.call("httpRequest", { host, port, path: "/", timeoutMs });

  beforeAll(async () => {
    sweepLeftovers();
    lab = new NodeLab(OCTET);
    agent = lab.startAgent("debug");
    await agent.waitForLog((l) => l.msg === "agent API listening");
    client = lab.addPod("client");
    const r = await put(state([WEB, API]));
    expect(r.status, JSON.stringify(r.body)).toBe(200);

    const config = join(lab.dir, "envoy.json");
    const adminFile = join(lab.dir, "envoy-admin");
    writeFileSync(config, JSON.stringify(envoyConfig()));
    envoy = spawn(
      "nsenter",
      [
        `--net=/run/netns/${lab.nodeNs}`,
        DEFAULT_ENVOY_BINARY,
        "-c",
        config,
        "--disable-hot-restart",
        "--admin-address-path",
        adminFile,
        "-l",
        "warn",
        "--concurrency",
        "1",
      ],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
    const admin = await waitFor("Envoy's admin address", async () =>
      existsSync(adminFile) ? readFileSync(adminFile, "utf8").trim() || undefined : undefined,
    );
    adminPort = Number(admin.split(":")[1]);
    node = lab.nodeHelper();
    await waitFor("Envoy's mesh listener", async () => {
      const l = await node.call("httpRequest", { host: "127.0.0.1", port: adminPort, path: "/listeners" });
      return String(l.body ?? "").includes(`strait/mesh::127.0.0.1:${MESH_PROXY_PORT}`) ? true : undefined;
    });
  }, 60_000);

  afterAll(async () => {
    envoy?.kill("SIGTERM");
    await agent?.stop("SIGKILL");
    lab?.cleanup();
  });

  it("lists the mesh services it programmed, and installs the TPROXY rule of their listener's port", async () => {
    const status = (await agentRequest(lab.socket, "GET", "/api/v1/status")).body as {
      endpoints: { pod: string; state: string }[];
      meshServices: MeshService[];
      proxyPorts: number[];
      maps: Record<string, { entries: number }>;
    };
    expect(status.endpoints).toMatchObject([{ pod: "default/client", state: "programmed" }]);
    expect(status.meshServices).toEqual([WEB, API]);
    expect(status.proxyPorts).toEqual([MESH_PROXY_PORT]);
    expect(status.maps.strait_mesh_svc?.entries).toBe(2);
    expect(lab.inNode("nft", ["list", "table", "ip", "strait"])).toContain(
      `tproxy to 127.0.0.1:${MESH_PROXY_PORT}`,
    );
  });

  it("brings a pod's connection to a ClusterIP:port to the node's Envoy, with the original destination and source kept", async () => {
    const before = await accepted();
    expect(await get(WEB.address, WEB.port)).toMatchObject({
      ok: true,
      status: 200,
      body: `mesh ${WEB.address}:${WEB.port} from ${client.ip}\n`,
    });
    expect(await get(API.address, API.port)).toMatchObject({
      ok: true,
      body: `mesh ${API.address}:${API.port} from ${client.ip}\n`,
    });
    expect((await accepted()) - before).toBe(2);
    const flow = await waitFor("the redirected flow", async () =>
      ((await agentRequest(lab.socket, "GET", "/api/v1/flows")).body as Flow[]).find(
        (f) => f.destination.ip === WEB.address && f.destination.port === WEB.port,
      ),
    );
    expect(flow).toMatchObject({ verdict: "REDIRECTED", proxyPort: MESH_PROXY_PORT, direction: "egress" });
  });

  it("keeps the original destination when the node also DNATs the ClusterIP, as kube-proxy does", async () => {
    // kube-proxy's rule for the Service, at the nat priority: a redirected flow must never meet it.
    // Loading a nat table also turns conntrack on in the node namespace: before the proxy's side
    // of a redirected flow was left untracked as well, about one connection in seven then saw the
    // client's own address as its local address (conntrack had taken Envoy's first reply for a new
    // flow from the ClusterIP to the client, and SO_ORIGINAL_DST answered that flow's destination).
    const natTable = "kube-proxy-stand-in";
    lab.inNode(
      "nft",
      ["-f", "-"],
      `table ip ${natTable} {\n  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    ip daddr ${WEB.address} tcp dport ${WEB.port} dnat to 10.96.0.99:${WEB.port}\n  }\n}\n`,
    );
    try {
      expect(lab.inNode("nft", ["list", "table", "ip", natTable])).toContain("dnat to 10.96.0.99");
      const bodies = [];
      for (let i = 0; i < 30; i++) bodies.push((await get(WEB.address, WEB.port)).body);
      expect(new Set(bodies)).toEqual(new Set([`mesh ${WEB.address}:${WEB.port} from ${client.ip}\n`]));
      // Neither direction of the redirected flows is in the node's conntrack table.
      const tracked = lab
        .inNode("cat", ["/proc/net/nf_conntrack"])
        .split("\n")
        .filter((line) => line.includes(`=${WEB.address} `));
      expect(tracked).toEqual([]);
    } finally {
      lab.inNode("nft", ["delete", "table", "ip", natTable]);
    }
  });

  it("does not redirect a port of the ClusterIP that is not in the map", async () => {
    const before = await accepted();
    expect(await get(WEB.address, 81, 600)).toMatchObject({ ok: false });
    expect(await get(API.address, WEB.port, 600)).toMatchObject({ ok: false });
    expect(await accepted()).toBe(before);
    const flow = await waitFor("the flow to port 81", async () =>
      ((await agentRequest(lab.socket, "GET", "/api/v1/flows")).body as Flow[]).find(
        (f) => f.destination.ip === WEB.address && f.destination.port === 81,
      ),
    );
    expect(flow).toMatchObject({ verdict: "FORWARDED" });
  });

  it("stops redirecting new connections once the entry is removed, and keeps the established one", async () => {
    const kept = await client.helper.call("tcpOpen", { host: WEB.address, port: WEB.port, name: "kept" });
    expect(kept.ok).toBe(true);
    const request = "GET / HTTP/1.1\r\nHost: web\r\n\r"; // tcpSend adds the last "\n"
    expect(await client.helper.call("tcpSend", { name: "kept", message: request })).toMatchObject({
      ok: true,
      reply: "HTTP/1.1 200 OK\r",
    });

    expect((await put(state([API]))).status).toBe(200);
    const before = await accepted();
    expect(await get(WEB.address, WEB.port, 600)).toMatchObject({ ok: false });
    expect(await get(API.address, API.port)).toMatchObject({ ok: true, status: 200 });
    expect((await accepted()) - before).toBe(1);

    // Every mesh service gone: the listener's TPROXY rule goes too; the established connection
    // still reaches Envoy (its CT entry keeps the mark, its packets find Envoy's transparent socket).
    expect((await put(state([]))).status).toBe(200);
    expect(lab.inNode("nft", ["list", "table", "ip", "strait"])).not.toContain(
      `tproxy to 127.0.0.1:${MESH_PROXY_PORT}`,
    );
    expect(await client.helper.call("tcpSend", { name: "kept", message: request })).toMatchObject({
      ok: true,
      reply: "HTTP/1.1 200 OK\r",
    });
    const status = (await agentRequest(lab.socket, "GET", "/api/v1/status")).body as {
      meshServices: MeshService[];
      proxyPorts: number[];
    };
    expect(status).toMatchObject({ meshServices: [], proxyPorts: [] });
  });
});
