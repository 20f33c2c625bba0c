/**
 * The simulator must tell the truth about Envoy: every answer Envoy gives
 * in a conformance run is compared with what the simulator predicted for
 * the same request — the status, the backend that served it and what that
 * backend received (method, path, Host, headers, SNI, client certificate),
 * the response headers (a redirect's Location among them), mirrored copies,
 * WebSocket upgrades. Any difference is a disagreement, which fails the run.
 *
 * Only what neither strait's configuration nor the simulator decides is left
 * out, each for its reason (ENVOY_REQUEST_HEADERS, ENVOY_RESPONSE_HEADERS).
 */
import type { BackendHit, ConnectionResult, GrpcResult, TrafficResult } from "../checks/traffic.ts";

/**
 * Headers on the way to the backend whose values no configuration decides:
 * x-request-id (a random id Envoy generates by default) and the framing
 * headers of the upstream connection (`connection` reaches the backend only
 * through TLS passthrough, where it is the client's own choice).
 */
export const ENVOY_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  "x-request-id",
  "connection",
  "content-length",
  "transfer-encoding",
]);

/**
 * Headers of the response that belong to the transport and to Envoy's own
 * reporting, not to routing: date and server (Envoy sets both), framing
 * (content-length, transfer-encoding, connection, keep-alive), the upstream
 * service time Envoy reports, and the content type of Envoy's own local
 * replies' bodies.
 */
export const ENVOY_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  "date",
  "server",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "x-envoy-upstream-service-time",
]);

type Headers = Readonly<Record<string, readonly string[]>>;

const TIMEOUT_HEADER = "x-envoy-expected-rq-timeout-ms";

function headerDifferences(
  where: string,
  predicted: Headers,
  actual: Headers,
  extras: ReadonlySet<string>,
): string[] {
  const out: string[] = [];
  for (const [name, values] of Object.entries(predicted)) {
    const got = actual[name];
    if (got === undefined) out.push(`${where} header ${name}: simulator "${values.join(",")}", Envoy absent`);
    else if (got.join(",") !== values.join(","))
      out.push(`${where} header ${name}: simulator "${values.join(",")}", Envoy "${got.join(",")}"`);
  }
  for (const [name, values] of Object.entries(actual)) {
    if (predicted[name] === undefined && !extras.has(name))
      out.push(`${where} header ${name}: simulator absent, Envoy "${values.join(",")}"`);
  }
  return out;
}

/**
 * Which replica of a Deployment serves is the load balancer's draw, in Envoy
 * and in the simulator alike: replicas (`<deployment>-<hash>-<suffix>`)
 * compare equal.
 */
function replicaSet(hit: BackendHit): string {
  return `${hit.namespace}/${hit.pod.replace(/-[^-]+$/, "")}`;
}

/** What may differ for a reason no configuration decides. */
export interface Allowances {
  /**
   * The request was retried: on a later attempt Envoy tells the backend the
   * time left (x-envoy-expected-rq-timeout-ms), less than the first attempt's
   * by what the earlier attempts took.
   */
  readonly retried?: boolean;
}

/** Milliseconds earlier attempts may have taken. */
const RETRY_SLACK_MS = 5_000;

function hitDifferences(
  where: string,
  predicted: BackendHit | undefined,
  actual: BackendHit | undefined,
  allow: Allowances = {},
): string[] {
  if (predicted === undefined && actual === undefined) return [];
  if (predicted === undefined || actual === undefined) {
    const who = (h: BackendHit | undefined) => (h === undefined ? "no backend" : `${h.namespace}/${h.pod}`);
    return [`${where}: simulator ${who(predicted)}, Envoy ${who(actual)}`];
  }
  const out: string[] = [];
  const field = (name: string, a: string | undefined, b: string | undefined) => {
    if ((a ?? "") !== (b ?? "")) out.push(`${where} ${name}: simulator "${a ?? ""}", Envoy "${b ?? ""}"`);
  };
  field("pod", replicaSet(predicted), replicaSet(actual));
  field("method", predicted.request.method, actual.request.method);
  field("path", predicted.request.path, actual.request.path);
  field("host", predicted.request.host, actual.request.host);
  field("SNI", predicted.request.sni, actual.request.sni);
  field(
    "client certificate",
    predicted.request.clientCertPem === undefined ? undefined : "present",
    actual.request.clientCertPem === undefined ? undefined : "present",
  );
  if (
    predicted.request.clientCertPem !== undefined &&
    actual.request.clientCertPem !== undefined &&
    predicted.request.clientCertPem.trim() !== actual.request.clientCertPem.trim()
  )
    out.push(`${where} client certificate: another certificate than the simulator's`);
  // The Host header is compared above, as the backend saw it.
  const predictedHeaders: Record<string, readonly string[]> = { ...predicted.request.headers };
  const actualHeaders: Record<string, readonly string[]> = { ...actual.request.headers };
  delete predictedHeaders.host;
  delete actualHeaders.host;
  const left = Number(actualHeaders[TIMEOUT_HEADER]?.[0]);
  const full = Number(predictedHeaders[TIMEOUT_HEADER]?.[0]);
  if (allow.retried === true && left <= full && full - left <= RETRY_SLACK_MS) {
    delete actualHeaders[TIMEOUT_HEADER];
    delete predictedHeaders[TIMEOUT_HEADER];
  }
  out.push(...headerDifferences(where, predictedHeaders, actualHeaders, ENVOY_REQUEST_HEADERS));
  return out;
}

