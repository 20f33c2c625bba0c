/**
 * strait as the conformance target: the controller pipeline reconciles, and
 * requests go through the simulator against the Envoy resources it produced,
 * to echo backends modelled on the upstream suite's echo server (it reports
 * what it received, sets the response headers X-Echo-Set-Header asks for,
 * and honours the `delay`, `responseCode`/`succeedAfter` query parameters the
 * timeout and retry tests use).
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PipelineCache, type PipelineOutput, runPipeline } from "../src/controller/pipeline.ts";
import { CONTROLLER_NAME, SUPPORTED_FEATURES } from "../src/gateway/index.ts";
import { type MeshService, meshServiceName } from "../src/model/mesh-service.ts";
import { crdSchemaCheck } from "../src/sources/schema.ts";
import {
  finalizeResponse,
  type HeaderList,
  type NodeConfig,
  prepareNodeConfig,
  type SimResult,
  simulate,
  type UpstreamTlsInfo,
  verifyServerCertificate,
} from "../src/xds/simulate/index.ts";
import { agentStateFrom } from "../src/xds/translate/agent-resources.ts";
import type { EnvoyResourceSet } from "../src/xds/translate/resource-set.ts";
import type { Catalogue } from "./catalogue.ts";
import { createProgrammaticObjects } from "./certificates.ts";
import {
  type BackendHit,
  type ConnectionRequest,
  type ConnectionResult,
  type GrpcCall,
  type GrpcResult,
  MESH_GRPC_METHOD,
  type TrafficEngine,
  type TrafficRequest,
  type TrafficResult,
} from "./checks/traffic.ts";
import type { ConformanceCluster, Pod } from "./cluster.ts";
import { attemptKey, echoSetHeaders, echoStatus, querySeconds, queryValue } from "./echo-behaviour.ts";
import { acceptKey } from "./envoy/websocket-frames.ts";
import type { ConformanceTarget, HarnessOptions } from "./harness.ts";
import { resolveServiceHost } from "./service-addresses.ts";

export const STRAIT_CONTROLLER_NAME = CONTROLLER_NAME;
export const ADDRESS_POOL = ["127.0.1.0/24"];
/** The address the suite's client sends from (the Envoy engine's client binds to it). */
export const CLIENT_ADDRESS = "127.0.0.1";
/** Envoy's own address: in the Envoy engine's network namespace, loopback is its only interface. */
export const ENVOY_ADDRESS = "127.0.0.1";

export function straitSupportedFeatures(): ReadonlySet<string> {
  return new Set(SUPPORTED_FEATURES);
}

export function straitVersion(): string {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "../package.json"), "utf8")) as {
    version: string;
  };
  return `v${pkg.version}`;
}

function signedBy(certPem: string, caPem: string): boolean {
  const leaf = new X509Certificate(certPem);
  const cas = (caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (p) => new X509Certificate(p),
  );
  return cas.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
}

function pemBlocks(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (p) => new X509Certificate(p),
  );
}

/**
 * The client side of the handshake as Go's crypto/tls does it with RootCAs and ServerName
 * (the upstream roundtripper): the leaf must be one of the trusted certificates or be issued
 * and signed by one, be valid now, and be valid for the server name.
 */
export function serverCertificateProblem(
  presentedPem: string | undefined,
  trustedPem: string,
  serverName: string | undefined,
  now: Date,
): string | undefined {
  if (serverName === undefined || serverName === "") return "the client sends no server name";
  const leaf = presentedPem === undefined ? undefined : pemBlocks(presentedPem)[0];
  if (leaf === undefined) return "the server presented no certificate";
  const roots = pemBlocks(trustedPem);
  if (roots.length === 0) return "the client trusts no certificate";
  const trusted = roots.some(
    (root) =>
      root.fingerprint256 === leaf.fingerprint256 || (leaf.checkIssued(root) && leaf.verify(root.publicKey)),
  );
  if (!trusted)
    return `the server certificate (${leaf.subject.replaceAll("\n", ", ")}) is not trusted by the client`;
  if (now < new Date(leaf.validFrom) || now > new Date(leaf.validTo))
    return "the server certificate is not valid now";
  if (!goVerifyHostname(leaf, serverName)) return `the server certificate is not valid for ${serverName}`;
  return undefined;
}

