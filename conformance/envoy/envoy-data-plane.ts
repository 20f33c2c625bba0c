/**
 * The Envoy engine of the conformance runner: one real Envoy (build/bin/envoy)
 * for the whole run, bootstrapped in delta ADS to an xDS server of the
 * runner's own (strait's SnapshotCache and XdsServer), echo backends on the
 * Pods' addresses, and a client that sends every request of the suite over
 * a real socket through Envoy: HTTP requests, TLSRoute connections (node:tls
 * with the check's SNI) and unary gRPC calls (@grpc/grpc-js).
 *
 * Each test's configuration is published to the cache and the engine waits
 * until Envoy runs it: every type ACKed (a NACK fails the test with Envoy's
 * error), and Envoy's own config dump showing every listener and cluster at
 * the version strait serves, none warming, none left over. No sleeps.
 *
 * It runs inside the runner's own network namespace (conformance/envoy/netns.ts),
 * where the Gateways' addresses and ports (80, 443, ...) and the Pods'
 * addresses are free and local.
 */
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { envoyResources, sideBySide } from "../../src/cli/commands/proxy-config.ts";
import { ManagedEnvoy, resolveEnvoyBinary, type XdsApi } from "../../src/envoy/index.ts";
import type { MeshService } from "../../src/model/mesh-service.ts";
import { SnapshotCache, UNKNOWN_NODE } from "../../src/xds/cache/index.ts";
import type { XdsAnswer } from "../../src/xds/server/client-status.ts";
import { DEFAULT_LIMITS, XdsServer } from "../../src/xds/server/index.ts";
import type { EnvoyResourceSet } from "../../src/xds/translate/resource-set.ts";
import type {
  ConnectionRequest,
  ConnectionResult,
  GrpcCall,
  GrpcResult,
  TrafficEngine,
  TrafficRequest,
  TrafficResult,
} from "../checks/traffic.ts";
import type { ConformanceCluster, Pod } from "../cluster.ts";
import {
  type DataPlane,
  gatewayTarget,
  grpcTarget,
  type SimulatedTraffic,
  serverCertificateProblem,
} from "../strait-target.ts";
import { grpcOverWire, probeOverWire, sendOverWire, type WireAnswer, type WireTarget } from "./client.ts";
import { connectionDifferences, differences, grpcDifferences } from "./cross-check.ts";
import { EchoBackends, PROBE_HEADER } from "./echo-backends.ts";
import { MeshPods } from "./mesh-pods.ts";

const NODE_ID = "strait-conformance";
const SYNC_TIMEOUT_MS = 60_000;
/** gRPC's UNAVAILABLE: a call that could not be made. */
const GRPC_UNAVAILABLE = 14;

/** Other random draws tried when Envoy's answer differs from the simulator's first prediction. */
const ALTERNATIVE_DRAWS = 64;
/** How long mirrored copies may take to reach their backends after the answer. */
const MIRROR_WAIT_MS = 5_000;
/** The same, for a mirror Envoy may not send (a percentage). */
const UNCERTAIN_MIRROR_WAIT_MS = 100;

export interface Disagreement {
  readonly test: string;
  readonly request: string;
  readonly differences: readonly string[];
}

export interface EnvoyDataPlaneOptions {
  readonly api?: XdsApi;
  /**
   * The MESH mode (root only, mesh-pods.ts): mesh client Pods in network
   * namespaces of their own, their requests redirected to Envoy by strait's datapath.
   */
  readonly mesh?: boolean;
  /** Envoy's log level (default error); its lines reach stderr. */
  readonly logLevel?: string;
}

