/**
 * The datapath end to end, in network namespaces on this machine's kernel:
 * a "node" namespace running `strait agent`, three pods created through the
 * real CNI chain (ptp + host-local, then strait-cni), traffic between them,
 * and `strait observe` reading the flows. All kernel tests of this kind live
 * in this one file, so vitest's parallel files never race on namespaces.
 *
 * Identities: client 1001, server 1002, other 1003.
 *  client: egress and ingress enforced (so replies to it pass only through CT)
 *  server: ingress enforced
 *  other:  no policy at all (default allow)
 */
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentRequest } from "../src/agent/client.ts";
import type { Flow } from "../src/agent/flows.ts";
import type { PolicyEntry } from "../src/model/endpoint-policy.ts";
import { desiredEndpoint as ep } from "./support/desired-endpoint.ts";
import { canRunKernelTests, KERNEL_SKIP_REASON } from "./support/kernel.ts";
import { type NodeLab as Lab, NodeLab, type Pod, sweepLeftovers } from "./support/netns-lab.ts";
import { STRAIT_BIN, type StraitProcess } from "./support/strait-process.ts";

const CLIENT = 1001;
const SERVER = 1002;
const OTHER = 1003;
const PROXY_PORT = 15001;

function allow(
  direction: "ingress" | "egress",
  remote: number | "any",
  protocol: "TCP" | "UDP",
  port: number,
  extra: Partial<PolicyEntry> = {},
): PolicyEntry {
  return { direction, remoteIdentity: remote, protocol, port, verdict: "allow", sources: [], ...extra };
}

