/**
 * The Envoy engine's client: one request of a conformance check over a real
 * socket to a Gateway's address, as the upstream suite's Go client sends it
 * (HTTP/1.1 by default; HTTP/2 by ALPN or with prior knowledge when the
 * check says so; TLS with the check's SNI and, when the server asks, its
 * client certificate; a WebSocket upgrade with text and binary frames).
 * A new connection per request, so each request meets the configuration
 * Envoy runs now.
 *
 * Also a unary gRPC call with grpc-js (plaintext HTTP/2, prior knowledge),
 * and a TCP/TLS probe connection for TLSRoute and TCPRoute checks.
 */

import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import {
  type ClientHttp2Session,
  connect as http2Connect,
  type SecureClientSessionOptions,
} from "node:http2";
import { request as httpsRequest, type RequestOptions } from "node:https";
import type { Socket } from "node:net";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { Client, credentials, Metadata, type ServiceDefinition, status } from "@grpc/grpc-js";
import type { Issued } from "../certificates.ts";
import type { TrafficRequest } from "../checks/traffic.ts";
import {
  CLIENT_ADDRESS,
  GRPC_ECHO_METHODS,
  GRPC_ECHO_SERVICE,
  MESH_GRPC_METHODS,
  MESH_GRPC_SERVICE,
} from "../strait-target.ts";
import { encodeFrame, FrameReader, OPCODE } from "./websocket-frames.ts";

export interface WireTarget {
  readonly address: string;
  readonly port: number;
  /** Host / :authority. */
  readonly authority: string;
  /** The address the client sends from: CLIENT_ADDRESS unless given (a mesh client Pod's own). */
  readonly localAddress?: string;
}

export type WireAnswer =
  | ({
      readonly kind: "response";
      readonly status: number;
      readonly headers: Readonly<Record<string, readonly string[]>>;
      readonly upgraded?: string;
      readonly framesEchoed?: boolean;
    } & TlsSeen)
  | ({ readonly kind: "failed"; readonly reason: string } & TlsSeen);

/** What the client saw of the gateway's TLS (https only). */
export interface TlsSeen {
  /** The certificates the gateway presented, leaf first, PEM. */
  readonly serverCertificatesPem?: readonly string[];
  /** Whether the gateway asked for a client certificate (measured when the request has one to give). */
  readonly clientCertRequested?: boolean;
}

/** Longer than any route timeout the tests set, shorter than Envoy's 15 s default only by design of the tests. */
const REQUEST_TIMEOUT_MS = 30_000;

/** Raw header pairs by lower-cased name, repeated names keeping every value; `skip` leaves names out. */
export function groupRawHeaders(
  raw: readonly string[],
  skip: (name: string) => boolean = () => false,
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] ?? "").toLowerCase();
    if (skip(name)) continue;
    const list = out[name] ?? [];
    list.push(raw[i + 1] ?? "");
    out[name] = list;
  }
  return out;
}

function failed(error: unknown): WireAnswer {
  const e = error as NodeJS.ErrnoException;
  return { kind: "failed", reason: `${e.code ?? "error"}: ${e.message}` };
}

function tlsOptions(request: TrafficRequest) {
  return {
    // An empty servername sends no SNI (Go sends none when the check names no server name).
    servername: request.sni ?? "",
    // Node's own verification is off: the check the suite's Go client makes (RootCAs, ServerName) is
    // made on the presented chain (verifyServer), as the simulator engine makes it.
    rejectUnauthorized: false,
    ...(request.clientCert === undefined
      ? {}
      : { cert: request.clientCert.certPem, key: request.clientCert.keyPem }),
  };
}

/** One request on its way, and what the client sees of the gateway's TLS meanwhile. */
interface Exchange {
  readonly target: WireTarget;
  readonly request: TrafficRequest;
  readonly extraHeaders: Readonly<Record<string, string>>;
  readonly seen: { chain?: string[] };
  /** The client's check of the chain the gateway presents: a reason to abort the handshake, or undefined. */
  readonly verifyServer?: (chain: readonly string[]) => string | undefined;
}

