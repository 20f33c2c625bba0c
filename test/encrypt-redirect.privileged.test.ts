/**
 * The source half of the encryption tunnel end to end, in network namespaces
 * on this machine's kernel: a node namespace running `strait agent` (its
 * desired state through the local API, with `encrypt` entries), a pod made by
 * the real CNI chain, and a real Envoy (build/bin/envoy) in the node
 * namespace standing in for the outbound encryption listener: transparent on
 * 127.0.0.1:15004, it answers every request with the connection's local and
 * remote addresses, so the test sees that the flow to a pod of another node
 * reached it with its original destination and source.
 *
 * The tunnel itself (the listener's CONNECT over mutual TLS to the other
 * node's Envoy) is the controller's configuration, checked on real Envoy by
 * test/encryption-inbound.e2e.test.ts; the destination half of the datapath
 * by src/datapath/lxc.privileged.test.ts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentRequest } from "../src/agent/client.ts";
import type { Flow } from "../src/agent/flows.ts";
import { DEFAULT_ENVOY_BINARY } from "../src/envoy/index.ts";
import { ENCRYPT_PROXY_PORT, type EncryptEntry } from "../src/model/encryption.ts";
import { transparentListenerOptions } from "../src/xds/translate/l7-policy.ts";
import { canRunKernelTests, KERNEL_SKIP_REASON } from "./support/kernel.ts";
import { NodeLab, type NsHelper, type Pod, sweepLeftovers } from "./support/netns-lab.ts";
import type { StraitProcess } from "./support/strait-process.ts";
import { waitForValue as waitFor } from "./support/wait.ts";

const OCTET = 247;
const CLIENT = 1001;
const SERVER = 2002;
// A pod of another node: the ipcache says so; nothing holds the address here.
const REMOTE = { ip: "10.248.0.9", node: "10.233.248.2" };
const FLOW: EncryptEntry = {
  localIdentity: CLIENT,
  remoteIdentity: SERVER,
  protocol: "TCP",
  port: 8080,
  proxyPort: ENCRYPT_PROXY_PORT,
};

const any = (type: string, body: Record<string, unknown> = {}) => ({
  "@type": `type.googleapis.com/${type}`,
  ...body,
});

/** A transparent listener on the encryption port whose HTTP answer is `encrypt <local address> from <client>`. */
function envoyConfig(): unknown {
  const manager = any("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", {
    stat_prefix: "encrypt",
    local_reply_config: {
      body_format: {
        text_format_source: {
          inline_string: "encrypt %DOWNSTREAM_LOCAL_ADDRESS% from %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%\n",
        },
      },
    },
    route_config: {
      virtual_hosts: [
        {
          name: "all",
          domains: ["*"],
          routes: [
            { match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "-" } } },
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
  });
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
    static_resources: {
      listeners: [
        {
          name: "strait/encrypt/outbound",
          address: { socket_address: { address: "127.0.0.1", port_value: ENCRYPT_PROXY_PORT } },
          ...transparentListenerOptions(),
          filter_chains: [
            { filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: manager }] },
          ],
        },
      ],
    },
  };
}

describe.skipIf(!canRunKernelTests)(
  `encrypt-map redirect to the node Envoy ${KERNEL_SKIP_REASON ?? ""}`,
  () => {
    let lab: NodeLab;
    let agent: StraitProcess;
    let envoy: ChildProcess;
    let node: NsHelper;
    let client: Pod;
    let adminPort = 0;

    const state = (encrypt: readonly EncryptEntry[]) => ({
      endpoints: [{ id: 1, identity: CLIENT, addresses: [], hostInterface: "", pod: "default/client" }],
      policies: [],
      ipcache: [
        { prefix: `${client.ip}/32`, identity: CLIENT },
        { prefix: `${REMOTE.ip}/32`, identity: SERVER, node: REMOTE.node },
      ],
      encrypt,
    });
    const put = (body: unknown) => agentRequest(lab.socket, "PUT", "/api/v1/desired-state", body);
    const get = (port: number, timeoutMs = 2000) =>
      client.helper.call("httpRequest", { host: REMOTE.ip, port, path: "/", timeoutMs });
    const flowTo = (port: number) =>
      waitFor(`the flow to port ${port}`, async () =>
        ((await agentRequest(lab.socket, "GET", "/api/v1/flows")).body as Flow[]).find(
          (f) => f.destination.ip === REMOTE.ip && f.destination.port === port,
        ),
      );

    beforeAll(async () => {
      sweepLeftovers();
      lab = new NodeLab(OCTET);
      agent = lab.startAgent("debug");
      await agent.waitForLog((l) => l.msg === "agent API listening");
      client = lab.addPod("client");
      const r = await put(state([FLOW]));
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
      await waitFor("Envoy's encryption listener", async () => {
        const l = await node.call("httpRequest", { host: "127.0.0.1", port: adminPort, path: "/listeners" });
        return String(l.body ?? "").includes(`127.0.0.1:${ENCRYPT_PROXY_PORT}`) ? true : undefined;
      });
    }, 60_000);

    afterAll(async () => {
      envoy?.kill("SIGTERM");
      await agent?.stop("SIGKILL");
      lab?.cleanup();
    });

    it("lists its encrypt entries and installs the TPROXY rule of the encryption listener's port", async () => {
      const status = (await agentRequest(lab.socket, "GET", "/api/v1/status")).body as {
        encrypt: EncryptEntry[];
        proxyPorts: number[];
        maps: Record<string, { entries: number }>;
      };
      expect(status.encrypt).toEqual([FLOW]);
      expect(status.proxyPorts).toEqual([ENCRYPT_PROXY_PORT]);
      expect(status.maps.strait_encrypt?.entries).toBe(1);
      expect(lab.inNode("nft", ["list", "table", "ip", "strait"])).toContain(
        `tproxy to 127.0.0.1:${ENCRYPT_PROXY_PORT}`,
      );
    });

    it("brings a pod's connection to a pod of another node to the encryption listener, with the original destination and source", async () => {
      expect(await get(FLOW.port as number)).toMatchObject({
        ok: true,
        status: 200,
        body: `encrypt ${REMOTE.ip}:${FLOW.port} from ${client.ip}\n`,
      });
      expect(await flowTo(FLOW.port as number)).toMatchObject({
        verdict: "REDIRECTED",
        proxyPort: ENCRYPT_PROXY_PORT,
        direction: "egress",
        destination: { identity: SERVER },
      });
    });

    it("leaves another port in the clear, and stops redirecting once the entry is gone", async () => {
      // Nothing routes the remote pod's address here: in the clear, the connection goes nowhere.
      expect(await get(8081, 600)).toMatchObject({ ok: false });
      expect(await flowTo(8081)).toMatchObject({ verdict: "FORWARDED" });

      expect((await put(state([]))).status).toBe(200);
      expect(lab.inNode("nft", ["list", "table", "ip", "strait"])).not.toContain(
        `tproxy to 127.0.0.1:${ENCRYPT_PROXY_PORT}`,
      );
      expect(await get(FLOW.port as number, 600)).toMatchObject({ ok: false });
      const status = (await agentRequest(lab.socket, "GET", "/api/v1/status")).body as {
        encrypt: EncryptEntry[];
        maps: Record<string, { entries: number }>;
      };
      expect(status.encrypt).toEqual([]);
      expect(status.maps.strait_encrypt?.entries).toBe(0);
    });
  },
);
