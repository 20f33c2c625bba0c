/**
 * Mutual authentication end to end, on this machine's kernel: two "nodes"
 * (node namespaces, each with its own `strait agent`, datapath pins and pods
 * made by the real CNI chain), a policy on the server's node that requires
 * mtls-spiffe from the client's identity. The first SYN is dropped with an
 * auth-required event, the server node's agent handshakes with the client
 * node's agent (TLS 1.3, both SVIDs), writes its auth map, and the client's
 * retransmitted SYN passes.
 *
 * SVIDs come from the built-in CA (its issuer runs in node A's namespace)
 * and, in the second part, from real SPIRE (spire-server, one spire-agent per
 * node, the Delegated Identity API), built by scripts/build-spire.sh.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentRequest } from "../src/agent/client.ts";
import type { Flow } from "../src/agent/flows.ts";
import { CertificateAuthority } from "../src/auth/builtin-ca/authority.ts";
import { derToPem } from "../src/auth/certificate.ts";
import { DEFAULT_TRUST_DOMAIN, type TrustDomain } from "../src/auth/spiffe-id.ts";
import { SpireEntrySync } from "../src/auth/spire/entry-sync.ts";
import { desiredEndpoint as ep } from "./support/desired-endpoint.ts";
import { JsonChild } from "./support/json-child.ts";
import { canRunKernelTests, KERNEL_SKIP_REASON } from "./support/kernel.ts";
import { type Pod, sweepLeftovers } from "./support/netns-lab.ts";
import { SpireProcess, spireBinDir, writeAgentConfig, writeServerConfig } from "./support/spire.ts";
import { REPO, type StraitProcess } from "./support/strait-process.ts";
import { TwoNodeLab } from "./support/two-node-lab.ts";
import { waitForValue } from "./support/wait.ts";

const CLIENT = 1001;
const SERVER = 1002;
const PORT = 7070;
/** Any port is free in a namespace made for this test. */
const AUTH_PORT = 20000 + (process.pid % 20000);
const ISSUER_PORT = AUTH_PORT + 1;

interface AuthStatus {
  provider: string;
  healthy: boolean;
  entries: { key: { localIdentity: number; remoteIdentity: number; remoteNode: string }; expires: string }[];
  failures: { key: { remoteIdentity: number }; last: { result: string; message?: string } }[];
}

function desiredStates(lab: TwoNodeLab, client: Pod, server: Pod) {
  const a = {
    endpoints: [ep(1, CLIENT, "client")],
    policies: [],
    ipcache: [
      { prefix: `${client.ip}/32`, identity: CLIENT },
      { prefix: `${server.ip}/32`, identity: SERVER, node: lab.addressB },
    ],
  };
  const b = {
    endpoints: [ep(1, SERVER, "server")],
    policies: [
      {
        endpointId: 1,
        ingressEnforced: true,
        egressEnforced: false,
        entries: [
          {
            direction: "ingress",
            remoteIdentity: CLIENT,
            protocol: "TCP",
            port: PORT,
            verdict: "allow",
            auth: "mtls-spiffe",
            sources: [],
          },
        ],
        sources: [],
      },
    ],
    ipcache: [
      { prefix: `${server.ip}/32`, identity: SERVER },
      { prefix: `${client.ip}/32`, identity: CLIENT, node: lab.addressA },
    ],
  };
  return { a, b };
}