/** The chain a TLS peer presented, leaf first. */
function presentedChain(socket: TLSSocket): string[] {
  const out: string[] = [];
  let cert = socket.getPeerCertificate(true);
  while (cert?.raw !== undefined && out.length < 10) {
    out.push(new X509Certificate(cert.raw).toString());
    if (cert.issuerCertificate === undefined || cert.issuerCertificate === cert) break;
    cert = cert.issuerCertificate;
  }
  return out;
}

/** Sends one request; `extraHeaders` go with it (the probe id the echo backends record). */
export async function sendOverWire(
  target: WireTarget,
  request: TrafficRequest,
  extraHeaders: Readonly<Record<string, string>>,
  verifyServer?: (chain: readonly string[]) => string | undefined,
): Promise<WireAnswer> {
  const exchange: Exchange = {
    target,
    request,
    extraHeaders,
    seen: {},
    ...(verifyServer === undefined ? {} : { verifyServer }),
  };
  const seen = exchange.seen;
  const answer =
    request.protocol === "HTTP/2.0" || request.protocol === "H2C_PRIOR_KNOWLEDGE"
      ? await sendHttp2(exchange)
      : await sendHttp1(exchange);
  if (request.scheme !== "https") return answer;
  const requested =
    request.clientCert === undefined
      ? undefined
      : await certificateRequested(target, request, request.clientCert);
  return {
    ...answer,
    ...(seen.chain === undefined ? {} : { serverCertificatesPem: seen.chain }),
    ...(requested === undefined ? {} : { clientCertRequested: requested }),
  };
}

/**
 * Whether the gateway sends a CertificateRequest in the handshake for this
 * SNI. Node's TLS client does not tell (it answers one silently), so one
 * more handshake is made with `openssl s_client -msg`, which prints every
 * handshake message it receives.
 */
function certificateRequested(target: WireTarget, request: TrafficRequest, cert: Issued): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), "strait-s-client-"));
  writeFileSync(join(dir, "cert.pem"), cert.certPem);
  writeFileSync(join(dir, "key.pem"), cert.keyPem);
  const args = [
    "s_client",
    "-connect",
    `${target.address}:${target.port}`,
    ...(request.sni === undefined ? ["-noservername"] : ["-servername", request.sni]),
    "-cert",
    join(dir, "cert.pem"),
    "-key",
    join(dir, "key.pem"),
    "-msg",
  ];
  return new Promise((resolve) => {
    const child = execFile("openssl", args, { timeout: 10_000 }, (_error, stdout) => {
      rmSync(dir, { recursive: true, force: true });
      resolve(/\bCertificateRequest\b/.test(stdout));
    });
    child.stdin?.end();
  });
}

function sendHttp1({ target, request, extraHeaders, seen, verifyServer }: Exchange): Promise<WireAnswer> {
  return new Promise((resolve) => {
    const options = {
      host: target.address,
      port: target.port,
      localAddress: target.localAddress ?? CLIENT_ADDRESS,
      method: request.method,
      path: request.path,
      headers: { host: target.authority, ...request.headers, ...extraHeaders },
      agent: false,
      timeout: REQUEST_TIMEOUT_MS,
    } as const;
    const req =
      request.scheme === "https"
        ? httpsRequest({ ...options, ...tlsOptions(request), ALPNProtocols: ["http/1.1"] } as RequestOptions)
        : httpRequest(options);
    req.on("timeout", () => req.destroy(Object.assign(new Error("no answer"), { code: "ETIMEDOUT" })));
    req.on("socket", (socket) => {
      if (request.scheme === "https")
        socket.once("secureConnect", () => {
          seen.chain = presentedChain(socket as TLSSocket);
          const problem = verifyServer?.(seen.chain);
          if (problem !== undefined)
            req.destroy(Object.assign(new Error(problem), { code: "UNTRUSTED_SERVER" }));
        });
    });
    req.on("error", (error) => resolve(failed(error)));
    req.on("response", (res: IncomingMessage) => {
      res.resume();
      res.on("end", () =>
        resolve({ kind: "response", status: res.statusCode ?? 0, headers: groupRawHeaders(res.rawHeaders) }),
      );
      res.on("error", (error) => resolve(failed(error)));
    });
    req.on("upgrade", (res: IncomingMessage, socket: Socket, head: Buffer) => {
      void exchangeFrames(socket, head, request.websocketFrames ?? []).then((echoed) =>
        resolve({
          kind: "response",
          status: res.statusCode ?? 0,
          headers: groupRawHeaders(res.rawHeaders),
          upgraded: String(res.headers.upgrade ?? "").toLowerCase(),
          ...(request.websocketFrames === undefined ? {} : { framesEchoed: echoed }),
        }),
      );
    });
    req.end();
  });
}

