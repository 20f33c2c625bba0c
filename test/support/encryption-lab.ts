/**
 * Two "nodes" with everything the encrypted tunnel needs, for the
 * end-to-end tests and the benchmark: TwoNodeLab (node namespaces joined by a
 * veth pair), the identity provider and the controller (`strait run -f`)
 * in node A's namespace, a `strait agent` per node (its state over xDS, SVIDs
 * from the provider, the SDS socket for its Envoy), a real Envoy per node
 * bootstrapped to the controller, pods made by the real CNI chain: `client`
 * and `intruder` on node A, `server` on node B. The controller can be
 * restarted with or without `--auth-encryption envoy` and the server's
 * auth-required policy, to compare the three on one lab.
 *
 * The provider (encryption-identities.ts) is the built-in CA (its issuer in
 * node A's namespace) or real SPIRE (SpireNodes: spire-server in node A's
 * namespace, a spire-agent per node); with SPIRE the controller keeps the registration entries through the
 * server's API socket and the agents take their SVIDs over the Delegated
 * Identity API, as a user's cluster would.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { agentRequest } from "../../src/agent/client.ts";
import { DEFAULT_TRUST_DOMAIN } from "../../src/auth/spiffe-id.ts";
import { DEFAULT_ENVOY_BINARY, ManagedEnvoy } from "../../src/envoy/index.ts";
import { BuiltinCaIdentities, type Identities, SpireIdentities } from "./encryption-identities.ts";
import { JsonChild } from "./json-child.ts";
import type { NodeLab, Pod } from "./netns-lab.ts";
import { type SpireNodes, tail } from "./spire.ts";
import { REPO, type StraitProcess } from "./strait-process.ts";
import { TwoNodeLab } from "./two-node-lab.ts";
import { waitForValue } from "./wait.ts";

export const SERVER_PORT = 7070;
export const SINK_PORT = 7071;
export const TUNNEL_PORT = 15008;

const POLICY = `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: server-auth, namespace: default }
spec:
  endpointSelector: { matchLabels: { app: server } }
  ingress:
    - fromEndpoints: [{ matchLabels: { app: client } }]
      authentication: { mode: required }
      toPorts: [{ ports: [{ port: "${SERVER_PORT}", protocol: TCP }, { port: "${SINK_PORT}", protocol: TCP }] }]
`;

export interface Mode {
  /** `--auth-encryption envoy`. */
  readonly encryption: boolean;
  /** The server's policy requiring authentication from the client (else no policy at all). */
  readonly policy: boolean;
}

export interface LabOptions {
  /** Where the agents' SVIDs come from (default builtin-ca). */
  readonly provider?: "builtin-ca" | "spire";
}

export class EncryptionLab {
  readonly lab: TwoNodeLab;
  readonly sdsDir: string;
  readonly provider: "builtin-ca" | "spire";
  readonly #identities: Identities;
  readonly #manifests: string;
  #controller: StraitProcess | undefined;
  #xdsPort = 0;
  agentA: StraitProcess | undefined;
  agentB: StraitProcess | undefined;
  envoyA: ManagedEnvoy | undefined;
  envoyB: ManagedEnvoy | undefined;
  client!: Pod;
  readonly #moreServers: Pod[] = [];
  intruder!: Pod;
  server!: Pod;

  constructor(octetA: number, octetB: number, linkOctet: number, options: LabOptions = {}) {
    this.lab = new TwoNodeLab(octetA, octetB, linkOctet);
    this.sdsDir = join(this.lab.a.dir, "envoy-sds");
    this.#manifests = join(this.lab.a.dir, "manifests");
    this.provider = options.provider ?? "builtin-ca";
    // Any port is free in a namespace made for this lab.
    const port = 20000 + (process.pid % 20000);
    this.#identities =
      this.provider === "spire"
        ? new SpireIdentities(this.lab, port)
        : new BuiltinCaIdentities(this.lab, join(this.lab.a.dir, "ca"), port);
  }