describe.skipIf(!canRunKernelTests)(`mutual auth between two nodes ${KERNEL_SKIP_REASON ?? ""}`, () => {
  let lab: TwoNodeLab;
  let client: Pod;
  let server: Pod;
  let issuer: JsonChild;
  let agentA: StraitProcess;
  let agentB: StraitProcess;

  const authStatus = async (socket: string) =>
    (await agentRequest(socket, "GET", "/api/v1/auth")).body as AuthStatus;
  const flowsOf = async (socket: string) =>
    (await agentRequest(socket, "GET", "/api/v1/flows")).body as Flow[];

  function startBuiltinCaAgent(
    which: "a" | "b",
    trustDomain: TrustDomain = DEFAULT_TRUST_DOMAIN,
    rootFile?: string,
  ) {
    const node = which === "a" ? lab.a : lab.b;
    const address = which === "a" ? lab.addressA : lab.addressB;
    writeFileSync(join(node.dir, "token"), `token-${which}\n`);
    return node.startAgent("info", [
      "--auth-provider",
      "builtin-ca",
      "--trust-domain",
      trustDomain,
      "--auth-address",
      `${address}:${AUTH_PORT}`,
      "--builtin-ca-url",
      `https://${lab.addressA}:${ISSUER_PORT}`,
      "--builtin-ca-root",
      rootFile ?? join(lab.a.dir, "ca", "root.pem"),
      "--builtin-ca-token-file",
      join(node.dir, "token"),
    ]);
  }

  beforeAll(async () => {
    sweepLeftovers();
    lab = new TwoNodeLab(236, 237, 1);
    const caDir = join(lab.a.dir, "ca");
    mkdirSync(caDir, { recursive: true });
    const ca = await CertificateAuthority.loadOrCreate(DEFAULT_TRUST_DOMAIN, caDir, new Date());
    writeFileSync(join(caDir, "root.pem"), derToPem(ca.rootDer));
    // SVIDs of 8 s (back-dated 30 s), so that entries expire and are re-authenticated during the test.
    issuer = new JsonChild(lab.a.nodeNs, [
      process.execPath,
      join(REPO, "test/support/builtin-ca-issuer.ts"),
      caDir,
      DEFAULT_TRUST_DOMAIN,
      lab.addressA,
      String(ISSUER_PORT),
      "8000",
      "node-a=token-a,node-b=token-b",
    ]);
    await issuer.line((l) => typeof l.url === "string");
    agentA = startBuiltinCaAgent("a");
    agentB = startBuiltinCaAgent("b");
    await agentA.waitForLog((l) => l.msg === "agent API listening");
    await agentB.waitForLog((l) => l.msg === "agent API listening");
    client = lab.a.addPod("client");
    server = lab.b.addPod("server");
    const { a, b } = desiredStates(lab, client, server);
    expect((await agentRequest(lab.a.socket, "PUT", "/api/v1/desired-state", a)).status).toBe(200);
    expect((await agentRequest(lab.b.socket, "PUT", "/api/v1/desired-state", b)).status).toBe(200);
    expect((await server.helper.call("listenTcp", { port: PORT })).ok).toBe(true);
    // Both agents hold their identity's SVID before the first connection.
    await waitForValue(
      "SVIDs issued",
      async () => (issuer.lines.filter((l) => l.issued !== undefined).length >= 2 ? true : undefined),
      30_000,
    );
  }, 90_000);

  afterAll(async () => {
    await agentA?.stop("SIGKILL");
    await agentB?.stop("SIGKILL");
    issuer?.stop();
    lab?.cleanup();
  });

  it("drops the first SYN with an auth-required event, handshakes, and lets the retransmission through", async () => {
    const t0 = performance.now();
    const r = await client.helper.call("tcpConnect", {
      host: server.ip,
      port: PORT,
      message: "authed",
      timeoutMs: 8000,
    });
    const elapsed = performance.now() - t0;
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, reply: "server:authed" });
    // The first SYN was dropped: the connection took a retransmission (about 1 s).
    expect(elapsed).toBeGreaterThan(900);
    process.stdout.write(`first SYN to established, built-in CA: ${elapsed.toFixed(0)} ms\n`);
    const dropped = (await flowsOf(lab.b.socket)).find((f) => f.eventType === "auth-required");
    expect(dropped).toMatchObject({
      verdict: "DROPPED",
      dropReason: "auth required",
      auth: { type: "mtls-spiffe", localIdentity: SERVER, remoteIdentity: CLIENT, remoteNode: lab.addressA },
    });
    const status = await authStatus(lab.b.socket);
    expect(status.provider).toBe("builtin-ca");
    expect(status.entries.map((e) => e.key)).toEqual([
      { localIdentity: SERVER, remoteIdentity: CLIENT, remoteNode: lab.addressA, authType: "mtls-spiffe" },
    ]);
    const metrics = (await agentRequest(lab.b.socket, "GET", "/metrics")).body as string;
    expect(metrics).toMatch(/strait_auth_handshakes_total\{result="ok"\} [1-9]/);
    expect(metrics).toMatch(/strait_auth_entries [1-9]/);
    const served = (await agentRequest(lab.a.socket, "GET", "/metrics")).body as string;
    expect(served).toMatch(/strait_auth_handshakes_served_total\{result="ok"\} [1-9]/);
  });

  it("re-authenticates before entries expire: new connections keep passing at once", async () => {
    // Entries live about 8 s; over 20 s every connection must succeed without a retransmission.
    const end = Date.now() + 20_000;
    const slow: number[] = [];
    let n = 0;
    while (Date.now() < end) {
      const t0 = performance.now();
      const r = await client.helper.call("tcpConnect", { host: server.ip, port: PORT, timeoutMs: 3000 });
      expect(r.ok).toBe(true);
      const ms = performance.now() - t0;
      if (ms > 900) slow.push(ms);
      n++;
      await new Promise((res) => setTimeout(res, 250));
    }
    expect(n).toBeGreaterThan(20);
    expect(slow).toEqual([]);
    const metrics = (await agentRequest(lab.b.socket, "GET", "/metrics")).body as string;
    const ok = Number(/strait_auth_handshakes_total\{result="ok"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    expect(ok).toBeGreaterThanOrEqual(3); // the first one, then re-auths before each expiry
  }, 40_000);

  it("refuses a peer whose SVIDs come from another trust domain: the flow stays blocked", async () => {
    // Node A comes back as a node of another trust domain (its own CA): B must not accept it.
    await agentA.stop("SIGKILL");
    const otherTd = "other.example" as TrustDomain;
    const otherDir = join(lab.a.dir, "other-ca");
    mkdirSync(otherDir, { recursive: true });
    const otherCa = await CertificateAuthority.loadOrCreate(otherTd, otherDir, new Date());
    writeFileSync(join(otherDir, "root.pem"), derToPem(otherCa.rootDer));
    const otherIssuer = new JsonChild(lab.a.nodeNs, [
      process.execPath,
      join(REPO, "test/support/builtin-ca-issuer.ts"),
      otherDir,
      otherTd,
      lab.addressA,
      String(ISSUER_PORT + 1),
      "600000",
      "node-a=token-a",
    ]);
    try {
      await otherIssuer.line((l) => typeof l.url === "string");
      writeFileSync(join(lab.a.dir, "token"), "token-a\n");
      agentA = lab.a.startAgent("info", [
        "--auth-provider",
        "builtin-ca",
        "--trust-domain",
        otherTd,
        "--auth-address",
        `${lab.addressA}:${AUTH_PORT}`,
        "--builtin-ca-url",
        `https://${lab.addressA}:${ISSUER_PORT + 1}`,
        "--builtin-ca-root",
        join(otherDir, "root.pem"),
        "--builtin-ca-token-file",
        join(lab.a.dir, "token"),
      ]);
      await agentA.waitForLog((l) => l.msg === "agent API listening");
      await otherIssuer.line((l) => l.issued !== undefined);
      // Let B's entry lapse (it lives at most 8 s), then B must fail to re-authenticate.
      await waitForValue(
        "B's entry to expire",
        async () => ((await authStatus(lab.b.socket)).entries.length === 0 ? true : undefined),
        20_000,
      );
      const r = await client.helper.call("tcpConnect", { host: server.ip, port: PORT, timeoutMs: 4000 });
      expect(r).toMatchObject({ ok: false });
      const failures = (await authStatus(lab.b.socket)).failures;
      expect(failures.length).toBeGreaterThan(0);
      expect((await authStatus(lab.b.socket)).entries).toEqual([]);
    } finally {
      otherIssuer.stop();
      await agentA.stop("SIGKILL");
      agentA = startBuiltinCaAgent("a");
      await agentA.waitForLog((l) => l.msg === "agent API listening");
    }
  }, 60_000);

  /**
   * Node A's agent replaced by a peer that presents, for the client's identity, a certificate
   * from the right CA that is wrong in one way: B must refuse it, and the flow stays blocked.
   */
  async function refusesRoguePeer(mode: "wrong-identity" | "expired", reason: RegExp): Promise<void> {
    await agentA.stop("SIGKILL");
    const rogue = new JsonChild(lab.a.nodeNs, [
      process.execPath,
      join(REPO, "test/support/rogue-auth-peer.ts"),
      join(lab.a.dir, "ca"),
      DEFAULT_TRUST_DOMAIN,
      lab.addressA,
      String(AUTH_PORT),
      String(CLIENT),
      mode,
    ]);
    try {
      await rogue.line((l) => typeof l.url === "string");
      await waitForValue(
        "B's entry to expire",
        async () => ((await authStatus(lab.b.socket)).entries.length === 0 ? true : undefined),
        20_000,
      );
      // Connect until B has met the bad certificate: B may still be backing off from an earlier
      // test's failures, and then skips the first events. Every attempt must fail meanwhile.
      const deadline = Date.now() + 60_000;
      let failure: AuthStatus["failures"][number] | undefined;
      for (;;) {
        const r = await client.helper.call("tcpConnect", { host: server.ip, port: PORT, timeoutMs: 4000 });
        expect(r).toMatchObject({ ok: false });
        failure = (await authStatus(lab.b.socket)).failures.find((f) => f.key.remoteIdentity === CLIENT);
        if (failure !== undefined && reason.test(failure.last.message ?? "")) break;
        if (Date.now() > deadline)
          throw new Error(`no refusal matching ${reason}: ${JSON.stringify(failure)}`);
      }
      expect(failure.last.result).toBe("peer-svid-rejected");
      expect((await authStatus(lab.b.socket)).entries).toEqual([]);
    } finally {
      rogue.stop();
      agentA = startBuiltinCaAgent("a");
      await agentA.waitForLog((l) => l.msg === "agent API listening");
    }
    // The real agent back: the flow authenticates again, once B's back-off (at most 30 s after its
    // last failure) has passed. The SYN that finds it over is dropped and starts the handshake; the
    // one after passes: Linux retransmits at 1, 3, 7, 15, 31 and 63 s.
    const back = await client.helper.call("tcpConnect", { host: server.ip, port: PORT, timeoutMs: 100_000 });
    expect(back.ok).toBe(true);
  }

  it("refuses a peer whose SVID names another identity: the flow stays blocked", async () => {
    await refusesRoguePeer("wrong-identity", /^wrong-spiffe-id: /);
  }, 240_000);

  it("refuses a peer whose SVID has expired: the flow stays blocked", async () => {
    await refusesRoguePeer("expired", /^expired: /);
  }, 240_000);

  it("strait observe shows the auth drops and the handshakes", async () => {
    const r = await client.helper.call("tcpConnect", { host: server.ip, port: PORT, timeoutMs: 8000 });
    expect(r.ok).toBe(true);
    const { STRAIT_BIN } = await import("./support/strait-process.ts");
    const out = execFileSync(STRAIT_BIN, ["observe", "--agent", lab.b.socket, "--verdict", "DROPPED"], {
      encoding: "utf8",
    });
    expect(out).toMatch(/auth required DROPPED \(TCP Flags: SYN\) auth:mtls-spiffe/);
    const auth = execFileSync(STRAIT_BIN, ["observe", "--agent", lab.b.socket, "--auth"], {
      encoding: "utf8",
    });
    expect(auth).toMatch(
      new RegExp(
        `ID:${SERVER} <-> ID:${CLIENT} node ${lab.addressA.replaceAll(".", "\\.")} mtls-spiffe expires`,
      ),
    );
  });
});