/** Sends each frame (masked, as a client must) and waits for it to come back; true if every one did, unchanged. */
async function exchangeFrames(
  socket: Socket,
  head: Buffer,
  frames: NonNullable<TrafficRequest["websocketFrames"]>,
): Promise<boolean> {
  const reader = new FrameReader();
  const received: { opcode: number; payload: Buffer }[] = [...reader.push(head)];
  let wake: (() => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    received.push(...reader.push(chunk));
    wake?.();
  });
  socket.on("error", () => wake?.());
  let ok = true;
  for (const frame of frames) {
    const opcode = frame.binary ? OPCODE.binary : OPCODE.text;
    const payload = Buffer.from(frame.data, "utf8");
    socket.write(encodeFrame(opcode, payload, true));
    const deadline = Date.now() + 10_000;
    while (received.length === 0 && Date.now() < deadline && !socket.destroyed) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 200);
      });
    }
    const echo = received.shift();
    if (echo === undefined || echo.opcode !== opcode || !echo.payload.equals(payload)) ok = false;
  }
  socket.end(encodeFrame(OPCODE.close, Buffer.alloc(0), true));
  socket.destroy();
  return ok;
}

function sendHttp2({ target, request, extraHeaders, seen, verifyServer }: Exchange): Promise<WireAnswer> {
  return new Promise((resolve) => {
    const tls = request.scheme === "https";
    let session: ClientHttp2Session;
    const done = (answer: WireAnswer) => {
      session?.close();
      session?.destroy();
      resolve(answer);
    };
    // Passed on to net.connect / tls.connect, which take the local address.
    const sessionOptions: SecureClientSessionOptions & { localAddress: string } = {
      ...(tls ? { ...tlsOptions(request), ALPNProtocols: ["h2"] } : {}),
      localAddress: target.localAddress ?? CLIENT_ADDRESS,
    };
    try {
      session = http2Connect(`${tls ? "https" : "http"}://${target.address}:${target.port}`, sessionOptions);
    } catch (error) {
      resolve(failed(error));
      return;
    }
    session.on("error", (error) => done(failed(error)));
    if (tls) {
      session.on("connect", (_s, socket) => {
        seen.chain = presentedChain(socket as TLSSocket);
        const problem = verifyServer?.(seen.chain);
        if (problem !== undefined) {
          done({ kind: "failed", reason: `UNTRUSTED_SERVER: ${problem}` });
          return;
        }
        const negotiated = (socket as TLSSocket).alpnProtocol;
        if (negotiated !== "h2")
          done({ kind: "failed", reason: `ALPN negotiated ${negotiated || "nothing"}, not h2` });
      });
    }
    const headers: Record<string, string> = {
      ":method": request.method,
      ":path": request.path,
      ":authority": target.authority,
      ":scheme": request.scheme,
    };
    for (const [name, value] of Object.entries({ ...request.headers, ...extraHeaders }))
      headers[name.toLowerCase()] = value;
    const stream = session.request(headers);
    stream.setTimeout(REQUEST_TIMEOUT_MS, () => stream.close());
    stream.on("error", (error) => done(failed(error)));
    stream.on("response", (response) => {
      const out: Record<string, string[]> = {};
      for (const [name, value] of Object.entries(response)) {
        if (name.startsWith(":") || value === undefined) continue;
        out[name] = Array.isArray(value) ? value.map(String) : [String(value)];
      }
      stream.resume();
      stream.on("end", () =>
        done({ kind: "response", status: Number(response[":status"] ?? 0), headers: out }),
      );
    });
    stream.end();
  });
}