  async start(mode: Mode): Promise<void> {
    const lab = this.lab;
    await this.#identities.start();
    mkdirSync(this.#manifests);
    // The nodes first: the CNI chain needs the agents, the agents the controller.
    this.#writeCluster(false, false);
    await this.#startController(mode.encryption);
    this.agentA = this.#startAgent(lab.a, "node-a");
    this.agentB = this.#startAgent(lab.b, "node-b");
    await this.agentA.waitForLog((l) => l.msg === "agent API listening");
    await this.agentB.waitForLog((l) => l.msg === "agent API listening");
    this.client = lab.a.addPod("client");
    this.intruder = lab.a.addPod("intruder");
    this.server = lab.b.addPod("server");
    this.#writeCluster(mode.policy);
    await this.server.helper.call("listenTcp", { port: SERVER_PORT });
    await this.server.helper.call("listenSink", { port: SINK_PORT });
    this.envoyA = this.#envoy(lab.a, "node-a");
    this.envoyB = this.#envoy(lab.b, "node-b");
    await this.envoyA.start();
    await this.envoyB.start();
    await this.settled(mode);
    // SPIRE's agents fetch the controller's new entries on a sync interval (about 5 s) and
    // strait's provider reconnects with back-off until they do: on a loaded machine that is
    // far from instant, so the lab waits until each node's SDS serves its pods' SVIDs.
    if (this.provider === "spire") await this.svidsServed(90_000);
  }

  /** Until each agent's SDS serves the bundle and an SVID for every identity of its node's pods. */
  async svidsServed(timeoutMs = 15_000): Promise<void> {
    for (const [node, agent] of [
      [this.lab.a, this.agentA],
      [this.lab.b, this.agentB],
    ] as const) {
      await waitForValue(
        `${node.nodeNs}'s SDS serving its pods' SVIDs`,
        async () => {
          const status = (await agentRequest(node.socket, "GET", "/api/v1/status")).body as {
            endpoints: { identity: number }[];
          };
          const auth = (await agentRequest(node.socket, "GET", "/api/v1/auth")).body as {
            envoySds?: { secrets: string[] };
          };
          const served = new Set(auth.envoySds?.secrets ?? []);
          const wanted = [
            `spiffe://${DEFAULT_TRUST_DOMAIN}`,
            ...status.endpoints.map((e) => `spiffe://${DEFAULT_TRUST_DOMAIN}/identity/${e.identity}`),
          ];
          return wanted.every((name) => served.has(name)) ? true : undefined;
        },
        timeoutMs,
      ).catch((error: Error) => {
        throw new Error(
          `${error.message}\n--- strait agent\n${tail(agent?.logs ?? [])}\n` +
            `--- controller\n${tail(this.#controller?.logs ?? [])}\n${this.#identities.tails()}`,
        );
      });
    }
  }

  /**
   * The client's connection to the server (`message` echoed back), under a capture of node B's
   * end of the link (test/support/sniff.py). The capture's control: the same bytes sent across
   * the link in the clear once, after the connection (UDP, no reply), so a capture that saw
   * nothing at all cannot pass for one that saw no plain text.
   */
  async connectCaptured(message: string): Promise<{
    reply: Record<string, unknown>;
    elapsedMs: number;
    capture: Record<string, unknown>;
  }> {
    const sniffer = new JsonChild(
      this.lab.b.nodeNs,
      [
        "python3",
        join(REPO, "test/support/sniff.py"),
        this.lab.linkB,
        String(TUNNEL_PORT),
        Buffer.from(message).toString("hex"),
      ],
      "pipe",
    );
    try {
      await sniffer.line((l) => l.listening !== undefined);
      const t0 = performance.now();
      const reply = await this.client.helper.call("tcpConnect", {
        host: this.server.ip,
        port: SERVER_PORT,
        message,
        timeoutMs: 5000,
      });
      const elapsedMs = performance.now() - t0;
      const nodeA = this.lab.a.nodeHelper();
      try {
        await nodeA.call("udpSend", { host: this.lab.addressB, port: 9, message, timeoutMs: 300 });
      } finally {
        nodeA.stop();
      }
      await new Promise((res) => setTimeout(res, 200));
      sniffer.child.stdin?.end();
      const capture = await sniffer.line((l) => l.frames !== undefined);
      return { reply, elapsedMs, capture };
    } finally {
      sniffer.stop();
    }
  }

  /** SPIRE's processes, when it is the provider. */
  get spire(): SpireNodes | undefined {
    return this.#identities instanceof SpireIdentities ? this.#identities.nodes : undefined;
  }

  /** The controller's log lines (its SPIRE entry sync says what it did). */
  get controllerLogs(): readonly unknown[] {
    return this.#controller?.logs ?? [];
  }

  /** Another server pod (app=server) on node B, added to the cluster the controller reads. */
  async addServer(name: string, mode: Mode): Promise<Pod> {
    const pod = this.lab.b.addPod(name);
    this.#moreServers.push(pod);
    this.#writeCluster(mode.policy);
    return pod;
  }

  /** The controller again with another mode; agents and Envoys reconnect to it. */
  async restart(mode: Mode): Promise<void> {
    await this.#controller?.stop("SIGTERM");
    this.#writeCluster(mode.policy);
    await this.#startController(mode.encryption, this.#xdsPort);
    await this.settled(mode);
  }

  /** Until both agents programmed their pods and the Envoys hold the mode's tunnel listeners. */
  async settled(mode: Mode): Promise<void> {
    for (const node of [this.lab.a, this.lab.b]) {
      await waitForValue("the pods programmed", async () => {
        const s = (await agentRequest(node.socket, "GET", "/api/v1/status")).body as {
          endpoints: { state: string }[];
        };
        return s.endpoints.length > 0 && s.endpoints.every((e) => e.state === "programmed")
          ? true
          : undefined;
      });
    }
    // Node B's agent enforces the mode's auth on the server (none, mtls-spiffe or mtls-spiffe-encrypted).
    const wanted = !mode.policy ? undefined : mode.encryption ? "mtls-spiffe-encrypted" : "mtls-spiffe";
    await waitForValue(`node B's policy (${wanted ?? "none"})`, async () => {
      const d = (await agentRequest(this.lab.b.socket, "GET", "/api/v1/desired-state")).body as {
        policies?: { entries: { auth?: string }[] }[];
      };
      const auths = (d.policies ?? []).flatMap((p) => p.entries.map((x) => x.auth));
      return wanted === undefined
        ? auths.length === 0
          ? true
          : undefined
        : auths.includes(wanted)
          ? true
          : undefined;
    });
    const tunnel = mode.encryption && mode.policy;
    for (const [node, envoy, listener] of [
      [this.lab.a, this.envoyA, "strait/encrypt/outbound"],
      [this.lab.b, this.envoyB, "strait/encrypt/inbound"],
    ] as const) {
      if (envoy === undefined) continue;
      await waitForValue(`${listener} ${tunnel ? "active" : "gone"}`, async () =>
        (await this.listenersOf(node, envoy)).includes(listener) === tunnel ? true : undefined,
      );
    }
  }

  async listenersOf(node: NodeLab, envoy: ManagedEnvoy): Promise<string> {
    return this.envoyAdmin(node, envoy, "/listeners");
  }

  /** A GET of the Envoy's admin interface (on the node's loopback), its body. */
  async envoyAdmin(node: NodeLab, envoy: ManagedEnvoy, path: string): Promise<string> {
    const helper = node.nodeHelper();
    try {
      const r = await helper.call("httpRequest", {
        host: "127.0.0.1",
        port: Number(envoy.adminAddress?.split(":")[1]),
        path,
      });
      return String(r.body ?? "");
    } finally {
      helper.stop();
    }
  }

  async restartEnvoyA(): Promise<void> {
    this.envoyA = this.#envoy(this.lab.a, "node-a");
    await this.envoyA.start();
  }

  #writeCluster(policy: boolean, pods = true): void {
    const lab = this.lab;
    const pod = (p: Pod, node: string, labels: Record<string, string>) => `
apiVersion: v1
kind: Pod
metadata: { name: ${p.name}, namespace: default, labels: ${JSON.stringify(labels)} }
spec: { nodeName: ${node}, containers: [{ name: main, image: example }] }
status: { podIP: ${p.ip}, podIPs: [{ ip: ${p.ip} }], phase: Running }
`;
    const node = (name: string, address: string) =>
      `apiVersion: v1\nkind: Node\nmetadata: { name: ${name} }\nstatus: { addresses: [{ type: InternalIP, address: ${address} }] }\n`;
    const file = join(this.#manifests, "cluster.yaml");
    writeFileSync(
      `${file}.tmp`,
      [
        node("node-a", lab.addressA),
        node("node-b", lab.addressB),
        "apiVersion: v1\nkind: Namespace\nmetadata: { name: default }\n",
        ...(pods
          ? [
              pod(this.client, "node-a", { app: "client" }),
              pod(this.intruder, "node-a", { app: "intruder" }),
              pod(this.server, "node-b", { app: "server" }),
              ...this.#moreServers.map((p) => pod(p, "node-b", { app: "server" })),
            ]
          : []),
        ...(policy ? [POLICY] : []),
      ].join("---\n"),
    );
    // One rename: the file source never reads half a file.
    renameSync(`${file}.tmp`, file);
  }

  async #startController(encryption: boolean, port = 0): Promise<void> {
    this.#controller = this.lab.a.startInNode([
      "run",
      "-f",
      this.#manifests,
      "--xds-address",
      `0.0.0.0:${port}`,
      // Inside namespaces made for the lab; xDS over mutual TLS has its own test (xds-builtin-ca).
      "--xds-plaintext",
      "--http-address",
      "127.0.0.1:0",
      ...(encryption ? ["--auth-encryption", "envoy", "--auth-encryption-sds-dir", this.sdsDir] : []),
      ...this.#identities.controllerArgs(),
      "--log-level",
      "info",
    ]);
    const xds = await this.#controller.waitForLog((l) => l.msg === "xDS server listening");
    this.#xdsPort = Number(String(xds.address).split(":").pop());
  }

  #startAgent(node: NodeLab, name: string): StraitProcess {
    return node.startAgent("info", [
      "--xds-address",
      `${this.lab.addressA}:${this.#xdsPort}`,
      "--node-name",
      name,
      ...this.#identities.agentArgs(node, name),
      "--envoy-sds-dir",
      this.sdsDir,
    ]);
  }

  #envoy(node: NodeLab, name: string): ManagedEnvoy {
    return new ManagedEnvoy({
      binary: DEFAULT_ENVOY_BINARY,
      bootstrap: {
        nodeId: `envoy-${name}`,
        node: name,
        xds: { host: this.lab.addressA, port: this.#xdsPort },
        api: "delta",
        admin: { host: "127.0.0.1", port: 0 },
      },
      logger: pino({ level: "warn" }),
      concurrency: 1,
      commandPrefix: ["nsenter", `--net=/run/netns/${node.nodeNs}`],
    });
  }

  async stop(): Promise<void> {
    await this.envoyA?.stop();
    await this.envoyB?.stop();
    await this.agentA?.stop("SIGKILL");
    await this.agentB?.stop("SIGKILL");
    await this.#controller?.stop("SIGTERM");
    await this.#identities.stop();
    this.lab.cleanup();
  }
}