/**
 * Go's x509.Certificate.VerifyHostname for a DNS name: the subject alternative names only (the
 * common name is ignored), a leading `*` label standing for exactly one label. Unlike OpenSSL's
 * check (X509Certificate.checkHost), Go accepts `*.org` for `example.org`, which the suite's
 * certificates rely on.
 */
function goVerifyHostname(leaf: X509Certificate, host: string): boolean {
  const wanted = host.toLowerCase().replace(/\.$/, "").split(".");
  const names = (leaf.subjectAltName ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n.startsWith("DNS:"))
    .map((n) => n.slice(4).toLowerCase().replace(/\.$/, ""));
  return names.some((name) => {
    const labels = name.split(".");
    if (name === "" || labels.length !== wanted.length) return false;
    return labels.every((label, i) => (i === 0 && label === "*") || label === wanted[i]);
  });
}

function grouped(headers: HeaderList): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [n, v] of headers) {
    const list = out[n] ?? [];
    list.push(v);
    out[n] = list;
  }
  return out;
}

/**
 * Does the echo server answer TLS on this port? echo-basic serves TLS when it
 * has a certificate; in TCP echo mode (TCP_ECHO_SERVER) it listens in plain
 * text on 3000 and with TLS on 8443.
 */
/** Whether the echo server of `pod` speaks TLS on `port`. */
export function servesTls(pod: Pod, port: number): boolean {
  if (pod.tlsSecret === undefined) return false;
  return pod.tcpEcho !== true || port === 8443;
}