const identity = (b: Buffer) => b;

/** A service definition of unary methods, messages as raw bytes. */
function rawService(service: string, methods: ReadonlySet<string>): ServiceDefinition {
  return Object.fromEntries(
    [...methods].map((m) => [
      m,
      {
        path: `/${service}/${m}`,
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    ]),
  );
}

/** The suite's gRPC echo service, messages as raw bytes: the wire is real gRPC, the schema ours (JSON). */
export const GRPC_ECHO: ServiceDefinition = rawService(GRPC_ECHO_SERVICE, GRPC_ECHO_METHODS);
/** The mesh echo server's (Istio echo app's) gRPC service, messages as raw bytes as GRPC_ECHO's. */
export const MESH_GRPC_ECHO: ServiceDefinition = rawService(MESH_GRPC_SERVICE, MESH_GRPC_METHODS);

/** How long a gRPC call or a probe connection may take. */
const STREAM_TIMEOUT_MS = 5_000;

/** A unary gRPC call with grpc-js to `target` (`address:port`), an empty request; its status and message. */
export async function grpcOverWire(
  target: string,
  authority: string,
  method: string,
  metadata: Readonly<Record<string, string>>,
): Promise<{ code: number; message: string }> {
  const client = new Client(target, credentials.createInsecure(), {
    "grpc.default_authority": authority,
    // A new connection per call, so each call meets the configuration Envoy runs now.
    "grpc.use_local_subchannel_pool": 1,
  });
  const md = new Metadata();
  for (const [name, value] of Object.entries(metadata)) md.set(name, value);
  try {
    return await new Promise((resolve) => {
      client.makeUnaryRequest(
        method,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        md,
        { deadline: Date.now() + STREAM_TIMEOUT_MS },
        (error) =>
          resolve(
            error === null
              ? { code: status.OK, message: "OK" }
              : { code: error.code ?? status.UNKNOWN, message: error.details ?? error.message },
          ),
      );
    });
  } finally {
    client.close();
  }
}

export type ProbeAnswer =
  | { readonly kind: "answered"; readonly reply: string }
  | { readonly kind: "failed"; readonly reason: string };

/**
 * Opens a TCP connection (TLS with `sni` when `tls`; the server certificate
 * is not verified: which backend answers is what is measured), sends the
 * probe line and reads what comes back until the peer closes.
 */
export async function probeOverWire(
  address: string,
  port: number,
  tls: boolean,
  sni: string | undefined,
  probe: string,
): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let opened = false;
    let settled = false;
    const finish = (answer: ProbeAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const onOpen = () => {
      opened = true;
      socket.write(`${TCP_PROBE_LINE} ${probe}\n`);
    };
    const socket = tls
      ? tlsConnect(
          {
            socket: netConnect({ host: address, port, localAddress: CLIENT_ADDRESS }),
            rejectUnauthorized: false,
            ...(sni === undefined ? {} : { servername: sni }),
          },
          onOpen,
        )
      : netConnect({ host: address, port, localAddress: CLIENT_ADDRESS }, onOpen);
    const timer = setTimeout(
      () => finish({ kind: "failed", reason: `no answer within ${STREAM_TIMEOUT_MS} ms` }),
      STREAM_TIMEOUT_MS,
    );
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => finish({ kind: "answered", reply: Buffer.concat(chunks).toString("latin1") }));
    socket.on("close", () =>
      finish(
        opened
          ? { kind: "answered", reply: Buffer.concat(chunks).toString("latin1") }
          : { kind: "failed", reason: "closed before the connection was established" },
      ),
    );
    socket.on("error", (error) =>
      finish(
        opened && chunks.length > 0
          ? { kind: "answered", reply: Buffer.concat(chunks).toString("latin1") }
          : { kind: "failed", reason: error.message },
      ),
    );
  });
}

/** The first bytes of a probe connection, followed by the probe id and a newline. */
export const TCP_PROBE_LINE = "STRAIT-TCP-PROBE";
