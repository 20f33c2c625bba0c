/**
 * The L7 path's cost (root): HTTP requests/s and p99 latency from a pod to a
 * pod through the node's TPROXY'd Envoy with an RBAC rule set of 10 and of
 * 1,000 HTTP rules, against the same traffic with an L3/L4 policy only, in
 * one run on one set of processes (the controller on a watched folder, the
 * agent over xDS, the node's Envoy; pods made by the CNI chain, as in
 * test/policy.privileged.test.ts). Load: wrk (Debian package `wrk`) in the
 * client pod, keep-alive connections; server: bench/tcp-load.c's HTTP mode.
 *
 *   node bench/l7.ts [--seconds 10] [--connections 16] [--rounds 3]
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { agentRequest } from "../src/agent/client.ts";
import { DEFAULT_ENVOY_BINARY, ManagedEnvoy } from "../src/envoy/index.ts";
import { NodeLab, sweepLeftovers } from "../test/support/netns-lab.ts";
import { REPO } from "../test/support/strait-process.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    connections: { type: "string", default: "16" },
    rounds: { type: "string", default: "3" },
  },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const ROUNDS = Number(values.rounds);
const NODE = "node-1";
const TCP_LOAD = join(REPO, "build/bench/tcp-load");

function policy(rules: number, generation: number): string {
  // The matching rule is the last one, so every request is checked against all of them.
  const http = Array.from({ length: rules }, (_, i) =>
    i === rules - 1
      ? `{ method: GET, path: "/bench/${generation}" }`
      : `{ method: GET, path: "/other/${i}/[a-z]+", headers: ["X-Rule-${i}: yes"] }`,
  );
  return `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: bench, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
    - fromEndpoints: [{ matchLabels: { app: client } }]
      toPorts:
        - ports: [{ port: "80", protocol: TCP }]
          rules:
            http: [${http.join(", ")}]
    - fromEndpoints: [{ matchLabels: { app: client } }]
      toPorts:
        - ports: [{ port: "8080", protocol: TCP }]
`;
}

function wrk(netns: string, url: string): { rps: number; p99ms: number; errors: number } {
  const out = execFileSync(
    "nsenter",
    [`--net=/run/netns/${netns}`, "wrk", "-t1", `-c${CONNECTIONS}`, `-d${SECONDS}s`, "--latency", url],
    { encoding: "utf8" },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const scale = p99?.[2] === "us" ? 1e-3 : p99?.[2] === "s" ? 1e3 : 1;
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors =
    non2xx + (socketErrors === null ? 0 : socketErrors.slice(1).reduce((a, b) => a + Number(b), 0));
  return { rps, p99ms: Number(p99?.[1]) * scale, errors };
}

async function waitFor(what: string, probe: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<void> {
  execFileSync("which", ["wrk"]);
  mkdirSync(join(REPO, "build/bench"), { recursive: true });
  execFileSync("cc", ["-O2", "-Wall", "-o", TCP_LOAD, join(REPO, "bench/tcp-load.c")]);
  sweepLeftovers();
  const lab = new NodeLab(235);
  const stops: (() => Promise<unknown> | unknown)[] = [() => lab.cleanup()];
  try {
    const manifests = join(lab.dir, "manifests");
    mkdirSync(manifests);
    const accessLog = join(lab.dir, "envoy-access.log");
    writeFileSync(
      join(manifests, "cluster.yaml"),
      `apiVersion: v1\nkind: Node\nmetadata: { name: ${NODE} }\nstatus: { addresses: [{ type: InternalIP, address: 10.235.0.1 }] }\n`,
    );
    const controller = lab.startInNode([
      "run",
      "-f",
      manifests,
      "--xds-address",
      "127.0.0.1:0",
      "--http-address",
      "127.0.0.1:0",
      "--l7-access-log",
      "/dev/null",
      "--log-level",
      "info",
    ]);
    stops.unshift(() => controller.stop());
    const xds = String((await controller.waitForLog((l) => l.msg === "xDS server listening")).address);
    const agent = lab.startAgent("info", [
      "--xds-address",
      xds,
      "--node-name",
      NODE,
      "--envoy-access-log",
      accessLog,
    ]);
    stops.unshift(() => agent.stop("SIGKILL"));
    await agent.waitForLog((l) => l.msg === "agent API listening");
    const server = lab.addPod("server");
    const client = lab.addPod("client");
    const pods = [
      [server, "server"],
      [client, "client"],
    ] as const;
    writeFileSync(
      join(manifests, "pods.yaml"),
      pods
        .map(
          ([p, app]) =>
            `apiVersion: v1\nkind: Pod\nmetadata: { name: ${p.name}, namespace: default, labels: { app: ${app} } }\nspec: { nodeName: ${NODE}, containers: [{ name: c, image: x }] }\nstatus: { podIP: ${p.ip} }\n`,
        )
        .join("---\n"),
    );
    writeFileSync(join(manifests, "bench.yaml"), policy(10, 1));
    for (const port of [80, 8080]) {
      const s = spawn("nsenter", [`--net=/run/netns/${server.netns}`, TCP_LOAD, "httpserver", String(port)], {
        stdio: "ignore",
      });
      stops.unshift(() => s.kill("SIGKILL"));
    }
    const [host, port] = xds.split(":");
    const envoy = new ManagedEnvoy({
      binary: DEFAULT_ENVOY_BINARY,
      bootstrap: {
        nodeId: `envoy-${NODE}`,
        node: NODE,
        xds: { host: host ?? "", port: Number(port) },
        api: "delta",
        admin: { host: "127.0.0.1", port: 0 },
      },
      logger: pino({ level: "error" }),
      concurrency: 1,
      commandPrefix: ["nsenter", `--net=/run/netns/${lab.nodeNs}`],
    });
    await envoy.start();
    stops.unshift(() => envoy.stop());
    await waitFor("the pods programmed", async () => {
      const s = (await agentRequest(lab.socket, "GET", "/api/v1/status")).body as {
        endpoints: { state: string }[];
      };
      return s.endpoints.filter((e) => e.state === "programmed").length === 2;
    });
    const status = async (path: string) =>
      (await client.helper.call("httpRequest", { host: server.ip, port: 80, path, timeoutMs: 2000 })).status;

    const results: Record<string, { rps: number; p99ms: number; errors: number }[]> = {
      "L3/L4 policy only (port 8080)": [],
      "L7, 10 HTTP rules (port 80)": [],
      "L7, 1,000 HTTP rules (port 80)": [],
    };
    let generation = 1;
    for (let round = 0; round < ROUNDS; round++) {
      results["L3/L4 policy only (port 8080)"]?.push(wrk(client.netns, `http://${server.ip}:8080/bench`));
      for (const rules of [10, 1000]) {
        generation++;
        writeFileSync(join(manifests, "bench.yaml"), policy(rules, generation));
        const g = generation;
        await waitFor(`${rules} rules applied`, async () => (await status(`/bench/${g}`)) === 200);
        const key = rules === 10 ? "L7, 10 HTTP rules (port 80)" : "L7, 1,000 HTTP rules (port 80)";
        results[key]?.push(wrk(client.netns, `http://${server.ip}:80/bench/${g}`));
      }
    }
    const base = results["L3/L4 policy only (port 8080)"] ?? [];
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
    const baseRps = median(base.map((r) => r.rps));
    console.log(
      JSON.stringify(
        {
          seconds: SECONDS,
          connections: CONNECTIONS,
          rounds: ROUNDS,
          results: Object.fromEntries(
            Object.entries(results).map(([k, rs]) => [
              k,
              {
                rps: rs.map((r) => Math.round(r.rps)),
                p99ms: rs.map((r) => Number(r.p99ms.toFixed(2))),
                errors: rs.reduce((a, r) => a + r.errors, 0),
                medianRpsVsL3L4: Number((median(rs.map((r) => r.rps)) / baseRps).toFixed(3)),
              },
            ]),
          ),
        },
        null,
        2,
      ),
    );
  } finally {
    for (const stop of stops) await stop();
  }
}

await main();
