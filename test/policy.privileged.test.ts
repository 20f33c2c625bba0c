/**
 * CiliumNetworkPolicy end to end, in network namespaces on this machine's
 * kernel, every part real: a node namespace running the controller (`strait
 * run -f DIR`, the file source watching a folder), the agent (`strait agent
 * --xds-address`, its policy over xDS) and the node's Envoy (build/bin/envoy,
 * bootstrapped to the same ADS server, its L7 listeners behind the agent's
 * TPROXY rules); pods made by the CNI chain (ptp + host-local, then
 * strait-cni); a host outside the cluster for world and CIDR rules. The
 * policies are edited in the watched folder, as a user would.
 *
 *   default/server   app=server    HTTP on 80 (L7 rule: GET /public), TCP echo on 8080
 *   default/client   app=client, egress=restricted (egress policy: server, world:80, CIDR:9000)
 *   default/bad      app=client, role=bad (denied on 8080 by an ingressDeny)
 *   other/intruder   app=client in another namespace
 *   world            198.51.100.10 and .20 (TCP echo on 80, 9000, 7000)
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentRequest } from "../src/agent/client.ts";
import type { Flow } from "../src/agent/flows.ts";
import { DEFAULT_ENVOY_BINARY, ManagedEnvoy } from "../src/envoy/index.ts";
import { canRunKernelTests, KERNEL_SKIP_REASON } from "./support/kernel.ts";
import { NodeLab, type NsHelper, type Pod, sweepLeftovers } from "./support/netns-lab.ts";
import { STRAIT_BIN, type StraitProcess } from "./support/strait-process.ts";

const OCTET = 233;
const NODE = "node-1";

const L7_POLICY = (paths: string) => `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: server-ingress, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
    - fromEndpoints: [{ matchLabels: { app: client } }]
      toPorts:
        - ports: [{ port: "80", protocol: TCP }]
          rules:
            http: [{ method: GET, path: "${paths}" }]
    - fromEndpoints: [{ matchLabels: { app: client } }]
      toPorts:
        - ports: [{ port: "8080", protocol: TCP }]
`;

const DENY_POLICY = `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: deny-bad, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingressDeny:
    - fromEndpoints: [{ matchLabels: { role: bad } }]
      toPorts: [{ ports: [{ port: "8080", protocol: TCP }] }]
`;

const EGRESS_POLICY = `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: client-egress, namespace: default }
spec:
  endpointSelector: { matchLabels: { egress: restricted } }
  egress:
    - toEndpoints: [{ matchLabels: { app: server } }]
    - toEntities: [world]
      toPorts: [{ ports: [{ port: "80", protocol: TCP }] }]
    - toCIDRSet:
        - cidr: 198.51.100.0/24
          except: [198.51.100.20/32]
      toPorts: [{ ports: [{ port: "9000", protocol: TCP }] }]
`;

const INVALID_POLICY = `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: broken, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
    - fromEndpoints: [{ matchLabels: { app: anything } }]
      fromCIDR: [10.0.0.0/8]
`;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!canRunKernelTests)(`CiliumNetworkPolicy end to end ${KERNEL_SKIP_REASON ?? ""}`, () => {
  let lab: NodeLab;
  let controller: StraitProcess;
  let agent: StraitProcess;
  let envoy: ManagedEnvoy;
  let node: NsHelper;
  let world: NsHelper;
  let server: Pod;
  let client: Pod;
  let bad: Pod;
  let intruder: Pod;
  let manifests: string;
  let opsAddress: string;
  const gateway = `10.${OCTET}.0.1`;

  const write = (file: string, text: string) => {
    writeFileSync(`${join(manifests, file)}.tmp`, text);
    execFileSync("mv", [`${join(manifests, file)}.tmp`, join(manifests, file)]);
  };

  const podManifest = (p: Pod, labels: Record<string, string>, ports: string) => `
apiVersion: v1
kind: Pod
metadata: { name: ${p.name}, namespace: ${p.namespace}, labels: ${JSON.stringify(labels)} }
spec: { nodeName: ${NODE}, containers: [{ name: main, image: example${ports} }] }
status: { podIP: ${p.ip}, podIPs: [{ ip: ${p.ip} }], phase: Running }
`;

  const http = (from: Pod, method: string, path: string) =>
    from.helper.call("httpRequest", { host: server.ip, port: 80, method, path, timeoutMs: 3000 });

  beforeAll(async () => {
    sweepLeftovers();
    lab = new NodeLab(OCTET);
    manifests = join(lab.dir, "manifests");
    mkdirSync(manifests);
    const accessLog = join(lab.dir, "envoy-access.log");
    writeFileSync(
      join(manifests, "cluster.yaml"),
      `apiVersion: v1
kind: Node
metadata: { name: ${NODE} }
status: { addresses: [{ type: InternalIP, address: ${gateway} }] }
---
apiVersion: v1
kind: Namespace
metadata: { name: default }
---
apiVersion: v1
kind: Namespace
metadata: { name: other }
`,
    );
    controller = lab.startInNode([
      "run",
      "-f",
      manifests,
      "--xds-address",
      "127.0.0.1:0",
      "--http-address",
      "127.0.0.1:0",
      "--l7-access-log",
      accessLog,
      "--log-level",
      "debug",
    ]);
    const xds = await controller.waitForLog((l) => l.msg === "xDS server listening");
    opsAddress = String(
      (await controller.waitForLog((l) => String(l.msg).startsWith("operations server listening"))).address,
    );
    const xdsAddress = String(xds.address);
    agent = lab.startAgent("debug", [
      "--xds-address",
      xdsAddress,
      "--node-name",
      NODE,
      "--envoy-access-log",
      accessLog,
    ]);
    await agent.waitForLog((l) => l.msg === "agent API listening");
    server = lab.addPod("server");
    client = lab.addPod("client");
    bad = lab.addPod("bad");
    intruder = lab.addPod("intruder", "other");
    world = lab.addExternal("world", ["198.51.100.10", "198.51.100.20"]);
    write(
      "pods.yaml",
      [
        podManifest(server, { app: "server" }, ", ports: [{ name: http, containerPort: 80 }]"),
        podManifest(client, { app: "client", egress: "restricted" }, ""),
        podManifest(bad, { app: "client", role: "bad" }, ""),
        podManifest(intruder, { app: "client" }, ""),
      ].join("---\n"),
    );
    write("server-ingress.yaml", L7_POLICY("/public"));
    write("deny-bad.yaml", DENY_POLICY);
    write("client-egress.yaml", EGRESS_POLICY);

    expect((await server.helper.call("listenHttp", { port: 80 })).ok).toBe(true);
    expect((await server.helper.call("listenTcp", { port: 8080 })).ok).toBe(true);
    for (const port of [80, 9000, 7000]) expect((await world.call("listenTcp", { port })).ok).toBe(true);

    const [host, port] = xdsAddress.split(":");
    envoy = new ManagedEnvoy({
      binary: DEFAULT_ENVOY_BINARY,
      bootstrap: {
        nodeId: `envoy-${NODE}`,
        node: NODE,
        xds: { host: host ?? "127.0.0.1", port: Number(port) },
        api: "delta",
        admin: { host: "127.0.0.1", port: 0 },
      },
      logger: pino({ level: "warn" }),
      concurrency: 1,
      commandPrefix: ["nsenter", `--net=/run/netns/${lab.nodeNs}`],
    });
    await envoy.start();
    node = lab.nodeHelper();
    // Ready when the agent programmed every pod and the node's Envoy has its L7 listener.
    await waitFor("the pods programmed", async () => {
      const s = (await agentRequest(lab.socket, "GET", "/api/v1/status")).body as {
        endpoints: { pod: string; state: string }[];
      };
      return s.endpoints.filter((e) => e.state === "programmed").length === 4 ? true : undefined;
    });
    await waitFor("Envoy's L7 listener", async () => {
      const r = await node.call("httpRequest", {
        host: "127.0.0.1",
        port: Number(envoy.adminAddress?.split(":")[1]),
        path: "/listeners",
      });
      return String(r.body ?? "").includes("strait/l7/ingress/15001") ? true : undefined;
    });
  }, 120_000);

  afterAll(async () => {
    await envoy?.stop();
    await agent?.stop("SIGKILL");
    await controller?.stop("SIGTERM");
    lab?.cleanup();
  });

  it("lets GET /public through the node's Envoy, and answers POST and GET /private with Envoy's 403", async () => {
    expect(await http(client, "GET", "/public")).toMatchObject({
      ok: true,
      status: 200,
      body: "server:GET /public",
    });
    const post = await http(client, "POST", "/public");
    expect(post).toMatchObject({ ok: true, status: 403 });
    expect(String(post.body)).toMatch(/RBAC: access denied/);
    expect(await http(client, "GET", "/private")).toMatchObject({ ok: true, status: 403 });
    // The allowed request reached the server from the client's own address (original source).
    const rules = lab.inNode("nft", ["list", "table", "ip", "strait"]);
    expect(rules).toContain("tproxy to 127.0.0.1:15001");
  });

  it("denies a pod of another namespace in the kernel (the policy's peers are its own namespace's)", async () => {
    expect(await http(intruder, "GET", "/public")).toMatchObject({ ok: false });
    expect(
      await intruder.helper.call("tcpConnect", { host: server.ip, port: 8080, timeoutMs: 500 }),
    ).toMatchObject({ ok: false, error: "timeout" });
  });

  it("lets a deny rule win over an allow rule", async () => {
    expect(await client.helper.call("tcpConnect", { host: server.ip, port: 8080 })).toMatchObject({
      ok: true,
      reply: "server:hello",
    });
    expect(
      await bad.helper.call("tcpConnect", { host: server.ip, port: 8080, timeoutMs: 500 }),
    ).toMatchObject({
      ok: false,
    });
    // The deny is on 8080 only: bad is still an app=client peer on port 80.
    expect(await http(bad, "GET", "/public")).toMatchObject({ ok: true, status: 200 });
  });

  it("allows toEntities world and toCIDRSet (with its except) and nothing else of the egress", async () => {
    const to = (host: string, port: number) =>
      client.helper.call("tcpConnect", { host, port, timeoutMs: 500 });
    const first = await to("198.51.100.10", 80);
    expect(first, JSON.stringify(first)).toMatchObject({ ok: true, reply: "world:hello" });
    expect(await to("198.51.100.20", 80)).toMatchObject({ ok: true }); // world includes the CIDR identities
    expect(await to("198.51.100.10", 9000)).toMatchObject({ ok: true });
    expect(await to("198.51.100.20", 9000)).toMatchObject({ ok: false }); // the except
    expect(await to("198.51.100.10", 7000)).toMatchObject({ ok: false });
    // bad has no egress policy: open.
    expect(await bad.helper.call("tcpConnect", { host: "198.51.100.10", port: 7000 })).toMatchObject({
      ok: true,
    });
  });

  it("applies a policy change within a second and keeps established connections that stay allowed", async () => {
    expect((await client.helper.call("tcpOpen", { host: server.ip, port: 8080, name: "kept" })).ok).toBe(
      true,
    );
    expect(await http(client, "GET", "/new")).toMatchObject({ status: 403 });
    const started = Date.now();
    write("server-ingress.yaml", L7_POLICY("/public|/new"));
    await waitFor(
      "GET /new allowed",
      async () => ((await http(client, "GET", "/new")).status === 200 ? true : undefined),
      5000,
    );
    const elapsed = Date.now() - started;
    expect(elapsed, `the change took ${elapsed} ms`).toBeLessThan(1000);
    expect(await client.helper.call("tcpSend", { name: "kept", message: "still" })).toMatchObject({
      ok: true,
      reply: "server:still",
    });
  });

  it("refuses an invalid policy with Valid=False and changes nothing else", async () => {
    write("broken.yaml", INVALID_POLICY);
    const statuses = await waitFor("the broken policy's status", async () => {
      const r = await node.call("httpRequest", {
        host: "127.0.0.1",
        port: Number(opsAddress.split(":")[1]),
        path: "/api/v1/statuses?kind=CiliumNetworkPolicy",
      });
      const body = String(r.body ?? "");
      return body.includes("broken") ? (JSON.parse(body) as unknown) : undefined;
    });
    const text = JSON.stringify(statuses);
    expect(text).toMatch(
      /"status":"False".*Combining fromEndpoints and fromCIDR is not supported yet|Combining fromEndpoints and fromCIDR is not supported yet.*"status":"False"/,
    );
    expect(await http(client, "GET", "/public")).toMatchObject({ status: 200 });
    expect(await http(client, "GET", "/private")).toMatchObject({ status: 403 });
    expect(
      await bad.helper.call("tcpConnect", { host: server.ip, port: 8080, timeoutMs: 500 }),
    ).toMatchObject({
      ok: false,
    });
    rmSync(join(manifests, "broken.yaml"));
  });

  it("strait policy trace explains each verdict", () => {
    const trace = (...args: string[]) => {
      try {
        return {
          code: 0,
          out: execFileSync(STRAIT_BIN, ["policy", "trace", "-f", manifests, ...args], { encoding: "utf8" }),
        };
      } catch (e) {
        const err = e as { status: number; stdout: string };
        return { code: err.status, out: err.stdout };
      }
    };
    const get = trace(
      "--src",
      "default/client",
      "--dst",
      "default/server",
      "--port",
      "80",
      "--http",
      "GET /public",
    );
    expect(get.code).toBe(0);
    expect(get.out).toMatch(/GET \/public ALLOWED by CiliumNetworkPolicy\/default\/server-ingress/);
    const post = trace(
      "--src",
      "default/client",
      "--dst",
      "default/server",
      "--port",
      "80",
      "--http",
      "POST /public",
    );
    expect(post.code).toBe(1);
    expect(post.out).toMatch(/POST \/public DENIED: no HTTP rule matches; Envoy answers 403/);
    const other = trace("--src", "other/intruder", "--dst", "default/server", "--port", "80");
    expect(other.out).toMatch(/DENIED: no entry allows ID:\d+ on 80\/TCP \(default deny\)/);
    const denied = trace("--src", "default/bad", "--dst", "default/server", "--port", "8080");
    expect(denied.out).toMatch(
      /DENIED by entry: deny from ID:\d+ on 8080\/TCP\s+by CiliumNetworkPolicy\/default\/deny-bad spec\.ingressDeny\[0\]/,
    );
    const except = trace("--src", "default/client", "--dst", "198.51.100.20", "--port", "9000");
    expect(except.code).toBe(1);
    expect(except.out).toMatch(/Egress of default\/client/);
    const cidr = trace("--src", "default/client", "--dst", "198.51.100.10", "--port", "9000");
    expect(cidr.out).toMatch(/CiliumNetworkPolicy\/default\/client-egress spec\.egress\[2\]/);
  });

  it("strait observe shows the L7 verdicts from Envoy's access log beside the L3/L4 flows", async () => {
    await http(client, "POST", "/private");
    const flows = await waitFor("an L7 flow", async () => {
      const all = (await agentRequest(lab.socket, "GET", "/api/v1/flows")).body as Flow[];
      return all.some((f) => f.l7?.method === "POST" && f.l7.path === "/private") ? all : undefined;
    });
    expect(flows.some((f) => f.l7 === undefined && f.verdict === "REDIRECTED")).toBe(true);
    const out = execFileSync(
      STRAIT_BIN,
      ["observe", "--agent", lab.socket, "--protocol", "http", "--verdict", "DROPPED"],
      {
        encoding: "utf8",
      },
    );
    expect(out).toMatch(
      /default\/client:\d+ \(ID:\d+\) -> default\/server:80 \(ID:\d+\) http-request DROPPED \(HTTP\/1\.1 POST http:\/\/[\d.]+\/private\) => 403/,
    );
    expect(out).not.toMatch(/FORWARDED/);
    expect(readFileSync(join(lab.dir, "envoy-access.log"), "utf8")).toMatch(/"status":200\b/);
  });
});
