/**
 * `npm run bench:auth-syn -- [pairs]` (root; run it under `flock /tmp/strait-kernel.lock`):
 * first SYN to established (connect, one line and its echo, close) across two "nodes" on this
 * machine's kernel, as test/auth.privileged.test.ts sets them up (TwoNodeLab: two node
 * namespaces, each with its own `strait agent` and a pod made by the real CNI chain; SVIDs
 * from the built-in CA's issuer in node A's namespace). Every sample is a fresh identity
 * pair: node A's agent holds SVIDs for `pairs` client identities up front, and before each
 * connection node B's ipcache gives the client pod the next one, so no auth entry exists yet.
 * Node B's ingress policy allows each of them on the port, once without auth, once with
 * `auth: mtls-spiffe` (authentication.mode: required). With auth, the agent's own handshake
 * time (its "authenticated" log line, event to auth map entry) is reported too. Prints JSON.
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { agentRequest } from "../src/agent/client.ts";
import { CertificateAuthority } from "../src/auth/builtin-ca/authority.ts";
import { derToPem } from "../src/auth/certificate.ts";
import { DEFAULT_TRUST_DOMAIN } from "../src/auth/spiffe-id.ts";
import { desiredEndpoint as ep } from "../test/support/desired-endpoint.ts";
import { sweepLeftovers } from "../test/support/netns-lab.ts";
import { REPO } from "../test/support/strait-process.ts";
import { TwoNodeLab } from "../test/support/two-node-lab.ts";

const PAIRS = Number(process.argv[2] ?? 50);
const SERVER = 1002;
const FIRST_CLIENT = 2001;
const PORT = 7070;
const AUTH_PORT = 20000 + (process.pid % 20000);
const ISSUER_PORT = AUTH_PORT + 1;

if (process.getuid?.() !== 0) {
  console.error("bench/auth-first-syn.ts needs root (network namespaces, eBPF)");
  process.exit(2);
}
if (!Number.isInteger(PAIRS) || PAIRS < 1 || PAIRS > 1000) {
  console.error("pairs must be an integer from 1 to 1000");
  process.exit(2);
}

const clients = Array.from({ length: PAIRS }, (_, i) => FIRST_CLIENT + i);

sweepLeftovers();
const lab = new TwoNodeLab(238, 239, 3);
const children: { kill(signal: NodeJS.Signals): unknown }[] = [];
try {
  const caDir = join(lab.a.dir, "ca");
  mkdirSync(caDir, { recursive: true });
  const ca = await CertificateAuthority.loadOrCreate(DEFAULT_TRUST_DOMAIN, caDir, new Date());
  writeFileSync(join(caDir, "root.pem"), derToPem(ca.rootDer));
  const issuer = spawn(
    "nsenter",
    [
      `--net=/run/netns/${lab.a.nodeNs}`,
      process.execPath,
      join(REPO, "test/support/builtin-ca-issuer.ts"),
      caDir,
      DEFAULT_TRUST_DOMAIN,
      lab.addressA,
      String(ISSUER_PORT),
      "3600000",
      "node-a=token-a-0123456789,node-b=token-b-0123456789",
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  children.push(issuer);
  let issued = 0;
  const listening = new Promise<void>((resolve) => {
    createInterface({ input: issuer.stdout }).on("line", (l) => {
      if (l.includes('"url"')) resolve();
      if (l.includes('"issued"')) issued++;
    });
  });
  await listening;

  const agent = (which: "a" | "b") => {
    const node = which === "a" ? lab.a : lab.b;
    writeFileSync(join(node.dir, "token"), `token-${which}-0123456789\n`);
    const p = node.startAgent("info", [
      ...["--auth-provider", "builtin-ca", "--trust-domain", DEFAULT_TRUST_DOMAIN],
      ...["--auth-address", `${which === "a" ? lab.addressA : lab.addressB}:${AUTH_PORT}`],
      ...["--builtin-ca-url", `https://${lab.addressA}:${ISSUER_PORT}`],
      ...["--builtin-ca-root", join(caDir, "root.pem")],
      ...["--builtin-ca-token-file", join(node.dir, "token")],
    ]);
    children.push({ kill: () => void p.stop("SIGKILL") });
    return p;
  };
  const agentA = agent("a");
  const agentB = agent("b");
  await agentA.waitForLog((l) => l.msg === "agent API listening");
  await agentB.waitForLog((l) => l.msg === "agent API listening");
  const client = lab.a.addPod("client");
  const server = lab.b.addPod("server");

  // Node A: the client pod's endpoint and one SVID-holding endpoint per client identity.
  const stateA = {
    endpoints: clients.map((identity, i) => ep(i + 1, identity, i === 0 ? "client" : `client-${i}`)),
    policies: [],
    ipcache: [
      { prefix: `${client.ip}/32`, identity: FIRST_CLIENT },
      { prefix: `${server.ip}/32`, identity: SERVER, node: lab.addressB },
    ],
  };
  const stateB = (clientIdentity: number, auth: boolean) => ({
    endpoints: [ep(1, SERVER, "server")],
    policies: [
      {
        endpointId: 1,
        ingressEnforced: true,
        egressEnforced: false,
        entries: clients.map((remoteIdentity) => ({
          direction: "ingress",
          remoteIdentity,
          protocol: "TCP",
          port: PORT,
          verdict: "allow",
          ...(auth ? { auth: "mtls-spiffe" } : {}),
          sources: [],
        })),
        sources: [],
      },
    ],
    ipcache: [
      { prefix: `${server.ip}/32`, identity: SERVER },
      { prefix: `${client.ip}/32`, identity: clientIdentity, node: lab.addressA },
    ],
  });
  const put = async (socket: string, state: unknown) => {
    const r = await agentRequest(socket, "PUT", "/api/v1/desired-state", state);
    if (r.status !== 200) throw new Error(`desired state refused: ${JSON.stringify(r.body)}`);
  };
  await put(lab.a.socket, stateA);
  await put(lab.b.socket, stateB(FIRST_CLIENT, false));
  const echo = await server.helper.call("listenTcp", { port: PORT });
  if (!echo.ok) throw new Error(`listenTcp: ${JSON.stringify(echo)}`);
  const svidsBy = Date.now() + 60_000;
  while (issued < PAIRS + 1) {
    if (Date.now() > svidsBy) throw new Error(`only ${issued} of ${PAIRS + 1} SVIDs issued in 60 s`);
    await new Promise((r) => setTimeout(r, 50));
  }

  const q = (xs: readonly number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return Number((s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN).toFixed(1));
  };
  const summary = (xs: readonly number[]) => ({
    n: xs.length,
    p50: q(xs, 0.5),
    p99: q(xs, 0.99),
    min: q(xs, 0),
    max: q(xs, 1),
  });

  const run = async (auth: boolean) => {
    const total: number[] = [];
    const handshake: number[] = [];
    let failed = 0;
    for (const identity of clients) {
      await put(lab.b.socket, stateB(identity, auth));
      const t0 = performance.now();
      const r = await client.helper.call("tcpConnect", {
        host: server.ip,
        port: PORT,
        message: "x",
        timeoutMs: 10_000,
      });
      const ms = performance.now() - t0;
      if (!r.ok) {
        failed++;
        continue;
      }
      total.push(ms);
      if (auth) {
        const line = await agentB.waitForLog(
          (l) =>
            l.msg === "authenticated" &&
            (l.key as { remoteIdentity?: number } | undefined)?.remoteIdentity === identity,
          5000,
        );
        handshake.push(Number(line.ms));
      }
    }
    return {
      failed,
      firstSynToEstablishedMs: summary(total),
      ...(auth ? { agentHandshakeMs: summary(handshake) } : {}),
    };
  };

  const none = await run(false);
  const required = await run(true);
  console.log(
    JSON.stringify(
      {
        date: new Date().toISOString(),
        cpu: `${cpus()[0]?.model ?? "?"} x${cpus().length}`,
        node: process.version,
        loadavg: loadavg().map((x) => Number(x.toFixed(2))),
        pairs: PAIRS,
        none,
        required,
      },
      null,
      2,
    ),
  );
} finally {
  for (const c of children) c.kill("SIGKILL");
  lab.cleanup();
}