function describe(result: TrafficResult): string {
  return result.kind === "failed" ? `no response (${result.reason})` : `HTTP ${result.status}`;
}

/** Every way Envoy's answer differs from the simulator's prediction; empty when they agree. */
export function differences(
  predicted: TrafficResult,
  actual: TrafficResult,
  allow: Allowances = {},
): string[] {
  if (predicted.kind !== actual.kind) return [`simulator ${describe(predicted)}, Envoy ${describe(actual)}`];
  const out: string[] = [];
  // Measured on Envoy only when the request had a client certificate to give.
  if (
    actual.clientCertRequested !== undefined &&
    (predicted.clientCertRequested === true) !== actual.clientCertRequested
  )
    out.push(
      `client certificate requested: simulator ${predicted.clientCertRequested === true}, Envoy ${actual.clientCertRequested}`,
    );
  if (predicted.kind === "failed" || actual.kind === "failed") return out;
  if (predicted.status !== actual.status)
    out.push(`status: simulator ${predicted.status}, Envoy ${actual.status}`);
  out.push(...hitDifferences("backend", predicted.backend, actual.backend, allow));
  out.push(...headerDifferences("response", predicted.headers, actual.headers, ENVOY_RESPONSE_HEADERS));
  const byPod = (a: BackendHit, b: BackendHit) => replicaSet(a).localeCompare(replicaSet(b));
  const mirrorsP = [...predicted.mirrors].sort(byPod);
  const mirrorsA = [...actual.mirrors].sort(byPod);
  if (mirrorsP.length !== mirrorsA.length)
    out.push(`mirrors: simulator ${mirrorsP.length}, Envoy ${mirrorsA.length}`);
  else
    for (const [i, m] of mirrorsP.entries()) out.push(...hitDifferences(`mirror ${i + 1}`, m, mirrorsA[i]));
  if ((predicted.upgraded ?? "") !== (actual.upgraded ?? ""))
    out.push(`upgrade: simulator "${predicted.upgraded ?? ""}", Envoy "${actual.upgraded ?? ""}"`);
  if (predicted.framesEchoed !== actual.framesEchoed)
    out.push(`WebSocket frames echoed: simulator ${predicted.framesEchoed}, Envoy ${actual.framesEchoed}`);
  return out;
}

function describeConnection(result: ConnectionResult): string {
  if (result.kind === "failed") return `failed (${result.reason})`;
  if (result.backend === undefined) return "connected, no TCP backend";
  return `connected to ${result.backend.namespace}/${result.backend.pod.replace(/-[^-]+$/, "")} (backend TLS ${result.backendIsTls}, SNI "${result.backendSni}")`;
}

/** Every way a TLSRoute/TCPRoute connection through Envoy differs from the simulator's; empty when they agree. */
export function connectionDifferences(predicted: ConnectionResult, actual: ConnectionResult): string[] {
  const p = describeConnection(predicted);
  const a = describeConnection(actual);
  // Why a connection failed is the client's view (a reset, a handshake alert), not the simulator's words.
  if (predicted.kind === "failed" && actual.kind === "failed") return [];
  return p === a ? [] : [`simulator ${p}, Envoy ${a}`];
}

/**
 * Headers of a gRPC request that belong to the gRPC transport, which grpc-js
 * hands its handlers without (content-type, te) or adds on its own
 * (user-agent, grpc-accept-encoding, grpc-timeout from the deadline).
 */
const GRPC_TRANSPORT_HEADERS: ReadonlySet<string> = new Set([
  "content-type",
  "te",
  "user-agent",
  "grpc-accept-encoding",
  "grpc-encoding",
  "grpc-timeout",
  "accept-encoding",
]);

/** Every way a gRPC call through Envoy differs from the simulator's; empty when they agree. */
export function grpcDifferences(predicted: GrpcResult, actual: GrpcResult): string[] {
  const out: string[] = [];
  if (predicted.code !== actual.code)
    out.push(
      `gRPC code: simulator ${predicted.code} (${predicted.message}), Envoy ${actual.code} (${actual.message})`,
    );
  const who = (h: BackendHit | undefined) => (h === undefined ? "no backend" : replicaSet(h));
  if (who(predicted.backend) !== who(actual.backend))
    out.push(`backend: simulator ${who(predicted.backend)}, Envoy ${who(actual.backend)}`);
  else if (predicted.backend !== undefined && actual.backend !== undefined) {
    if (predicted.backend.request.path !== actual.backend.request.path)
      out.push(
        `backend path: simulator "${predicted.backend.request.path}", Envoy "${actual.backend.request.path}"`,
      );
    if (predicted.backend.request.host !== actual.backend.request.host)
      out.push(
        `backend authority: simulator "${predicted.backend.request.host}", Envoy "${actual.backend.request.host}"`,
      );
    // The metadata the backend received (routing's header filters among it), less the gRPC framing.
    const strip = (h: Headers) =>
      Object.fromEntries(Object.entries(h).filter(([name]) => !GRPC_TRANSPORT_HEADERS.has(name)));
    out.push(
      ...headerDifferences(
        "backend metadata",
        strip(predicted.backend.request.headers),
        strip(actual.backend.request.headers),
        ENVOY_REQUEST_HEADERS,
      ),
    );
  }
  return out;
}