const GRPC = {
  OK: 0,
  UNKNOWN: 2,
  PERMISSION_DENIED: 7,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export const GRPC_ECHO_SERVICE = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";
export const GRPC_ECHO_METHODS = new Set(["Echo", "EchoTwo", "EchoThree"]);
/**
 * The mesh echo server's gRPC service (the Istio echo app, echo-advanced):
 * the suite's mesh client (`client grpc://host:port`) calls its Echo.
 */
export const MESH_GRPC_SERVICE = MESH_GRPC_METHOD.split("/")[1] ?? "";
export const MESH_GRPC_METHODS = new Set([MESH_GRPC_METHOD.split("/")[2] ?? ""]);

/** The gRPC service the echo server of `pod` serves on `port`, if it serves gRPC there. */
export function grpcServiceOf(
  pod: Pod,
  port: number,
): { readonly service: string; readonly methods: ReadonlySet<string> } | undefined {
  if (pod.grpcEcho === true) return { service: GRPC_ECHO_SERVICE, methods: GRPC_ECHO_METHODS };
  if (pod.grpcPorts?.includes(port) === true)
    return { service: MESH_GRPC_SERVICE, methods: MESH_GRPC_METHODS };
  return undefined;
}

/** Envoy's HTTP → gRPC status mapping for local replies (Grpc::Utility::httpToGrpcStatus). */
function grpcStatusOfHttp(status: number): number {
  switch (status) {
    case 400:
      return GRPC.INTERNAL;
    case 401:
      return GRPC.UNAUTHENTICATED;
    case 403:
      return GRPC.PERMISSION_DENIED;
    case 404:
      return GRPC.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GRPC.UNAVAILABLE;
    default:
      return GRPC.UNKNOWN;
  }
}

/** Whether a cluster speaks HTTP/2 to its endpoints (explicit http2_protocol_options). */
function speaksHttp2(cluster: Record<string, unknown> | undefined): boolean {
  const options = (cluster?.typed_extension_protocol_options ?? {}) as Record<
    string,
    Record<string, unknown>
  >;
  return Object.values(options).some(
    (o) =>
      (o.explicit_http_config as Record<string, unknown> | undefined)?.http2_protocol_options !== undefined,
  );
}

function durationSeconds(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(text);
  return m === null ? undefined : Number(m[1]);
}

function gatewayAddressOf(
  cluster: ConformanceCluster,
  namespace: string,
  name: string,
  port?: number,
): string | undefined {
  const gw = cluster.store.get("Gateway", namespace, name);
  const address = ((gw?.status as { addresses?: { value?: string }[] } | undefined)?.addresses ?? [])[0]
    ?.value;
  if (address === undefined) return undefined;
  return `${address}:${port ?? gw?.spec.listeners[0]?.port ?? 80}`;
}

/** Where a request goes, and from where. */
export type RequestTarget =
  | {
      readonly kind: "target";
      readonly address: string;
      readonly port: number;
      readonly authority: string;
      /** The mesh client Pod sending it; absent: the suite's client outside the cluster (CLIENT_ADDRESS). */
      readonly client?: Pod;
    }
  | { readonly kind: "failed"; readonly reason: string };

/**
 * Where a request goes: the Gateway's address and the port the client
 * connects to, and the Host it sends. A Host with the port of one of the
 * Gateway's listeners means the client connects to that port
 * (HTTPRouteListenerPortMatching); other ports in a Host only test host
 * matching. Go's client sends the gateway address as Host unless told
 * otherwise, without a default port. A mesh client Pod's request goes to the
 * Service its host names (`svc[.ns[.svc.cluster.local]][:port]` or an
 * address), resolved as cluster DNS answers that Pod, with that host as Host.
 */
export function gatewayTarget(cluster: ConformanceCluster, request: TrafficRequest): RequestTarget {
  if (request.meshClient !== undefined)
    return meshTarget(cluster, request.host, request.meshClient, request.headers);
  if (request.gateway === undefined) return { kind: "failed", reason: "the request names no Gateway" };
  const gateway = request.gateway;
  const listenerPorts = new Set(
    (cluster.store.get("Gateway", gateway.namespace, gateway.name)?.spec.listeners ?? []).map((l) => l.port),
  );
  const portInHost =
    request.host !== undefined && /:\d+$/.test(request.host)
      ? Number(request.host.split(":").pop())
      : undefined;
  const hostPort =
    request.port ?? (portInHost !== undefined && listenerPorts.has(portInHost) ? portInHost : undefined);
  const gwAddress = gatewayAddressOf(cluster, gateway.namespace, gateway.name, hostPort);
  if (gwAddress === undefined)
    return {
      kind: "failed",
      reason: `Gateway ${gateway.namespace}/${gateway.name} has no address`,
    };
  const [address = "", portText = "80"] = gwAddress.split(":");
  const port = Number(portText);
  const defaultPort = request.scheme === "https" ? 443 : 80;
  return {
    kind: "target",
    address,
    port,
    authority: request.host ?? (port === defaultPort ? address : gwAddress),
  };
}

/**
 * Where a gRPC call goes: the Gateway's address and port (the authority the
 * address, with the port unless 80), or for a mesh client Pod's call the
 * Service its host names, as for its HTTP requests.
 */
export function grpcTarget(cluster: ConformanceCluster, call: GrpcCall): RequestTarget {
  if (call.meshClient !== undefined) return meshTarget(cluster, call.host, call.meshClient);
  if (call.gateway === undefined) return { kind: "failed", reason: "the call names no Gateway" };
  const gwAddress = gatewayAddressOf(cluster, call.gateway.namespace, call.gateway.name, call.port);
  if (gwAddress === undefined) return { kind: "failed", reason: "the Gateway has no address" };
  const [address = "", portText = "80"] = gwAddress.split(":");
  const port = Number(portText);
  return { kind: "target", address, port, authority: call.authority ?? (port === 80 ? address : gwAddress) };
}

function meshTarget(
  cluster: ConformanceCluster,
  host: string | undefined,
  namespace: string,
  headers: Readonly<Record<string, string>> = {},
): RequestTarget {
  const client = cluster.meshClients().find((p) => p.namespace === namespace);
  if (client === undefined) return { kind: "failed", reason: `no mesh client Pod in ${namespace}` };
  if (host === undefined) return { kind: "failed", reason: "a mesh request needs a host" };
  const resolved = resolveServiceHost(host, namespace, (ns, name) => {
    const svc = cluster.store.get("Service", ns, name);
    if (svc === undefined) return undefined;
    const ip = svc.spec?.clusterIP;
    return { namespace: ns, name, clusterIP: ip === undefined || ip === "None" ? undefined : ip };
  });
  if (resolved.kind === "failed") return resolved;
  // The echo image's client sends a Host header it is given (-H) as the request's Host, whatever
  // the URL's host: MeshFrontendHostname connects to one Service with another's name as Host.
  const hostHeader = Object.entries(headers).find(([n]) => n.toLowerCase() === "host")?.[1];
  return {
    kind: "target",
    address: resolved.address,
    port: resolved.port,
    authority: hostHeader ?? host,
    client,
  };
}

export class SimulatedTraffic implements TrafficEngine {
  readonly #config: NodeConfig;
  readonly #cluster: ConformanceCluster;
  /** The mesh services the agents steer to the mesh listener (`address:port`). */
  readonly #meshServices: ReadonlySet<string>;
  /** Attempts seen per retry-test uuid, as the echo server counts them. */
  readonly #attempts = new Map<string, number>();

  constructor(config: NodeConfig, cluster: ConformanceCluster, meshServices: readonly MeshService[]) {
    this.#config = config;
    this.#cluster = cluster;
    this.#meshServices = new Set(meshServices.map(meshServiceName));
  }

  gatewayAddress(namespace: string, name: string, port?: number): string | undefined {
    return gatewayAddressOf(this.#cluster, namespace, name, port);
  }

  async grpc(call: GrpcCall): Promise<GrpcResult> {
    const target = grpcTarget(this.#cluster, call);
    if (target.kind === "failed") return { code: GRPC.UNAVAILABLE, message: target.reason };
    const { address, port, authority } = target;
    const headers: [string, string][] = [
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ...Object.entries(call.metadata).map(([n, v]) => [n.toLowerCase(), v] as [string, string]),
    ];
    const result = simulate(
      this.#config,
      {
        address,
        port,
        remoteAddress: target.client?.ip ?? CLIENT_ADDRESS,
        // A mesh client Pod's flow to a ClusterIP: the datapath redirects it to the mesh listener.
        ...(target.client === undefined ? {} : { via: "mesh" as const }),
        // grpc-js speaks h2c with prior knowledge.
        http2: true,
        method: "POST",
        scheme: "http",
        authority,
        path: call.method,
        headers,
      },
      {
        random: { cluster: call.random, endpoint: (call.random * 7.31) % 1, fraction: call.random },
        envoyAddress: ENVOY_ADDRESS,
      },
    );
    const outcome = result.outcome;
    if (outcome.kind === "connection-failed") return { code: GRPC.UNAVAILABLE, message: outcome.reason };
    if (outcome.kind === "local-response")
      // Envoy answers a gRPC request's local reply with the gRPC status its HTTP status maps to.
      return { code: grpcStatusOfHttp(outcome.status), message: outcome.reason };
    if (outcome.kind === "tcp-forward") return { code: GRPC.UNAVAILABLE, message: "a TCP listener" };
    const backend = this.#hit(outcome.endpoint.address, outcome.request);
    if (backend === undefined) return { code: GRPC.UNAVAILABLE, message: "no pod at the endpoint" };
    const pod = this.#cluster.podByIp(outcome.endpoint.address);
    const served = pod === undefined ? undefined : grpcServiceOf(pod, outcome.endpoint.port);
    if (served === undefined) return { code: GRPC.UNAVAILABLE, message: "the backend is not a gRPC server" };
    if (!speaksHttp2(this.#config.clusters.get(outcome.cluster)))
      return {
        code: GRPC.UNAVAILABLE,
        message: `cluster ${outcome.cluster} speaks HTTP/1.1 to a gRPC backend`,
      };
    // The echo servers implement their service's methods; others are UNIMPLEMENTED.
    const method = outcome.request.path.split("/").pop() ?? "";
    if (!outcome.request.path.startsWith(`/${served.service}/`) || !served.methods.has(method))
      return {
        code: GRPC.UNIMPLEMENTED,
        message: `the backend does not implement ${outcome.request.path}`,
        backend,
      };
    return { code: GRPC.OK, message: "OK", backend };
  }

  async connect(request: ConnectionRequest): Promise<ConnectionResult> {
    const gwAddress = this.gatewayAddress(request.gateway.namespace, request.gateway.name, request.port);
    if (gwAddress === undefined)
      return {
        kind: "failed",
        reason: `Gateway ${request.gateway.namespace}/${request.gateway.name} has no address`,
      };
    const [address = "", portText = "443"] = gwAddress.split(":");
    const result = simulate(
      this.#config,
      {
        address,
        port: Number(portText),
        ...(request.tls ? { tls: request.sni === undefined ? {} : { sni: request.sni } } : {}),
        // A TCP connection has no request line; an HTTP chain would see this one.
        method: "GET",
        scheme: request.tls ? "https" : "http",
        authority: request.sni ?? address,
        path: "/",
        headers: [],
      },
      { random: { cluster: request.random, endpoint: (request.random * 7.31) % 1 } },
    );
    const outcome = result.outcome;
    if (outcome.kind === "connection-failed") return { kind: "failed", reason: outcome.reason };
    if (outcome.kind !== "tcp-forward") return { kind: "connected", backendIsTls: false, backendSni: "" };
    const pod = this.#cluster.podByIp(outcome.endpoint.address);
    if (pod === undefined) return { kind: "failed", reason: "no pod at the endpoint: connection refused" };
    const problem = this.#streamProblem(pod, outcome.endpoint.port, outcome.tlsTerminated, request.tls);
    if (problem !== undefined) return { kind: "failed", reason: problem };
    const backendIsTls = request.tls && !outcome.tlsTerminated;
    return {
      kind: "connected",
      backend: { pod: pod.name, namespace: pod.namespace },
      backendIsTls,
      backendSni: backendIsTls ? (outcome.passthroughSni ?? "") : "",
    };
  }

  /** Whether the stream the gateway forwards is what the backend port speaks (TLS or plain text). */
  #streamProblem(pod: Pod, port: number, terminated: boolean, clientTls: boolean): string | undefined {
    const arrivesAsTls = clientTls && !terminated;
    const tls = servesTls(pod, port);
    if (arrivesAsTls && !tls) return "the backend port speaks plain text, the TLS handshake fails";
    if (!arrivesAsTls && tls) return "the backend port expects TLS and gets plain text";
    return undefined;
  }

  async send(request: TrafficRequest): Promise<TrafficResult> {
    return this.predict(request);
  }

  /** What Envoy would answer, by the simulator, with the echo backends' behaviour. */
  predict(request: TrafficRequest): TrafficResult {
    const target = gatewayTarget(this.#cluster, request);
    if (target.kind === "failed") return target;
    const { address, port, authority } = target;
    // The Host is the authority (a mesh check's Host header is, see meshTarget).
    const headers: [string, string][] = Object.entries(request.headers)
      .map(([n, v]): [string, string] => [n.toLowerCase(), v])
      .filter(([n]) => n !== "host");
    const sent = {
      method: request.method,
      path: request.path,
      authority,
      headers,
      tls: request.scheme === "https",
    };
    if (target.client !== undefined && !this.#meshServices.has(meshServiceName({ address, port }))) {
      // Not a mesh service (a Pod's own address, MeshFrontend's "Send to pod IP"): the
      // datapath passes the flow as it is, the stream reaches that address unproxied.
      return this.#overStream(
        { kind: "tcp-forward", cluster: "", endpoint: { address, port }, tlsTerminated: false },
        sent,
      );
    }
    const uuid = attemptKey(request.path, String(request.random));
    const result = simulate(
      this.#config,
      {
        address,
        port,
        remoteAddress: target.client?.ip ?? CLIENT_ADDRESS,
        // A mesh client Pod's flow to a ClusterIP: the datapath redirects it to the mesh listener.
        ...(target.client === undefined ? {} : { via: "mesh" as const }),
        ...(request.scheme === "https"
          ? {
              tls: {
                ...(request.sni === undefined ? {} : { sni: request.sni }),
                ...(request.clientCert === undefined
                  ? {}
                  : { clientCertificatePem: request.clientCert.certPem }),
              },
            }
          : {}),
        ...(request.protocol === "H2C_PRIOR_KNOWLEDGE" || request.protocol === "HTTP/2.0"
          ? { http2: true }
          : {}),
        method: request.method,
        scheme: request.scheme,
        authority,
        path: request.path,
        headers,
      },
      {
        random: { cluster: request.random, endpoint: (request.random * 7.31) % 1, fraction: request.random },
        envoyAddress: ENVOY_ADDRESS,
      },
    );
    if (request.scheme === "https" && request.trustedServerCertPem !== undefined) {
      const problem = this.#clientVerifiesServer(result, request);
      if (problem !== undefined)
        return {
          kind: "failed",
          reason: problem,
          ...(result.clientCertificateRequested === true ? { clientCertRequested: true } : {}),
        };
    }
    const answer = this.#respond(result, uuid, sent);
    return answer.kind === "response" &&
      answer.upgraded !== undefined &&
      request.websocketFrames !== undefined
      ? { ...answer, framesEchoed: true }
      : answer;
  }

  /**
   * Predictions for other random draws (weighted clusters, endpoint choice,
   * fractions), without counting attempts at the echo backends: what a real
   * Envoy, drawing its own random numbers, may also do.
   */
  alternatives(request: TrafficRequest, draws: number): TrafficResult[] {
    const saved = new Map(this.#attempts);
    const out: TrafficResult[] = [];
    for (let i = 0; i < draws; i++) {
      out.push(this.predict({ ...request, random: (i + 0.5) / draws }));
      this.#attempts.clear();
      for (const [k, v] of saved) this.#attempts.set(k, v);
    }
    return out;
  }

  /** The client's verification of the server certificate the chosen chain presents. */
  #clientVerifiesServer(result: SimResult, request: TrafficRequest): string | undefined {
    if (result.outcome.kind === "connection-failed") return undefined; // failed before the certificate
    const outcome = result.outcome;
    if (outcome.kind === "tcp-forward" && !outcome.tlsTerminated) {
      // TLS passthrough: the backend's own certificate reaches the client.
      const pod = this.#cluster.podByIp(outcome.endpoint.address);
      const [ns = "", secretName = ""] = (pod?.tlsSecret ?? "").split("/");
      const crt =
        pod?.tlsSecret === undefined
          ? undefined
          : this.#cluster.store.get("Secret", ns, secretName)?.data?.["tls.crt"];
      const backendPem = crt === undefined ? undefined : Buffer.from(crt, "base64").toString("utf8");
      return serverCertificateProblem(
        backendPem,
        request.trustedServerCertPem ?? "",
        request.sni,
        new Date(),
      );
    }
    const name = result.serverCertificates?.[0];
    const secret = name === undefined ? undefined : this.#config.secrets.get(name);
    const pem = (
      secret as { tls_certificate?: { certificate_chain?: { inline_string?: string } } } | undefined
    )?.tls_certificate?.certificate_chain?.inline_string;
    return serverCertificateProblem(pem, request.trustedServerCertPem ?? "", request.sni, new Date());
  }

  #hit(
    endpointAddress: string,
    req: { method: string; path: string; authority: string; headers: HeaderList },
    sni?: string,
    clientCertPem?: string,
  ): BackendHit | undefined {
    const pod = this.#cluster.podByIp(endpointAddress);
    if (pod === undefined) return undefined;
    return {
      pod: pod.name,
      namespace: pod.namespace,
      request: {
        method: req.method,
        path: req.path,
        host: req.authority,
        headers: grouped(req.headers),
        ...(sni === undefined ? {} : { sni }),
        ...(clientCertPem === undefined ? {} : { clientCertPem }),
      },
    };
  }

  #upstreamTlsProblem(
    address: string,
    tls: UpstreamTlsInfo | undefined,
    clientPem: string | undefined,
  ): string | undefined {
    const pod = this.#cluster.podByIp(address);
    if (pod?.tlsSecret === undefined)
      return tls === undefined ? undefined : "the gateway started TLS with a plain-text backend";
    if (tls === undefined) return "the gateway sent plain text to a TLS backend";
    const [ns = "", name = ""] = pod.tlsSecret.split("/");
    const secret = this.#cluster.store.get("Secret", ns, name);
    const crt = secret?.data?.["tls.crt"];
    if (crt === undefined) return `backend certificate secret ${pod.tlsSecret} is missing`;
    const serverProblem = verifyServerCertificate(tls, Buffer.from(crt, "base64").toString("utf8"));
    if (serverProblem !== undefined) return serverProblem;
    if (pod.clientCa !== undefined) {
      // The echo server requires a client certificate signed by its CA.
      const [cns = "", cname = ""] = pod.clientCa.split("/");
      const ca = this.#cluster.store.get("ConfigMap", cns, cname)?.data?.["ca.crt"];
      if (clientPem === undefined) return "the backend requires a client certificate";
      if (ca === undefined || !signedBy(clientPem, ca))
        return "the backend does not trust the gateway's client certificate";
    }
    return undefined;
  }

  /**
   * An HTTP request inside a TCP stream (a TLSRoute's, or a mesh Service port
   * without routes, in plain text): the echo backend answers it if the stream
   * reaches it intact.
   */
  #overStream(
    outcome: Extract<SimResult["outcome"], { kind: "tcp-forward" }>,
    request: { method: string; path: string; authority: string; headers: HeaderList; tls: boolean },
  ): TrafficResult {
    const pod = this.#cluster.podByIp(outcome.endpoint.address);
    if (pod === undefined) return { kind: "failed", reason: "no pod at the endpoint: connection refused" };
    const problem = this.#streamProblem(pod, outcome.endpoint.port, outcome.tlsTerminated, request.tls);
    if (problem !== undefined) return { kind: "failed", reason: problem };
    const backend = this.#hit(outcome.endpoint.address, request, outcome.passthroughSni);
    return {
      kind: "response",
      status: 200,
      headers: { "content-type": ["application/json"] },
      ...(backend === undefined ? {} : { backend }),
      mirrors: [],
    };
  }

  #respond(
    result: SimResult,
    uuid: string,
    sent: { method: string; path: string; authority: string; headers: HeaderList; tls: boolean },
  ): TrafficResult {
    const outcome = result.outcome;
    const requested = result.clientCertificateRequested === true ? { clientCertRequested: true } : {};
    if (outcome.kind === "connection-failed") return { kind: "failed", reason: outcome.reason, ...requested };
    if (outcome.kind === "tcp-forward") return this.#overStream(outcome, sent);
    if (outcome.kind === "local-response") {
      return {
        kind: "response",
        status: outcome.status,
        headers: grouped(outcome.headers),
        mirrors: [],
        ...requested,
      };
    }
    const clientName = outcome.upstreamTls?.clientCertificate;
    const clientSecret = clientName === undefined ? undefined : this.#config.secrets.get(clientName);
    const clientPem = (
      clientSecret as { tls_certificate?: { certificate_chain?: { inline_string?: string } } } | undefined
    )?.tls_certificate?.certificate_chain?.inline_string;
    const backend = this.#hit(outcome.endpoint.address, outcome.request, outcome.upstreamTls?.sni, clientPem);
    if (backend === undefined) return { kind: "response", status: 503, headers: {}, mirrors: [] };
    // A TLS backend needs TLS from the gateway, with its certificate accepted; a plain one needs plain text.
    const tlsProblem = this.#upstreamTlsProblem(outcome.endpoint.address, outcome.upstreamTls, clientPem);
    if (tlsProblem !== undefined) {
      return {
        kind: "response",
        status: 503,
        headers: { "content-type": ["text/plain"] },
        mirrors: [],
        ...requested,
      };
    }
    const mirrors = outcome.mirrors.flatMap((m) =>
      m.endpoint === undefined ? [] : (this.#hit(m.endpoint.address, m.request) ?? []),
    );

    // The echo server's behaviour. It accepts WebSocket upgrades and echoes frames back.
    if (outcome.upgrade === "websocket") {
      return {
        kind: "response",
        status: 101,
        headers: grouped(
          finalizeResponse(outcome, [
            ["upgrade", "websocket"],
            ["connection", "Upgrade"],
            [
              "sec-websocket-accept",
              acceptKey(outcome.request.headers.find(([n]) => n === "sec-websocket-key")?.[1] ?? ""),
            ],
          ]),
        ),
        backend,
        mirrors,
        upgraded: "websocket",
        ...requested,
      };
    }
    const path = outcome.request.path;
    const delay = querySeconds(path, "delay") ?? 0;
    const routeTimeout = durationSeconds(outcome.timeout) ?? 15;
    const perTry = durationSeconds(outcome.retry?.perTryTimeout);
    if (
      delay > 0 &&
      ((routeTimeout > 0 && delay >= routeTimeout) || (perTry !== undefined && perTry > 0 && delay >= perTry))
    ) {
      return {
        kind: "response",
        status: 504,
        headers: { "content-type": ["text/plain"] },
        backend,
        mirrors,
        ...requested,
      };
    }
    let status = 200;
    const code = queryValue(path, "responseCode");
    if (code !== undefined) {
      const retry = outcome.retry;
      const retriable =
        retry !== undefined &&
        (retry.retryOn.includes("5xx") || retry.retriableStatusCodes.includes(Number(code)));
      const tries = 1 + (retriable ? (retry?.numRetries ?? 0) : 0);
      for (let t = 0; t < tries; t++) {
        status = echoStatus(path, this.#attempts, uuid);
        if (
          status === 200 ||
          !(retry?.retriableStatusCodes.includes(status) || retry?.retryOn.includes("5xx"))
        )
          break;
      }
    }
    const setHeader = echoSetHeaders(outcome.request.headers.find(([n]) => n === "x-echo-set-header")?.[1]);
    const upstreamHeaders: HeaderList = [["content-type", "application/json"], ...setHeader];
    return {
      kind: "response",
      status,
      headers: grouped(finalizeResponse(outcome, upstreamHeaders)),
      backend,
      mirrors,
      ...requested,
    };
  }
}

/**
 * A real data plane that the configuration is also served to (the Envoy
 * engine, conformance/envoy/): its traffic engine sends over real sockets
 * and holds the simulator's prediction beside each answer.
 */
export interface DataPlane {
  serve(
    resources: EnvoyResourceSet,
    cluster: ConformanceCluster,
    simulator: SimulatedTraffic,
    meshServices: readonly MeshService[],
  ): Promise<TrafficEngine>;
}

/**
 * The mesh services every node's agent gets (strait.v1.MeshService, the
 * pipeline's shared agent resources), decoded as the agent decodes them.
 */
function meshServicesOf(out: PipelineOutput): readonly MeshService[] {
  return agentStateFrom(new Map(Object.entries(out.sharedAgentResources))).meshServices;
}

/** strait as the target; traffic through the simulator, or through `dataPlane` when given. */
export function createStraitTarget(dataPlane?: DataPlane): ConformanceTarget {
  // One cache for the whole run, as the controller keeps one: the tests exercise incremental translation.
  const cache = new PipelineCache();
  // The mesh services of the last reconcile, whose resources traffic() is given (what agents get).
  let meshServices: readonly MeshService[] = [];
  return {
    reconcile(view, now) {
      const out = runPipeline(view, {
        now,
        cache,
        addressPool: ADDRESS_POOL,
        controllerName: STRAIT_CONTROLLER_NAME,
      });
      meshServices = meshServicesOf(out);
      return {
        statuses: out.statuses,
        resources: out.resources,
        ownedObjects: out.ownedObjects as unknown as Record<string, unknown>[],
      };
    },
    async traffic(resources: EnvoyResourceSet, cluster: ConformanceCluster): Promise<TrafficEngine> {
      const { config, issues } = prepareNodeConfig(resources);
      if (issues.length > 0) {
        throw new Error(
          `generated resources do not encode: ${issues.map((i) => `${i.name}: ${i.issues.map((x) => `${x.path} ${x.message}`).join(", ")}`).join("; ")}`,
        );
      }
      const simulator = new SimulatedTraffic(config, cluster, meshServices);
      return dataPlane === undefined
        ? simulator
        : dataPlane.serve(resources, cluster, simulator, meshServices);
    },
  };
}

/**
 * The harness options every strait run uses: the class and controller names,
 * the addresses Gateways may ask for, the release's own CRD schemas, and the
 * certificates the suite creates programmatically.
 */
export async function straitHarnessOptions(
  dataDir: string,
  catalogue: Catalogue,
  manifestsDir: string = join(dataDir, "conformance"),
): Promise<HarnessOptions> {
  const programmatic = await createProgrammaticObjects(catalogue.programmaticObjects);
  return {
    manifestsDir,
    gatewayClassName: "strait",
    controllerName: STRAIT_CONTROLLER_NAME,
    usableAddress: "127.0.1.250",
    unusableAddress: "192.0.2.1",
    schemaCheck: crdSchemaCheck([join(dataDir, "config/crd/standard")]),
    programmatic: programmatic.objects,
    issued: programmatic.issued,
  };
}
