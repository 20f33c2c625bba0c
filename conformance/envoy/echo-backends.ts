/**
 * The Envoy engine's echo backends: for every Pod address and port the
 * test's EndpointSlices name, a real socket listening on that address (pod
 * addresses are local in the engine's network namespace). Each connection
 * is answered as the Pod the address belongs to in the current test:
 * plain HTTP/1.1 or cleartext HTTP/2 (told apart by the HTTP/2 preface), or
 * TLS with the certificate the Pod's Deployment mounts (HTTP/2 or HTTP/1.1
 * by ALPN), asking for and verifying a client certificate when the
 * Deployment names client CAs, as the upstream echo server does.
 *
 * What each backend received (pod, namespace, method, path, host, headers,
 * SNI, the client certificate) is recorded under the request's probe id, the
 * header the engine adds to every request it sends; mirrored copies (Host
 * with `-shadow`) are recorded too. WebSocket upgrades are accepted and each
 * frame is sent back unchanged.
 *
 * Two more kinds of stream, for TLSRoute and GRPCRoute checks:
 * - a connection whose first bytes are the TCP probe line (`TCP_PROBE <id>`)
 *   is answered by whatever backend it reaches (a TCP echo Pod: plain text
 *   on 3000, TLS on 8443; or an HTTP echo Pod, TLS when it mounts a
 *   certificate) with one JSON line naming the Pod, and recorded with
 *   whether the backend terminated TLS itself and the SNI it saw;
 * - HTTP/2 connections to a gRPC echo Pod (GRPC_ECHO_SERVER) are served by a
 *   real grpc-js server of that Pod, implementing the suite's
 *   `GrpcEcho` service (Echo, EchoTwo, EchoThree; other methods are
 *   UNIMPLEMENTED, by grpc-js itself); it answers with the call it received.
 *   So are those to a mesh echo Pod's gRPC port (`--grpc=N`), with the Istio
 *   echo app's `proto.EchoTestService` (Echo) the mesh client calls.
 */