export class EnvoyDataPlane implements DataPlane {
  readonly backends = new EchoBackends();
  readonly disagreements: Disagreement[] = [];
  /** Milliseconds from publishing a test's configuration to Envoy running it, per push. */
  readonly syncTimes: number[] = [];
  /** Requests sent through Envoy. */
  requests = 0;
  /** The test whose requests are being sent (for the disagreement report). */
  currentTest = "";
  readonly api: XdsApi;
  readonly #cache: SnapshotCache;
  readonly #server: XdsServer;
  readonly #envoy: ManagedEnvoy;
  /** NACKs since the last publish. */
  readonly #nacks: XdsAnswer[];
  /** The mesh client Pods and the datapath between them and Envoy, in the MESH mode. */
  readonly mesh: MeshPods | undefined;

  private constructor(
    api: XdsApi,
    cache: SnapshotCache,
    server: XdsServer,
    envoy: ManagedEnvoy,
    nacks: XdsAnswer[],
    mesh: MeshPods | undefined,
  ) {
    this.api = api;
    this.mesh = mesh;
    this.#cache = cache;
    this.#server = server;
    this.#envoy = envoy;
    this.#nacks = nacks;
  }

  static async start(options: EnvoyDataPlaneOptions = {}): Promise<EnvoyDataPlane> {
    const logger = pino({ level: "warn" }, pino.destination(2));
    const nacks: XdsAnswer[] = [];
    const cache = new SnapshotCache();
    const server = new XdsServer({
      cache,
      logger,
      limits: DEFAULT_LIMITS,
      onAnswer: (answer) => {
        if (!answer.accepted) nacks.push(answer);
      },
    });
    const bound = await server.listen("127.0.0.1", 0);
    const envoy = new ManagedEnvoy({
      binary: resolveEnvoyBinary(process.env.STRAIT_ENVOY_BINARY),
      logger,
      logLevel: options.logLevel ?? "error",
      concurrency: 1,
      bootstrap: {
        nodeId: NODE_ID,
        xds: { host: "127.0.0.1", port: bound.port },
        api: options.api ?? "delta",
        admin: { host: "127.0.0.1", port: 0 },
      },
    });
    // The datapath first: when it cannot load, no Envoy is left running.
    const mesh = options.mesh === true ? await MeshPods.open() : undefined;
    await envoy.start();
    return new EnvoyDataPlane(options.api ?? "delta", cache, server, envoy, nacks, mesh);
  }

  async serve(
    resources: EnvoyResourceSet,
    cluster: ConformanceCluster,
    simulator: SimulatedTraffic,
    meshServices: readonly MeshService[],
  ): Promise<TrafficEngine> {
    await this.backends.serve(cluster);
    this.mesh?.ensure(cluster.meshClients());
    const started = performance.now();
    this.#nacks.length = 0;
    const published = this.#cache.publish(resources);
    if (!published.ok)
      throw new Error(
        `the configuration does not encode: ${published.invalid.map((i) => `${i.name}: ${i.error}`).join("; ")}`,
      );
    await this.#waitForSync();
    // As the agent: the redirect of a mesh service is programmed once its listener runs.
    this.mesh?.program(meshServices);
    this.syncTimes.push(performance.now() - started);
    return new EnvoyTraffic(this, cluster, simulator);
  }

  async close(): Promise<void> {
    await this.mesh?.close();
    await this.#envoy.stop();
    await this.#server.close();
    await this.backends.close();
  }

