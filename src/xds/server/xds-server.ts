/**
 * The xDS server: envoy.service.discovery.v3.AggregatedDiscoveryService on
 * @grpc/grpc-js, over plaintext or TLS with client-certificate verification.
 *
 * strait owns the listening socket and hands each connection to gRPC (a
 * connection injector), so it can cut off one client's connection — a
 * client that stopped reading — without touching any other. Limits: open
 * streams (over all clients), request size, subscriptions per stream, types
 * per stream, and the time a client may take to read a response.
 */
import { chmodSync, rmSync } from "node:fs";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { Server as GrpcServer, ServerCredentials, type ServerDuplexStream, status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { ERROR_CODES, StraitError } from "../../errors.ts";
import type { NodeInfo } from "../cache/node.ts";
import type { SnapshotCache } from "../cache/snapshot-cache.ts";
import { adsServiceDefinition, sdsServiceDefinition } from "./ads-service.ts";
import type { AdsStream, StreamContext, XdsLimits } from "./ads-stream.ts";
import type { ClientStatus, XdsAnswer } from "./client-status.ts";
import { DeltaStream } from "./delta-stream.ts";
import type { XdsMetrics } from "./metrics.ts";
import type { Decoded, DeltaRequest, SotwRequest } from "./requests.ts";
import { SendBudget } from "./send-budget.ts";
import { SotwStream } from "./sotw-stream.ts";
import { WriteDeadlines } from "./write-deadlines.ts";

export interface XdsTls {
  /** PEM certificate chain the server presents. */
  readonly cert: Buffer;
  readonly key: Buffer;
  /** PEM CA bundle client certificates must chain to; clients without one are refused. */
  readonly clientCa: Buffer;
}

/**
 * TLS material that changes (a certificate renewed before it expires): new
 * connections get the latest; connections already open keep theirs.
 */
export interface XdsTlsSource {
  current(): XdsTls;
  /** Registers a listener for new material; returns its removal. */
  onChange(listener: (tls: XdsTls) => void): () => void;
}

/**
 * Server credentials whose secure context follows an XdsTlsSource: grpc-js
 * calls setSecureContext on its TLS server with each update, so new
 * connections get the new certificate. (grpc-js 1.14's experimental
 * certificate-provider credentials start with no context when the provider
 * answers at once, and refuse every connection until a second update.)
 */
class RenewedServerCredentials extends ServerCredentials {
  constructor(source: XdsTlsSource) {
    super({ requestCert: true, rejectUnauthorized: true }, contextOf(source.current()));
    source.onChange((tls) => this.updateSecureContextOptions(contextOf(tls)));
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

function contextOf(tls: XdsTls): { ca: Buffer; cert: Buffer; key: Buffer } {
  return { ca: tls.clientCa, cert: tls.cert, key: tls.key };
}

function serverCredentials(tls: XdsTls | XdsTlsSource | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  if (!("current" in tls)) {
    return ServerCredentials.createSsl(tls.clientCa, [{ cert_chain: tls.cert, private_key: tls.key }], true);
  }
  return new RenewedServerCredentials(tls);
}

export interface XdsServerOptions {
  readonly cache: SnapshotCache;
  readonly logger: Logger;
  readonly metrics?: XdsMetrics;
  readonly limits: XdsLimits;
  /** TLS with client-certificate verification; plaintext without. */
  readonly tls?: XdsTls | XdsTlsSource;
  /** Every ACK and NACK, with the resources of the answered response. */
  readonly onAnswer?: (answer: XdsAnswer) => void;
  /** A stream ended (its client's answers no longer hold). */
  readonly onStreamClosed?: (stream: number, node: string) => void;
  /** Whether a client's certificate may speak for the node it announces (see StreamContext). */
  readonly authorizeNode?: StreamContext["authorizeNode"];
}

export const DEFAULT_LIMITS: XdsLimits = {
  maxStreams: 10_000,
  maxMessageBytes: 4 * 1024 * 1024,
  maxSubscriptionsPerStream: 100_000,
  writeTimeoutMs: 30_000,
  maxBytesInFlight: 256 * 1024 * 1024,
};

/** Server pings keep idle connections honest (a vanished client is noticed within about a minute). */
const KEEPALIVE_MS = 60_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;
/**
 * Connections the kernel queues before strait accepts them (capped by net.core.somaxconn). A
 * fleet reconnects at once after a restart; with Node's default of 511, 10,000 Envoys
 * overflowed the queue and a fifth of them were reset and had to retry (bench:xds-fanout).
 */
const LISTEN_BACKLOG = 4096;
/** An xDS client needs one or two streams per connection; more is a misbehaving client. */
const MAX_STREAMS_PER_CONNECTION = 16;

function peerKey(address: string | undefined, port: number | undefined): string {
  return `${address ?? ""}:${port ?? 0}`;
}

export class XdsServer {
  readonly #options: XdsServerOptions;
  readonly #grpc: GrpcServer;
  readonly #net: NetServer;
  readonly #sockets = new Map<string, Socket>();
  readonly #streams = new Set<AdsStream<unknown>>();
  readonly #context: StreamContext;
  #nextStream = 1;
  #closing = false;

  constructor(options: XdsServerOptions) {
    this.#options = options;
    const { limits, logger } = options;
    this.#grpc = new GrpcServer({
      "grpc.max_receive_message_length": limits.maxMessageBytes,
      "grpc.max_send_message_length": -1,
      "grpc.keepalive_time_ms": KEEPALIVE_MS,
      "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
      "grpc.max_concurrent_streams": MAX_STREAMS_PER_CONNECTION,
    });
    this.#context = {
      cache: options.cache,
      logger,
      metrics: options.metrics,
      limits,
      budget: new SendBudget(limits.maxBytesInFlight),
      deadlines: new WriteDeadlines(limits.writeTimeoutMs),
      cutOff: (peer) => this.#sockets.get(peer)?.destroy(),
      closed: (stream) => {
        this.#streams.delete(stream);
        options.onStreamClosed?.(stream.id, stream.node.id);
      },
      ...(options.onAnswer === undefined ? {} : { answered: options.onAnswer }),
      ...(options.authorizeNode === undefined ? {} : { authorizeNode: options.authorizeNode }),
    };
    const sotw = (call: ServerDuplexStream<Decoded<SotwRequest>, Buffer>) =>
      this.#accept(call, (id) => new SotwStream(id, "sotw", call, this.#context));
    const delta = (call: ServerDuplexStream<Decoded<DeltaRequest>, Buffer>) =>
      this.#accept(call, (id) => new DeltaStream(id, "delta", call, this.#context));
    this.#grpc.addService(adsServiceDefinition(), {
      StreamAggregatedResources: sotw,
      DeltaAggregatedResources: delta,
    });
    // The same streams for one type (Secrets), for an Envoy whose SDS config source is not ADS.
    this.#grpc.addService(sdsServiceDefinition(), { StreamSecrets: sotw, DeltaSecrets: delta });
    const credentials = serverCredentials(options.tls);
    const injector = this.#grpc.createConnectionInjector(credentials);
    this.#net = createServer({ noDelay: true }, (socket) => {
      // A unix socket's peers have no address: each connection its own key.
      const key =
        socket.remoteAddress === undefined
          ? `unix#${this.#nextStream++}`
          : peerKey(socket.remoteAddress, socket.remotePort);
      this.#sockets.set(key, socket);
      socket.once("close", () => this.#sockets.delete(key));
      // A reset or a failed TLS handshake ends this connection only.
      socket.on("error", (error) => logger.debug({ err: error, peer: key }, "xDS connection error"));
      injector.injectConnection(socket);
    });
  }

  /** Starts listening; resolves with the bound address (port 0 picks one). */
  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      const onError = (cause: Error) =>
        reject(new StraitError(ERROR_CODES.NETWORK, `cannot listen for xDS on ${host}:${port}`, { cause }));
      this.#net.once("error", onError);
      this.#net.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
        this.#net.off("error", onError);
        resolve();
      });
    });
    const bound = this.#net.address();
    return { host, port: typeof bound === "object" && bound !== null ? bound.port : port };
  }

  /**
   * Starts listening on a unix socket at `path` (a stale one is replaced),
   * reachable only by its owner (mode 0600): the agent's SDS for its node's Envoy.
   */
  async listenPath(path: string): Promise<void> {
    rmSync(path, { force: true });
    await new Promise<void>((resolve, reject) => {
      const onError = (cause: Error) =>
        reject(new StraitError(ERROR_CODES.NETWORK, `cannot listen for xDS on ${path}`, { cause }));
      this.#net.once("error", onError);
      this.#net.listen({ path, backlog: LISTEN_BACKLOG }, () => {
        this.#net.off("error", onError);
        resolve();
      });
    });
    chmodSync(path, 0o600);
  }

  /** Every open stream, for the ops API and `strait proxy-status`. */
  clients(): ClientStatus[] {
    return [...this.#streams].map((s) => s.status()).sort((a, b) => a.stream - b.stream);
  }

  /** The node a connected client announced under this `node.id` (its first stream's), if one is connected. */
  nodeOf(id: string): NodeInfo | undefined {
    for (const stream of this.#streams) if (stream.node.id === id) return stream.node;
    return undefined;
  }

  /** Ends every stream (clients reconnect, to this replica or another) and stops listening. */
  async close(): Promise<void> {
    this.#closing = true;
    for (const stream of [...this.#streams])
      stream.fail(status.UNAVAILABLE, "strait is shutting down", "shutdown");
    const closed = new Promise<void>((resolve) => this.#net.close(() => resolve()));
    await new Promise<void>((resolve) => {
      // Let the statuses out, then drop whatever is left.
      const timer = setTimeout(() => {
        this.#grpc.forceShutdown();
        resolve();
      }, 200);
      this.#grpc.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    for (const socket of this.#sockets.values()) socket.destroy();
    await closed;
  }

  #accept<R>(call: ServerDuplexStream<Decoded<R>, Buffer>, create: (id: number) => AdsStream<R>): void {
    const { limits, logger, metrics } = this.#options;
    if (this.#closing) {
      call.emit("error", { code: status.UNAVAILABLE, details: "strait is shutting down" });
      return;
    }
    if (this.#streams.size >= limits.maxStreams) {
      logger.warn({ peer: call.getPeer(), limit: limits.maxStreams }, "xDS stream refused: too many streams");
      metrics?.closedStreams.inc({ reason: "limit" });
      call.emit("error", {
        code: status.RESOURCE_EXHAUSTED,
        details: `strait serves at most ${limits.maxStreams} xDS streams`,
      });
      return;
    }
    const stream = create(this.#nextStream++);
    this.#streams.add(stream as AdsStream<unknown>);
  }
}