describe.skipIf(!canRunKernelTests)(`datapath in network namespaces ${KERNEL_SKIP_REASON ?? ""}`, () => {
  let lab: Lab;
  let agent: StraitProcess;
  let client: Pod;
  let server: Pod;
  let other: Pod;

  function startAgent(): StraitProcess {
    return lab.startAgent("debug");
  }

  function state(clientEntries: readonly PolicyEntry[], serverEntries: readonly PolicyEntry[]) {
    return {
      endpoints: [ep(1, CLIENT, "client"), ep(2, SERVER, "server"), ep(3, OTHER, "other")],
      policies: [
        { endpointId: 1, ingressEnforced: true, egressEnforced: true, entries: clientEntries, sources: [] },
        { endpointId: 2, ingressEnforced: true, egressEnforced: false, entries: serverEntries, sources: [] },
      ],
      ipcache: [
        { prefix: `${client.ip}/32`, identity: CLIENT },
        { prefix: `${server.ip}/32`, identity: SERVER },
        { prefix: `${other.ip}/32`, identity: OTHER },
      ],
    };
  }

  const clientEgress = () => [
    allow("egress", SERVER, "TCP", 8080),
    allow("egress", SERVER, "UDP", 5353),
    allow("egress", "any", "TCP", 8081),
    allow("egress", SERVER, "TCP", 9090, { proxyPort: PROXY_PORT }),
    allow("egress", SERVER, "TCP", 7070, { auth: "mtls-spiffe" }),
  ];
  const serverIngress = () => [
    allow("ingress", CLIENT, "TCP", 8080),
    allow("ingress", CLIENT, "UDP", 5353),
    allow("ingress", "any", "TCP", 8081),
    { ...allow("ingress", CLIENT, "TCP", 8081), verdict: "deny" as const },
    allow("ingress", CLIENT, "TCP", 9090),
    allow("ingress", CLIENT, "TCP", 7070),
  ];

  async function put(body: unknown) {
    return agentRequest(lab.socket, "PUT", "/api/v1/desired-state", body);
  }

  async function flows(): Promise<Flow[]> {
    return (await agentRequest(lab.socket, "GET", "/api/v1/flows")).body as Flow[];
  }

  async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  beforeAll(async () => {
    sweepLeftovers();
    lab = new NodeLab(231);
    agent = startAgent();
    await agent.waitForLog((l) => l.msg === "agent API listening");
    client = lab.addPod("client");
    server = lab.addPod("server");
    other = lab.addPod("other");
    const r = await put(state(clientEgress(), serverIngress()));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    for (const p of [server, other]) {
      expect((await p.helper.call("listenTcp", { port: 8080 })).ok).toBe(true);
      expect((await p.helper.call("listenTcp", { port: 8081 })).ok).toBe(true);
      expect((await p.helper.call("listenUdp", { port: 5353 })).ok).toBe(true);
      expect((await p.helper.call("listenUdp", { port: 5354 })).ok).toBe(true);
    }
    expect((await server.helper.call("listenTcp", { port: 9090 })).ok).toBe(true);
    expect((await server.helper.call("listenTcp", { port: 7070 })).ok).toBe(true);
    expect((await server.helper.call("listenTcp", { port: 6000 })).ok).toBe(true);
  }, 60_000);

  afterAll(async () => {
    await agent?.stop("SIGKILL");
    lab?.cleanup();
  });

  it("takes writes on a unix socket only root may open (mode 0600); its TCP listener, without a token, refuses them", async () => {
    // Issue 16: any local user could replace the enforced policy over TCP.
    expect(statSync(lab.socket).mode & 0o777).toBe(0o600);
    const listening = await agent.waitForLog((l) => l.msg === "agent API listening");
    const before = (await agentRequest(lab.socket, "GET", "/api/v1/desired-state")).body;
    const code = lab.inNode("curl", [
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-X",
      "PUT",
      "-H",
      "content-type: application/json",
      "--data",
      JSON.stringify({ endpoints: [], policies: [], ipcache: [] }),
      `http://${String(listening.address)}/api/v1/desired-state`,
    ]);
    expect(code).toBe("403");
    expect((await agentRequest(lab.socket, "GET", "/api/v1/desired-state")).body).toEqual(before);
  });

  it("programs every pod that strait-cni reported, with both programs attached", async () => {
    const status = (await agentRequest(lab.socket, "GET", "/api/v1/status")).body as {
      endpoints: { pod: string; state: string; hostInterface: string; addresses: string[] }[];
    };
    expect(status.endpoints.map((e) => [e.pod, e.state])).toEqual([
      ["default/client", "programmed"],
      ["default/server", "programmed"],
      ["default/other", "programmed"],
    ]);
    expect(status.endpoints[0]?.hostInterface).toBe(client.hostInterface);
    expect(status.endpoints[0]?.addresses).toEqual([client.ip]);
    const tc = lab.inNode("tc", ["filter", "show", "dev", client.hostInterface, "ingress"]);
    expect(tc).toContain("from_endpoint");
    expect(lab.inNode("tc", ["filter", "show", "dev", client.hostInterface, "egress"])).toContain(
      "to_endpoint",
    );
  });

  it("allows TCP and UDP by identity and port, and denies the rest", async () => {
    expect(await client.helper.call("tcpConnect", { host: server.ip, port: 8080 })).toMatchObject({
      ok: true,
      reply: "server:hello",
    });
    expect(await client.helper.call("udpSend", { host: server.ip, port: 5353 })).toMatchObject({
      ok: true,
      reply: "server:ping",
    });
    // Not allowed by the client's egress policy:
    expect(
      await client.helper.call("udpSend", { host: server.ip, port: 5354, timeoutMs: 400 }),
    ).toMatchObject({ ok: false });
    expect(
      await client.helper.call("tcpConnect", { host: server.ip, port: 6000, timeoutMs: 400 }),
    ).toMatchObject({ ok: false, error: "timeout" });
    // other (identity 1003) is not allowed into server on 8080:
    expect(
      await other.helper.call("tcpConnect", { host: server.ip, port: 8080, timeoutMs: 400 }),
    ).toMatchObject({ ok: false, error: "timeout" });
  });

  it("allows everything for an endpoint no policy selects", async () => {
    expect(await server.helper.call("tcpConnect", { host: other.ip, port: 8080 })).toMatchObject({
      ok: true,
      reply: "other:hello",
    });
    expect(await server.helper.call("udpSend", { host: other.ip, port: 5354 })).toMatchObject({ ok: true });
  });

  it("lets a deny entry win over an allow entry that also matches", async () => {
    // server ingress: any → 8081 allowed, client → 8081 denied.
    expect(await other.helper.call("tcpConnect", { host: server.ip, port: 8081 })).toMatchObject({
      ok: true,
    });
    expect(
      await client.helper.call("tcpConnect", { host: server.ip, port: 8081, timeoutMs: 400 }),
    ).toMatchObject({ ok: false });
  });

  it("passes replies through connection tracking (the client's ingress allows nothing)", async () => {
    // Nothing in the client's ingress policy allows the server: every reply above passed through CT.
    // A new connection from the server to the client is denied.
    expect((await client.helper.call("listenTcp", { port: 8080 })).ok).toBe(true);
    expect(
      await server.helper.call("tcpConnect", { host: client.ip, port: 8080, timeoutMs: 400 }),
    ).toMatchObject({ ok: false });
  });

  it("applies a policy update to new connections and keeps established ones", async () => {
    const opened = await client.helper.call("tcpOpen", { host: server.ip, port: 8080, name: "kept" });
    expect(opened.ok).toBe(true);
    const withoutEgress = clientEgress().filter((e) => e.port !== 8080);
    expect((await put(state(withoutEgress, serverIngress()))).status).toBe(200);
    expect(
      await client.helper.call("tcpConnect", { host: server.ip, port: 8080, timeoutMs: 400 }),
    ).toMatchObject({ ok: false });
    expect(await client.helper.call("tcpSend", { name: "kept", message: "still" })).toMatchObject({
      ok: true,
      reply: "server:still",
    });
    expect((await put(state(clientEgress(), serverIngress()))).status).toBe(200);
    expect(await client.helper.call("tcpConnect", { host: server.ip, port: 8080 })).toMatchObject({
      ok: true,
    });
  });

  it("rejects an invalid update naming the field, and keeps enforcing the previous state", async () => {
    const bad = state(clientEgress(), serverIngress());
    const broken = {
      ...bad,
      policies: [{ ...bad.policies[0], entries: [{ ...clientEgress()[0], port: 70000 }] }],
    };
    const r = await put(broken);
    expect(r.status).toBe(400);
    expect((r.body as { errors: { field: string }[] }).errors[0]?.field).toBe("policies[0].entries[0].port");
    expect(await client.helper.call("tcpConnect", { host: server.ip, port: 8080 })).toMatchObject({
      ok: true,
    });
    const metrics = (await agentRequest(lab.socket, "GET", "/metrics")).body as string;
    expect(metrics).toMatch(/strait_agent_rejected_updates_total\{origin="api"\} 1/);
  });

  it("redirects to a transparent listener in the node namespace that sees the original destination; its upstream reaches the server without looping", async () => {
    const proxy = lab.nodeHelper();
    expect(await proxy.call("listenTransparent", { port: PROXY_PORT, identity: CLIENT })).toMatchObject({
      ok: true,
    });
    const rules = lab.inNode("nft", ["list", "table", "ip", "strait"]);
    expect(rules).toContain(`tproxy to 127.0.0.1:${PROXY_PORT}`);
    expect(lab.inNode("ip", ["rule", "show", "priority", "9"])).toContain("fwmark 0x200/0xf00 lookup 2004");
    expect(lab.inNode("ip", ["route", "show", "table", "2004"])).toContain("local default dev lo");

    const r = await client.helper.call("tcpConnect", {
      host: server.ip,
      port: 9090,
      message: "via-proxy",
      timeoutMs: 3000,
    });
    expect(r).toMatchObject({ ok: true, reply: "server:via-proxy" });
    expect(proxy.events).toHaveLength(1); // one proxied connection: the upstream was not redirected again
    expect(proxy.events[0]?.originalDestination).toBe(`${server.ip}:9090`);
    expect(String(proxy.events[0]?.from)).toMatch(new RegExp(`^${client.ip.replaceAll(".", "\\.")}:`));
  });

  it("drops a SYN that needs auth with an auth-required event, and lets the retransmission through once the auth entry is written", async () => {
    const connecting = client.helper.call("tcpConnect", {
      host: server.ip,
      port: 7070,
      message: "authed",
      timeoutMs: 8000,
    });
    const event = await waitFor("auth-required flow", async () =>
      (await flows()).find((f) => f.eventType === "auth-required" && f.destination.port === 7070),
    );
    expect(event).toMatchObject({
      verdict: "DROPPED",
      dropReason: "auth required",
      auth: { type: "mtls-spiffe", localIdentity: CLIENT, remoteIdentity: SERVER, remoteNode: "0.0.0.0" },
    });
    const w = await agentRequest(lab.socket, "POST", "/api/v1/auth", {
      localIdentity: CLIENT,
      remoteIdentity: SERVER,
      authType: "mtls-spiffe",
      seconds: 60,
    });
    expect(w.status).toBe(200);
    expect(await connecting).toMatchObject({ ok: true, reply: "server:authed" });
  });

  it("keeps an established connection across an agent restart", async () => {
    expect((await client.helper.call("tcpOpen", { host: server.ip, port: 8080, name: "restart" })).ok).toBe(
      true,
    );
    expect(await client.helper.call("tcpSend", { name: "restart", message: "before" })).toMatchObject({
      ok: true,
    });
    expect(await agent.stop("SIGTERM")).toBe(0);
    // No agent: enforcement and the connection go on.
    expect(await client.helper.call("tcpSend", { name: "restart", message: "between" })).toMatchObject({
      ok: true,
    });
    agent = startAgent();
    await agent.waitForLog((l) => l.msg === "agent API listening");
    expect(await client.helper.call("tcpSend", { name: "restart", message: "after" })).toMatchObject({
      ok: true,
      reply: "server:after",
    });
    // The restarted agent enforces the same state, from its state folder.
    expect(
      await client.helper.call("tcpConnect", { host: server.ip, port: 6000, timeoutMs: 400 }),
    ).toMatchObject({ ok: false });
    expect(await client.helper.call("tcpConnect", { host: server.ip, port: 8080 })).toMatchObject({
      ok: true,
    });
  });

  it("strait observe shows each flow with its verdict, filtered, as text and JSON", async () => {
    await client.helper.call("tcpConnect", { host: server.ip, port: 8080, message: "observed" });
    await client.helper.call("tcpConnect", { host: server.ip, port: 6000, timeoutMs: 300 });
    await client.helper.call("tcpConnect", { host: server.ip, port: 9090, timeoutMs: 2000 });
    const observe = (...args: string[]) =>
      execFileSync(STRAIT_BIN, ["observe", "--agent", lab.socket, ...args], { encoding: "utf8" });
    await waitFor("flows", async () =>
      (await flows()).some((f) => f.destination.port === 6000) ? true : undefined,
    );

    const json = observe("-o", "json", "--from", "default/client", "--to", server.ip)
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Flow);
    const verdictOf = (port: number) => json.filter((f) => f.destination.port === port).map((f) => f.verdict);
    expect(verdictOf(8080)).toContain("FORWARDED");
    expect(verdictOf(6000)).toContain("DROPPED");
    expect(verdictOf(9090)).toContain("REDIRECTED");
    expect(json.every((f) => f.source.pod === "default/client")).toBe(true);

    const dropped = observe("--verdict", "DROPPED", "--port", "6000");
    expect(dropped).toMatch(
      /default\/client:\d+ \(ID:1001\) -> default\/server:6000 \(ID:1002\) policy denied \(default deny\) DROPPED \(TCP Flags: SYN\)/,
    );
    expect(dropped).not.toContain("FORWARDED");
    const forwarded = observe("--verdict", "FORWARDED", "--port", "8080", "--to", "ID:1002");
    expect(forwarded).toMatch(/policy-verdict:L3-L4 EGRESS FORWARDED \(TCP Flags: SYN\)/);
    const metrics = (await agentRequest(lab.socket, "GET", "/metrics")).body as string;
    expect(metrics).toMatch(
      /strait_datapath_packets_total\{direction="egress",verdict="dropped",reason="policy denied \(default deny\)"\} [1-9]/,
    );
  });

  it("fails a CNI ADD the datapath cannot take, and leaves nothing of it attached", async () => {
    // A pod the desired state knows, whose policy cannot fit the policy map: the agent learns
    // that only when strait-cni reports the pod and the policy would be written.
    const capacity = 262_144; // POLICY_MAX, bpf/lib/policy.h
    const base = state(clientEgress(), serverIngress());
    const ghostEntries = Array.from({ length: capacity }, (_, i) => allow("ingress", 256 + i, "TCP", 80));
    const withGhost = {
      ...base,
      endpoints: [
        ...base.endpoints,
        { id: 4, identity: 1004, addresses: [], hostInterface: "", pod: "default/ghost", sources: [] },
      ],
      policies: [
        ...base.policies,
        { endpointId: 4, ingressEnforced: true, egressEnforced: false, entries: ghostEntries, sources: [] },
      ],
    };
    expect((await put(withGhost)).status).toBe(200); // the ghost is pending: nothing to write yet

    const pod = { name: "ghost", netns: `${lab.id}-ghost`, containerId: `${lab.id}-ghost-container` };
    execFileSync("ip", ["netns", "add", pod.netns]);
    const [ptp, straitCni] = lab.conflist().plugins as [Record<string, unknown>, Record<string, unknown>];
    try {
      const chained = lab.execPlugin(ptp, "ADD", pod);
      expect(chained.status, chained.stdout).toBe(0);
      const prevResult = JSON.parse(chained.stdout) as { interfaces: { name: string; sandbox?: string }[] };
      const hostInterface = prevResult.interfaces.find((i) => i.sandbox === undefined)?.name ?? "";
      expect(hostInterface).not.toBe("");

      const r = lab.execPlugin(straitCni, "ADD", pod, prevResult);
      expect(r.status).not.toBe(0);
      const error = JSON.parse(r.stdout) as { code: number; msg: string; details: string };
      expect(error.msg).toBe("the strait agent could not attach the pod");
      expect(error.details).toMatch(/strait_policy is full/);

      // Nothing half-attached: no programs on the interface, the pod unknown to the agent, and
      // everything else enforced as before.
      expect(lab.inNode("tc", ["filter", "show", "dev", hostInterface, "ingress"])).not.toContain(
        "from_endpoint",
      );
      expect(lab.inNode("tc", ["filter", "show", "dev", hostInterface, "egress"])).not.toContain(
        "to_endpoint",
      );
      const status = (await agentRequest(lab.socket, "GET", "/api/v1/status")).body as {
        endpoints: { pod: string; state: string }[];
      };
      expect(status.endpoints.find((e) => e.pod === "default/ghost")?.state).toBe("pending");
      expect(status.endpoints.find((e) => e.pod === "default/client")?.state).toBe("programmed");
      const cniCheck = lab.execPlugin(straitCni, "CHECK", pod, prevResult);
      expect(cniCheck.status).not.toBe(0);
      // The failed ADD left no attachment behind: the same state applies again (a kept attachment
      // would make the agent try to program the ghost, and overflow the map, on every reconcile).
      expect((await put(withGhost)).status).toBe(200);
      expect(await client.helper.call("tcpConnect", { host: server.ip, port: 8080 })).toMatchObject({
        ok: true,
      });
    } finally {
      lab.execPlugin(ptp, "DEL", pod);
      execFileSync("ip", ["netns", "del", pod.netns]);
      expect((await put(base)).status).toBe(200);
    }
  }, 60_000);

  it("detaches a pod on CNI DEL", async () => {
    lab.deletePod(other);
    const status = (await agentRequest(lab.socket, "GET", "/api/v1/status")).body as {
      endpoints: { pod: string; state: string }[];
    };
    expect(status.endpoints.find((e) => e.pod === "default/other")?.state).toBe("pending");
  });
});