  /** Why Envoy does not run the published configuration yet, or undefined once it does. */
  async #notYet(): Promise<string | undefined> {
    const client = this.#server.clients().find((c) => c.node.id === NODE_ID);
    if (client === undefined) return "Envoy has not connected";
    // Answered: ACKed, or NACKed (a NACK of this publish fails the wait; one of an earlier test's
    // configuration stays the last answer of a type nothing has been sent for since).
    const pending = client.types.filter(
      (t) =>
        t.lastSent !== undefined &&
        t.lastAcked?.nonce !== t.lastSent.nonce &&
        t.lastNacked?.nonce !== t.lastSent.nonce,
    );
    if (pending.length > 0) return `waiting for ACKs of ${pending.map((t) => t.type).join(", ")}`;
    const snapshot = this.#cache.snapshotFor(
      this.#server.nodeOf(NODE_ID) ?? { ...UNKNOWN_NODE, id: NODE_ID },
    );
    if (snapshot === undefined) return "nothing published";
    const served = snapshot.wildcardResources();
    const dump = await this.#envoy.admin().configDump();
    // Secrets are dumped without their keys, so only versions can be compared: per resource in delta,
    // but the response's version in state of the world, where the ACKs above are the proof.
    const kinds: Parameters<typeof sideBySide>[2] = [
      "listeners",
      "clusters",
      "routes",
      "endpoints",
      ...(this.api === "delta" ? (["secrets"] as const) : []),
    ];
    const rows = sideBySide(served, envoyResources(dump), kinds);
    const wrong = rows.filter((r) =>
      r.kind === "listeners" || r.kind === "clusters"
        ? r.state !== "SYNCED"
        : r.state === "DIFFERS" || r.state === "WARMING" || r.state === "REJECTED",
    );
    if (wrong.length === 0) return undefined;
    return wrong
      .slice(0, 5)
      .map((r) => `${r.kind} ${r.name} ${r.state}${r.error === undefined ? "" : ` (${r.error})`}`)
      .join(", ");
  }

  async #waitForSync(): Promise<void> {
    const deadline = Date.now() + SYNC_TIMEOUT_MS;
    let last = "";
    for (;;) {
      const nack = this.#nacks[0];
      if (nack !== undefined)
        throw new Error(
          `Envoy rejected the configuration (${nack.typeUrl.split(".").pop()} ${nack.resources.map((r) => r.name).join(", ")}): ${nack.error ?? ""}`,
        );
      const why = await this.#notYet();
      if (why === undefined) return;
      last = why;
      if (Date.now() > deadline)
        throw new Error(`Envoy did not run the configuration within ${SYNC_TIMEOUT_MS} ms: ${last}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** Requests over real sockets through Envoy, each compared with the simulator's prediction. */
class EnvoyTraffic implements TrafficEngine {
  readonly #plane: EnvoyDataPlane;
  readonly #cluster: ConformanceCluster;
  readonly #simulator: SimulatedTraffic;

  constructor(plane: EnvoyDataPlane, cluster: ConformanceCluster, simulator: SimulatedTraffic) {
    this.#plane = plane;
    this.#cluster = cluster;
    this.#simulator = simulator;
  }

  /**
   * A real unary call with grpc-js (plaintext HTTP/2) to the Gateway, to the
   * gRPC echo backends behind Envoy; the code and the backend that answered
   * are compared with the simulator's.
   */
  async grpc(call: GrpcCall): Promise<GrpcResult> {
    const predicted = await this.#simulator.grpc(call);
    const target = grpcTarget(this.#cluster, call);
    if (target.kind === "failed") return predicted;
    const { address, port } = target;
    const probe = randomUUID();
    this.#plane.requests++;
    const metadata = { ...call.metadata, [PROBE_HEADER]: probe };
    const answer =
      target.client === undefined
        ? await grpcOverWire(`${address}:${port}`, target.authority, call.method, metadata)
        : await this.#grpcFromMeshClient(target.client, target, call.method, metadata);
    const main = this.#plane.backends.hits(probe).at(-1);
    this.#plane.backends.forget(probe);
    const actual: GrpcResult = {
      ...answer,
      ...(main === undefined
        ? {}
        : { backend: { pod: main.pod, namespace: main.namespace, request: main.request } }),
    };
    // The load balancer's draw picks the backend: any draw of the simulator may agree.
    let found = grpcDifferences(predicted, actual);
    for (let i = 0; found.length > 0 && i < ALTERNATIVE_DRAWS; i++) {
      const other = await this.#simulator.grpc({ ...call, random: (i + 0.5) / ALTERNATIVE_DRAWS });
      if (grpcDifferences(other, actual).length === 0) found = [];
    }
    if (found.length > 0) {
      const from =
        target.client === undefined ? "" : ` from ${target.client.namespace}/${target.client.name}`;
      const what = `gRPC ${call.method} (${address}:${port}, authority ${target.authority}${from})`;
      this.#disagree(what, found);
    }
    return actual;
  }

  /**
   * A real TCP or TLS connection (node:tls, SNI from the request) to the
   * Gateway; the first bytes are the echo backends' probe line, answered by
   * the backend the stream reaches with its identity, whether it terminated
   * TLS and the SNI it saw (conformance/envoy/echo-backends.ts). An HTTP
   * listener's answer (Envoy's 400 to the probe line) is a connection that
   * reached no TCP backend; a reset or a failed handshake a failed one.
   */
  async connect(request: ConnectionRequest): Promise<ConnectionResult> {
    const gwAddress = this.gatewayAddress(request.gateway.namespace, request.gateway.name, request.port);
    if (gwAddress === undefined) return this.#simulator.connect(request);
    const [address = "", portText = "443"] = gwAddress.split(":");
    const probe = randomUUID();
    const backends = this.#plane.backends;
    this.#plane.requests++;
    const answer = await probeOverWire(address, Number(portText), request.tls, request.sni, probe);
    const hit = backends.streamHit(probe);
    backends.forget(probe);
    const actual: ConnectionResult =
      hit !== undefined
        ? {
            kind: "connected",
            backend: { pod: hit.pod, namespace: hit.namespace },
            backendIsTls: hit.tls,
            backendSni: hit.sni,
          }
        : answer.kind === "answered" && answer.reply.startsWith("HTTP/")
          ? { kind: "connected", backendIsTls: false, backendSni: "" }
          : {
              kind: "failed",
              reason: answer.kind === "failed" ? answer.reason : "closed without a backend's answer",
            };
    // The load balancer's draw picks the backend: any draw of the simulator may agree.
    const predicted = await this.#simulator.connect(request);
    let found = connectionDifferences(predicted, actual);
    for (let i = 0; found.length > 0 && i < ALTERNATIVE_DRAWS; i++) {
      const other = await this.#simulator.connect({ ...request, random: (i + 0.5) / ALTERNATIVE_DRAWS });
      if (connectionDifferences(other, actual).length === 0) found = [];
    }
    if (found.length > 0) {
      const what = `${request.tls ? "TLS" : "TCP"} connection to ${address}:${portText}${request.sni === undefined ? "" : `, SNI ${request.sni}`}`;
      this.#disagree(what, found);
    }
    return actual;
  }

  /** A mesh client Pod's request: sent from inside its network namespace (MESH mode only). */
  #fromMeshClient(
    client: Pod,
    target: WireTarget,
    request: TrafficRequest,
    extraHeaders: Readonly<Record<string, string>>,
  ): Promise<WireAnswer> {
    const mesh = this.#plane.mesh;
    if (mesh === undefined)
      return Promise.resolve({
        kind: "failed",
        reason:
          "a mesh client Pod's request needs the Envoy engine's MESH mode (--profiles MESH-HTTP or MESH-GRPC, as root)",
      });
    return mesh.send(client, target, request, extraHeaders);
  }

  /** A mesh client Pod's gRPC call: made from inside its network namespace (MESH mode only). */
  #grpcFromMeshClient(
    client: Pod,
    target: WireTarget,
    method: string,
    metadata: Readonly<Record<string, string>>,
  ): Promise<{ code: number; message: string }> {
    const mesh = this.#plane.mesh;
    if (mesh === undefined)
      return Promise.resolve({
        code: GRPC_UNAVAILABLE,
        message:
          "a mesh client Pod's call needs the Envoy engine's MESH mode (--profiles MESH-GRPC, as root)",
      });
    return mesh.sendGrpc(client, target, method, metadata);
  }

  #disagree(what: string, found: readonly string[]): never {
    this.#plane.disagreements.push({ test: this.#plane.currentTest, request: what, differences: found });
    throw new Error(`the simulator and Envoy disagree on ${what}:\n      ${found.join("\n      ")}`);
  }

  gatewayAddress(namespace: string, name: string, port?: number): string | undefined {
    return this.#simulator.gatewayAddress(namespace, name, port);
  }

  async send(request: TrafficRequest): Promise<TrafficResult> {
    const target = gatewayTarget(this.#cluster, request);
    if (target.kind === "failed") return target;
    const predicted = this.#simulator.predict(request);
    const probe = randomUUID();
    const backends = this.#plane.backends;
    this.#plane.requests++;
    const trusted = request.trustedServerCertPem;
    const answer =
      target.client !== undefined
        ? await this.#fromMeshClient(target.client, target, request, { [PROBE_HEADER]: probe })
        : await sendOverWire(
            target,
            request,
            { [PROBE_HEADER]: probe },
            trusted === undefined
              ? undefined
              : (chain) => serverCertificateProblem(chain.join("\n"), trusted, request.sni, new Date()),
          );
    let actual: TrafficResult;
    let attempts = 0;
    if (answer.kind === "failed") actual = answer;
    else {
      const mirrors = predicted.kind === "response" ? predicted.mirrors.length : 0;
      if (mirrors > 0) {
        // Mirrors Envoy sends whatever it draws are waited for; ones it may skip (a percentage, as
        // other draws tell) only briefly: they leave with the request and arrive before its answer.
        const certain = this.#simulator
          .alternatives(request, 8)
          .every((p) => p.kind === "response" && p.mirrors.length >= mirrors);
        await backends.waitForHits(
          probe,
          (hits) => hits.filter((h) => h.shadow).length >= mirrors,
          certain ? MIRROR_WAIT_MS : UNCERTAIN_MIRROR_WAIT_MS,
        );
      }
      const hits = backends.hits(probe);
      attempts = hits.filter((h) => !h.shadow).length;
      const main = hits.filter((h) => !h.shadow).at(-1);
      actual = {
        ...answer,
        ...(main === undefined
          ? {}
          : { backend: { pod: main.pod, namespace: main.namespace, request: main.request } }),
        mirrors: hits
          .filter((h) => h.shadow)
          .map((h) => ({ pod: h.pod, namespace: h.namespace, request: h.request })),
      };
    }
    backends.forget(probe);
    // The suite's client trusts only the check's server certificate (RootCAs, ServerName): a
    // handshake with another one fails, as it does on the simulator (serverCertificateProblem).
    if (
      request.scheme === "https" &&
      request.trustedServerCertPem !== undefined &&
      answer.kind === "response"
    ) {
      const problem = serverCertificateProblem(
        answer.serverCertificatesPem?.[0],
        request.trustedServerCertPem,
        request.sni,
        new Date(),
      );
      if (problem !== undefined)
        actual = {
          kind: "failed",
          reason: problem,
          ...(answer.clientCertRequested === true ? { clientCertRequested: true } : {}),
        };
    }
    const allow = { retried: attempts > 1 };
    const found = differences(predicted, actual, allow);
    if (
      found.length > 0 &&
      !this.#simulator
        .alternatives(request, ALTERNATIVE_DRAWS)
        .some((p) => differences(p, actual, allow).length === 0)
    ) {
      const what = `${request.method} ${request.scheme}://${target.authority}${request.path} (${target.address}:${target.port}${request.sni === undefined ? "" : `, SNI ${request.sni}`})`;
      this.#plane.disagreements.push({ test: this.#plane.currentTest, request: what, differences: found });
      throw new Error(`the simulator and Envoy disagree on ${what}:\n      ${found.join("\n      ")}`);
    }
    return actual;
  }
}