import { X509Certificate } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import {
  createServer as createH2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from "node:http2";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { createSecureContext, TLSSocket } from "node:tls";
import {
  type ConnectionInjector,
  Server as GrpcServer,
  ServerCredentials,
  type ServerUnaryCall,
  type sendUnaryData,
} from "@grpc/grpc-js";
import type { BackendHit } from "../checks/traffic.ts";
import type { ConformanceCluster, Pod } from "../cluster.ts";
import { attemptKey, echoSetHeaders, echoStatus, querySeconds } from "../echo-behaviour.ts";
import {
  GRPC_ECHO_METHODS,
  grpcServiceOf,
  MESH_GRPC_METHODS,
  MESH_GRPC_SERVICE,
  servesTls,
} from "../strait-target.ts";
import { GRPC_ECHO, groupRawHeaders, MESH_GRPC_ECHO, TCP_PROBE_LINE as TCP_PROBE } from "./client.ts";
import { acceptKey, encodeFrame, FrameReader, OPCODE } from "./websocket-frames.ts";

/** The header carrying the engine's probe id; not part of what the backend reports. */
export const PROBE_HEADER = "x-strait-probe";

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n");

/** What a backend saw of a probe connection. */
export interface StreamHit {
  readonly pod: string;
  readonly namespace: string;
  /** The backend terminated TLS itself. */
  readonly tls: boolean;
  /** The SNI of the handshake it terminated ("" for none or plain text). */
  readonly sni: string;
}

export interface EchoHit extends BackendHit {
  /** A mirrored copy (Envoy appends `-shadow` to the Host of mirrored requests). */
  readonly shadow: boolean;
}

interface TlsInfo {
  readonly sni?: string;
  readonly clientCertPem?: string;
}

function plainAddress(address: string | undefined): string {
  return (address ?? "").replace(/^::ffff:/, "");
}

/** What a connection is: the Pod it reached and, over TLS, what the gateway's handshake carried. */
interface Connection {
  readonly pod: Pod;
  /** The Pod's port the connection came to. */
  readonly port: number;
  readonly tls?: TlsInfo;
}

/**
 * A Duplex that yields `first` (bytes already read to tell HTTP/2 from
 * HTTP/1.1) and then the socket's data: HTTP/2 sessions read their socket
 * natively and would lose bytes put back with `unshift`.
 */
function replayed(socket: Socket, first: Buffer): Duplex {
  const duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(error, callback) {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  duplex.push(first);
  socket.on("data", (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.on("end", () => duplex.push(null));
  socket.on("close", () => duplex.destroy());
  return duplex;
}

export class EchoBackends {
  readonly #servers = new Map<string, Server>();
  readonly #sockets = new Set<Socket>();
  readonly #hits = new Map<string, EchoHit[]>();
  readonly #waiters = new Set<() => void>();
  /** Attempts per `uuid`, as the echo server counts them for the retry tests. */
  readonly #attempts = new Map<string, number>();
  readonly #streamHits = new Map<string, StreamHit>();
  /** The grpc-js server of each gRPC echo Pod (`namespace/name`). */
  readonly #grpc = new Map<string, { server: GrpcServer; injector: ConnectionInjector }>();
  #cluster: ConformanceCluster | undefined;

  /**
   * Makes the backends answer as the Pods of `cluster`, listening on every
   * Pod address and port its EndpointSlices name, and drops the connections
   * of the previous test (a Pod address may now belong to another Pod).
   */
  async serve(cluster: ConformanceCluster): Promise<void> {
    if (this.#cluster !== cluster) {
      for (const socket of this.#sockets) socket.destroy();
      this.#attempts.clear();
    }
    this.#cluster = cluster;
    const wanted = new Set<string>();
    for (const slice of cluster.store.list("EndpointSlice")) {
      for (const endpoint of slice.endpoints ?? []) {
        for (const address of endpoint.addresses ?? []) {
          if (cluster.podByIp(address) === undefined) continue;
          for (const port of slice.ports ?? [])
            if (port.port !== undefined) wanted.add(`${address}:${port.port}`);
        }
      }
    }
    await Promise.all([...wanted].filter((key) => !this.#servers.has(key)).map((key) => this.#listen(key)));
  }

  /** The requests recorded under a probe id so far. */
  hits(probe: string): readonly EchoHit[] {
    return this.#hits.get(probe) ?? [];
  }

  /** Resolves once `enough` holds for the probe's hits, or after `timeoutMs`. */
  async waitForHits(
    probe: string,
    enough: (hits: readonly EchoHit[]) => boolean,
    timeoutMs: number,
  ): Promise<void> {
    if (enough(this.hits(probe))) return;
    await new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const check = () => {
        if (enough(this.hits(probe))) finish();
      };
      const timer = setTimeout(finish, timeoutMs);
      this.#waiters.add(check);
    });
  }

  forget(probe: string): void {
    this.#hits.delete(probe);
    this.#streamHits.delete(probe);
  }

  /** What the backend a probe connection reached saw of it, once it answered. */
  streamHit(probe: string): StreamHit | undefined {
    return this.#streamHits.get(probe);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all([...this.#servers.values()].map((s) => new Promise((r) => s.close(r))));
    this.#servers.clear();
    for (const { server } of this.#grpc.values()) server.forceShutdown();
    this.#grpc.clear();
  }

  async #listen(key: string): Promise<void> {
    const colon = key.lastIndexOf(":");
    const server = createNetServer((socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", (cause) =>
        reject(new Error(`echo backend cannot listen on ${key}: ${cause.message}`)),
      );
      server.listen(Number(key.slice(colon + 1)), key.slice(0, colon), () => resolve());
    });
    this.#servers.set(key, server);
  }

  #pod(address: string | undefined): Pod | undefined {
    return this.#cluster?.podByIp(plainAddress(address));
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on("close", () => this.#sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    const pod = this.#pod(socket.localAddress);
    if (pod === undefined) {
      socket.destroy();
      return;
    }
    if (servesTls(pod, socket.localPort ?? 0)) {
      this.#acceptTls(socket, pod);
      return;
    }
    this.#dispatch({ pod, port: socket.localPort ?? 0 }, socket);
  }

  /** Serves a (plain or decrypted) stream by its first bytes: a probe, HTTP/2 or HTTP/1.1. */
  #dispatch(connection: Connection, socket: Socket): void {
    socket.once("data", (chunk: Buffer) => {
      socket.pause();
      if (chunk.subarray(0, TCP_PROBE.length).toString("latin1") === TCP_PROBE)
        this.#probe(connection, socket, chunk);
      else if (connection.pod.tcpEcho === true) {
        // The TCP echo server sends back what it gets.
        socket.write(chunk);
        socket.pipe(socket);
        socket.resume();
      } else if (chunk.subarray(0, H2_PREFACE.length).equals(H2_PREFACE))
        this.#http2(connection, replayed(socket, chunk));
      else {
        socket.unshift(chunk);
        this.#http1(connection, socket);
        socket.resume();
      }
    });
  }

  /** Answers a probe connection with the Pod's identity and records what it saw. */
  #probe(connection: Connection, socket: Socket, first: Buffer): void {
    const line = first.toString("latin1").split("\n")[0] ?? "";
    const probe = line.slice(TCP_PROBE.length).trim();
    const hit: StreamHit = {
      pod: connection.pod.name,
      namespace: connection.pod.namespace,
      tls: connection.tls !== undefined,
      sni: connection.tls?.sni ?? "",
    };
    this.#streamHits.set(probe, hit);
    socket.end(`${JSON.stringify(hit)}\n`);
  }

  #acceptTls(socket: Socket, pod: Pod): void {
    const store = this.#cluster?.store;
    const [ns = "", name = ""] = (pod.tlsSecret ?? "").split("/");
    const secret = store?.get("Secret", ns, name);
    const cert = secret?.data?.["tls.crt"];
    const key = secret?.data?.["tls.key"];
    if (cert === undefined || key === undefined) {
      socket.destroy();
      return;
    }
    const [cns = "", cname = ""] = (pod.clientCa ?? "").split("/");
    const ca = pod.clientCa === undefined ? undefined : store?.get("ConfigMap", cns, cname)?.data?.["ca.crt"];
    const tls = new TLSSocket(socket, {
      isServer: true,
      secureContext: createSecureContext({
        cert: Buffer.from(cert, "base64"),
        key: Buffer.from(key, "base64"),
        ...(ca === undefined ? {} : { ca }),
      }),
      ...(pod.tcpEcho === true ? {} : { ALPNProtocols: ["h2", "http/1.1"] }),
      // The echo server with TLS_CLIENT_CACERTS requires a client certificate from those CAs.
      requestCert: pod.clientCa !== undefined,
      rejectUnauthorized: pod.clientCa !== undefined,
    });
    tls.on("error", () => tls.destroy());
    tls.once("secure", () => {
      const peer = tls.getPeerX509Certificate();
      const servername = tls.servername;
      const connection: Connection = {
        pod,
        port: socket.localPort ?? 0,
        tls: {
          ...(typeof servername === "string" && servername !== "" ? { sni: servername } : {}),
          ...(peer === undefined ? {} : { clientCertPem: new X509Certificate(peer.raw).toString() }),
        },
      };
      if (tls.alpnProtocol === "h2") this.#http2(connection, tls);
      else this.#dispatch(connection, tls);
    });
  }

  /** Serves one connection with HTTP/1.1 (and WebSocket upgrades), as `connection`'s Pod. */
  #http1(connection: Connection, socket: Duplex): void {
    // The gRPC echo server speaks HTTP/2 only.
    if (connection.pod.grpcEcho === true) {
      socket.destroy();
      return;
    }
    const server = createHttpServer((req, res) => this.#answer(connection, req, res));
    server.keepAliveTimeout = 60_000;
    server.on("upgrade", (req: IncomingMessage, upgraded: Socket, head: Buffer) =>
      this.#websocket(connection, req, upgraded, head),
    );
    server.emit("connection", socket);
  }

  /** Serves one connection with HTTP/2, as `connection`'s Pod. */
  #http2(connection: Connection, socket: Duplex): void {
    const served = grpcServiceOf(connection.pod, connection.port);
    if (served !== undefined) {
      this.#grpcServer(connection.pod, served.service).injectConnection(socket);
      return;
    }
    const server = createH2Server((req, res) => this.#answer(connection, req, res));
    server.on("sessionError", () => {});
    server.emit("connection", socket);
  }

  /** The grpc-js server answering as `pod` with `service` (GRPC_ECHO or MESH_GRPC_ECHO), started on first use. */
  #grpcServer(pod: Pod, service: string): ConnectionInjector {
    const key = `${pod.namespace}/${pod.name} ${service}`;
    const existing = this.#grpc.get(key);
    if (existing !== undefined) return existing.injector;
    const server = new GrpcServer();
    const handler = (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      const headers: Record<string, string[]> = {};
      let probe = "";
      for (const [name, value] of Object.entries(call.metadata.getMap())) {
        if (name === PROBE_HEADER) probe = String(value);
        else headers[name] = [String(value)];
      }
      const hit: EchoHit = {
        pod: pod.name,
        namespace: pod.namespace,
        shadow: false,
        request: { method: "POST", path: call.getPath(), host: call.getHost(), headers },
      };
      this.#hits.set(probe, [...this.hits(probe), hit]);
      for (const waiter of [...this.#waiters]) waiter();
      callback(
        null,
        Buffer.from(JSON.stringify({ ...hit.request, pod: pod.name, namespace: pod.namespace })),
      );
    };
    const [definition, methods] =
      service === MESH_GRPC_SERVICE ? [MESH_GRPC_ECHO, MESH_GRPC_METHODS] : [GRPC_ECHO, GRPC_ECHO_METHODS];
    server.addService(definition, Object.fromEntries([...methods].map((m) => [m, handler])));
    const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
    this.#grpc.set(key, { server, injector });
    return injector;
  }

  #record(connection: Connection, req: IncomingMessage | Http2ServerRequest): EchoHit {
    const { pod, tls } = connection;
    const headers = groupRawHeaders(req.rawHeaders, (n) => n.startsWith(":") || n === PROBE_HEADER);
    const host = String(req.headers.host ?? req.headers[":authority"] ?? "");
    const hit: EchoHit = {
      pod: pod.name,
      namespace: pod.namespace,
      shadow: host.endsWith("-shadow"),
      request: {
        method: req.method ?? "",
        path: req.url ?? "",
        host,
        headers,
        ...(tls?.sni === undefined ? {} : { sni: tls.sni }),
        ...(tls?.clientCertPem === undefined ? {} : { clientCertPem: tls.clientCertPem }),
      },
    };
    const probe = String(req.headers[PROBE_HEADER] ?? "");
    this.#hits.set(probe, [...this.hits(probe), hit]);
    for (const waiter of [...this.#waiters]) waiter();
    return hit;
  }

  #answer(
    connection: Connection,
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
  ): void {
    const hit = this.#record(connection, req);
    req.resume();
    const path = req.url ?? "/";
    const status = echoStatus(
      path,
      this.#attempts,
      attemptKey(path, String(req.headers[PROBE_HEADER] ?? "")),
    );
    const headers = echoSetHeaders(String(req.headers["x-echo-set-header"] ?? ""));
    const body = JSON.stringify({ ...hit.request, pod: hit.pod, namespace: hit.namespace });
    const respond = () => {
      if (res.destroyed) return;
      // Headers are set one by one: a name X-Echo-Set-Header repeats keeps its last value, as upstream.
      res.statusCode = status;
      res.setHeader("content-type", "application/json");
      for (const [name, value] of headers) res.setHeader(name, value);
      res.end(body);
    };
    const delay = querySeconds(path, "delay") ?? 0;
    if (delay > 0) setTimeout(respond, delay * 1000);
    else respond();
  }

  #websocket(connection: Connection, req: IncomingMessage, socket: Socket, head: Buffer): void {
    this.#record(connection, req);
    const key = req.headers["sec-websocket-key"];
    if (String(req.headers.upgrade ?? "").toLowerCase() !== "websocket" || typeof key !== "string") {
      socket.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
    );
    const reader = new FrameReader();
    const onData = (chunk: Buffer) => {
      for (const frame of reader.push(chunk)) {
        if (frame.opcode === OPCODE.close) {
          socket.end(encodeFrame(OPCODE.close, frame.payload, false));
          return;
        }
        if (frame.opcode === OPCODE.ping) socket.write(encodeFrame(OPCODE.pong, frame.payload, false));
        else socket.write(encodeFrame(frame.opcode, frame.payload, false));
      }
    };
    if (head.length > 0) onData(head);
    socket.on("data", onData);
  }
}