describe.skipIf(!canRunKernelTests)(
  `mutual auth between two nodes with real SPIRE ${KERNEL_SKIP_REASON ?? ""}`,
  () => {
    const CLIENT2 = 1003;
    let lab: TwoNodeLab;
    let client: Pod;
    let client2: Pod;
    let server: Pod;
    let bin: string;
    let spireServer: SpireProcess;
    const spireAgents: Record<"a" | "b", SpireProcess | undefined> = { a: undefined, b: undefined };
    const agentConf: Record<
      "a" | "b",
      { file: string; adminSocket: string; publicSocket: string } | undefined
    > = {
      a: undefined,
      b: undefined,
    };
    let agentA: StraitProcess;
    let agentB: StraitProcess;
    let sync: SpireEntrySync;
    const SPIRE_PORT = AUTH_PORT + 5;

    const authStatus = async (socket: string) =>
      (await agentRequest(socket, "GET", "/api/v1/auth")).body as AuthStatus;

    function startSpireAgent(which: "a" | "b"): SpireProcess {
      const node = which === "a" ? lab.a : lab.b;
      const conf = agentConf[which];
      if (conf === undefined) throw new Error("no config");
      const p = new SpireProcess(node.nodeNs, join(bin, "spire-agent"), ["run", "-config", conf.file]);
      spireAgents[which] = p;
      return p;
    }

    async function healthy(which: "a" | "b"): Promise<void> {
      const node = which === "a" ? lab.a : lab.b;
      const conf = agentConf[which];
      await waitForValue(
        `spire-agent ${which} healthy (${spireAgents[which]?.output.join("")})`,
        async () => {
          try {
            node.inNode(join(bin, "spire-agent"), ["healthcheck", "-socketPath", conf?.publicSocket ?? ""]);
            return true;
          } catch {
            return undefined;
          }
        },
        30_000,
      );
    }

    beforeAll(async () => {
      bin = spireBinDir();
      sweepLeftovers();
      lab = new TwoNodeLab(238, 239, 2);
      const serverDir = join(lab.a.dir, "spire-server");
      const serverConf = writeServerConfig(serverDir, {
        host: lab.addressA,
        port: SPIRE_PORT,
        trustDomain: DEFAULT_TRUST_DOMAIN,
      });
      spireServer = new SpireProcess(lab.a.nodeNs, join(bin, "spire-server"), ["run", "-config", serverConf]);
      const apiSocket = join(serverDir, "api.sock");
      await waitForValue(
        `spire-server healthy (${spireServer.output.join("")})`,
        async () => {
          try {
            execFileSync(join(bin, "spire-server"), ["healthcheck", "-socketPath", apiSocket], {
              stdio: "ignore",
            });
            return true;
          } catch {
            return undefined;
          }
        },
        30_000,
      );
      // The controller's part: strait's registration entries, through the server's Entry API.
      sync = new SpireEntrySync({
        socketPath: apiSocket,
        trustDomain: DEFAULT_TRUST_DOMAIN,
        delegateSelectors: [{ type: "unix", value: "uid:0" }],
      });
      const synced = await sync.sync(new Set([CLIENT, SERVER, CLIENT2]));
      expect(synced).toEqual({ ok: true, value: { created: 4, updated: 0, deleted: 0 } });
      expect(await sync.sync(new Set([CLIENT, SERVER, CLIENT2]))).toEqual({
        ok: true,
        value: { created: 0, updated: 0, deleted: 0 },
      });
      for (const which of ["a", "b"] as const) {
        const token = execFileSync(
          join(bin, "spire-server"),
          [
            "token",
            "generate",
            "-socketPath",
            apiSocket,
            "-spiffeID",
            `spiffe://${DEFAULT_TRUST_DOMAIN}/strait-agent`,
          ],
          { encoding: "utf8" },
        )
          .replace(/^Token:\s*/, "")
          .trim();
        agentConf[which] = writeAgentConfig(join((which === "a" ? lab.a : lab.b).dir, "spire-agent"), {
          serverHost: lab.addressA,
          serverPort: SPIRE_PORT,
          trustDomain: DEFAULT_TRUST_DOMAIN,
          joinToken: token,
          delegate: `spiffe://${DEFAULT_TRUST_DOMAIN}/strait-delegate`,
        });
        startSpireAgent(which);
      }
      await healthy("a");
      await healthy("b");
      const start = (which: "a" | "b") =>
        (which === "a" ? lab.a : lab.b).startAgent("info", [
          "--auth-provider",
          "spire",
          "--spire-admin-socket",
          agentConf[which]?.adminSocket ?? "",
          "--auth-address",
          `${which === "a" ? lab.addressA : lab.addressB}:${AUTH_PORT}`,
        ]);
      agentA = start("a");
      agentB = start("b");
      await agentA.waitForLog((l) => l.msg === "agent API listening");
      await agentB.waitForLog((l) => l.msg === "agent API listening");
      client = lab.a.addPod("client");
      client2 = lab.a.addPod("client2");
      server = lab.b.addPod("server");
      const { a, b } = desiredStates(lab, client, server);
      const a2 = {
        ...a,
        endpoints: [...a.endpoints, { ...a.endpoints[0], id: 2, identity: CLIENT2, pod: "default/client2" }],
        ipcache: [...a.ipcache, { prefix: `${client2.ip}/32`, identity: CLIENT2 }],
      };
      const b2 = {
        ...b,
        policies: [
          {
            ...b.policies[0],
            entries: [
              ...(b.policies[0]?.entries ?? []),
              { ...b.policies[0]?.entries[0], remoteIdentity: CLIENT2 },
            ],
          },
        ],
        ipcache: [...b.ipcache, { prefix: `${client2.ip}/32`, identity: CLIENT2, node: lab.addressA }],
      };
      expect((await agentRequest(lab.a.socket, "PUT", "/api/v1/desired-state", a2)).status).toBe(200);
      expect((await agentRequest(lab.b.socket, "PUT", "/api/v1/desired-state", b2)).status).toBe(200);
      expect((await server.helper.call("listenTcp", { port: PORT })).ok).toBe(true);
      // SPIRE's agents fetch their entries on a sync interval (about 5 s) and strait's provider
      // reconnects with backoff until they do: on a loaded 2-core machine this takes well over
      // the default wait, so the deadline is generous and a timeout says what each side printed.
      const tail = (lines: readonly unknown[]) =>
        lines
          .slice(-15)
          .map((l) => (typeof l === "string" ? l : JSON.stringify(l)))
          .join("\n");
      await waitForValue(
        "SVIDs from SPIRE on both nodes",
        async () =>
          agentA.logs.some((l) => l.msg === "SVIDs from SPIRE") &&
          agentB.logs.some((l) => l.msg === "SVIDs from SPIRE")
            ? true
            : undefined,
        90_000,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}\n--- agent A\n${tail(agentA.logs)}\n--- agent B\n${tail(agentB.logs)}` +
            `\n--- spire-agent a\n${tail(spireAgents.a?.output ?? [])}` +
            `\n--- spire-agent b\n${tail(spireAgents.b?.output ?? [])}`,
        );
      });
    }, 240_000);

    afterAll(async () => {
      await agentA?.stop("SIGKILL");
      await agentB?.stop("SIGKILL");
      await spireAgents.a?.kill();
      await spireAgents.b?.kill();
      await spireServer?.kill();
      sync?.close();
      lab?.cleanup();
    });

    it("authenticates with SPIRE's SVIDs: first SYN dropped, retransmission passes", async () => {
      const t0 = performance.now();
      const r = await client.helper.call("tcpConnect", {
        host: server.ip,
        port: PORT,
        message: "spire",
        timeoutMs: 8000,
      });
      const elapsed = performance.now() - t0;
      expect(r, JSON.stringify(r)).toMatchObject({ ok: true, reply: "server:spire" });
      expect(elapsed).toBeGreaterThan(900);
      process.stdout.write(`first SYN to established, SPIRE: ${elapsed.toFixed(0)} ms\n`);
      const status = await authStatus(lab.b.socket);
      expect(status.provider).toBe("spire");
      expect(status.entries.map((e) => e.key.remoteIdentity)).toEqual([CLIENT]);
    });

    it("with node A's SPIRE agent killed: the existing entry holds, a new pair fails closed, and both work once it is back", async () => {
      await spireAgents.a?.kill();
      await agentA.waitForLog((l) => l.msg === "SPIRE agent unreachable: SVIDs dropped");
      // The entry written before holds (until its expiry, an hour here):
      const held = await client.helper.call("tcpConnect", { host: server.ip, port: PORT, timeoutMs: 3000 });
      expect(held.ok).toBe(true);
      // A pair never authenticated cannot be now: A has no SVID to present.
      const blocked = await client2.helper.call("tcpConnect", {
        host: server.ip,
        port: PORT,
        timeoutMs: 4000,
      });
      expect(blocked.ok).toBe(false);
      expect((await authStatus(lab.b.socket)).entries.map((e) => e.key.remoteIdentity)).toEqual([CLIENT]);

      startSpireAgent("a");
      await healthy("a");
      await waitForValue(
        "client2 to get through after SPIRE's return",
        async () => {
          const r = await client2.helper.call("tcpConnect", { host: server.ip, port: PORT, timeoutMs: 8000 });
          return r.ok ? true : undefined;
        },
        60_000,
      );
      expect((await authStatus(lab.b.socket)).entries.map((e) => e.key.remoteIdentity).sort()).toEqual([
        CLIENT,
        CLIENT2,
      ]);
    }, 120_000);

    it("removes SPIRE entries of identities that are gone", async () => {
      expect(await sync.sync(new Set([CLIENT, SERVER]))).toEqual({
        ok: true,
        value: { created: 0, updated: 0, deleted: 1 },
      });
    });
  },
);
