/**
 * The traffic checks of the conformance catalogue, judged as the upstream
 * roundtripper and CompareRequest do (conformance/utils/http), on what the
 * traffic engine reports. The upstream suite repeats each request until it
 * passes three times in a row; the engine is deterministic except for the
 * random value driving weighted choices, so each check sends several requests
 * with different values and all must pass.
 */
import { randomUUID } from "node:crypto";
import type { CheckData } from "../catalogue.ts";
import { type CheckContext, type CheckFn, type CheckOutcome, fail, parseVia, pass } from "./context.ts";
import {
  type BackendHit,
  type GrpcCall,
  type GrpcResult,
  MESH_GRPC_METHOD,
  type TrafficRequest,
  type TrafficResult,
} from "./traffic.ts";

interface RequestData {
  host?: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  backendSetsResponseHeaders?: Record<string, string>;
  doNotFollowRedirect?: boolean;
  protocol?: string;
}

interface ExpectedData {
  statusCode?: number | number[];
  backend?: string;
  namespace?: string;
  backendReceives?: {
    method?: string;
    path?: string;
    host?: string;
    headers?: Record<string, string>;
    absentHeaders?: string[];
    sni?: string;
    clientCert?: string;
  };
  redirect?: { scheme?: string; host?: string; port?: string | number; path?: string };
  responseHeaders?: Record<string, string>;
  responseHeaderOneOf?: Record<string, string[]>;
  responseAbsentHeaders?: string[];
  mirroredTo?: { backend: string; namespace: string; percent?: number }[];
  headerCompareIgnoresWhitespace?: boolean;
}

/** Random values each request check is repeated with: they cover every weight bucket boundary region. */
const SAMPLES = [0.01, 0.37, 0.74, 0.99];

function certFromField(ctx: CheckContext, field: unknown) {
  const m = /Secret ([^/\s]+)\/(\S+)/.exec(String(field ?? ""));
  return m === null ? undefined : ctx.issued.get(`${m[1]}/${m[2]}`);
}

/**
 * The certificate a catalogue `serverCert: PEM from Secret ns/name` names: one the suite
 * created programmatically, or the Secret's tls.crt from the test's manifests.
 */
function trustedServerCert(ctx: CheckContext, field: unknown): string | undefined {
  const m = /Secret ([^/\s]+)\/(\S+)/.exec(String(field ?? ""));
  if (m === null) return undefined;
  const issued = ctx.issued.get(`${m[1]}/${m[2]}`);
  if (issued !== undefined) return issued.certPem;
  const crt = ctx.cluster.store.get("Secret", m[1] ?? "", m[2] ?? "")?.data?.["tls.crt"];
  return crt === undefined ? undefined : Buffer.from(crt, "base64").toString("utf8");
}

/** The namespace the suite's mesh tests send from: the echo-v1 client of gateway-conformance-mesh. */
const MESH_CLIENT_NAMESPACE = "gateway-conformance-mesh";
/**
 * Mesh checks sent from another namespace's client, by the check's name (the
 * catalogue says so in the test's notes, not in the check): MeshConsumerRoute's
 * first request comes from the consumer namespace.
 */
const MESH_CLIENT_OF_CHECK: Readonly<Record<string, string>> = {
  "request from consumer route's namespace modified by HTTPRoute": "gateway-conformance-mesh-consumer",
};

/** Whether a check's requests come from a mesh client Pod. */
export function viaMeshClient(check: CheckData): boolean {
  return check.via === "mesh client pod";
}

/** The namespaces whose mesh client Pods a test's checks send from (none for Gateway tests). */
export function meshClientNamespaces(checks: readonly CheckData[]): string[] {
  const out = new Set<string>();
  for (const check of checks)
    if (viaMeshClient(check))
      out.add(MESH_CLIENT_OF_CHECK[String(check.name ?? "")] ?? MESH_CLIENT_NAMESPACE);
  return [...out].sort();
}

export function buildRequest(
  ctx: CheckContext,
  check: CheckData,
  scheme: "http" | "https",
  random: number,
): TrafficRequest {
  const from = viaMeshClient(check)
    ? { meshClient: MESH_CLIENT_OF_CHECK[String(check.name ?? "")] ?? MESH_CLIENT_NAMESPACE }
    : (() => {
        const via = parseVia(check.via);
        return {
          gateway: { namespace: via.namespace, name: via.name },
          ...(via.port === undefined ? {} : { port: via.port }),
        };
      })();
  const request = (check.request ?? {}) as RequestData;
  const headers: Record<string, string> = { ...(request.headers ?? {}) };
  headers["X-Echo-Set-Header"] = Object.entries(request.backendSetsResponseHeaders ?? {})
    .map(([k, v]) => `${k}:${v}`)
    .join(",");
  const clientCert = certFromField(ctx, check.clientCert);
  const trusted = scheme === "https" ? trustedServerCert(ctx, check.serverCert) : undefined;
  // The retry test makes a fresh uuid per probe, so the echo server counts attempts per probe.
  const path = (request.path ?? "/").replace("<fresh uuid per probe>", randomUUID());
  const sni =
    typeof check.tlsServerName === "string" && check.tlsServerName !== "" ? check.tlsServerName : undefined;
  const protocol =
    request.protocol === "HTTP/2.0" || request.protocol === "H2C_PRIOR_KNOWLEDGE"
      ? request.protocol
      : undefined;
  return {
    ...from,
    scheme,
    ...(request.host === undefined || request.host === "" ? {} : { host: request.host }),
    method: request.method ?? "GET",
    path,
    headers,
    ...(sni === undefined ? {} : { sni }),
    ...(clientCert === undefined ? {} : { clientCert }),
    ...(trusted === undefined ? {} : { trustedServerCertPem: trusted }),
    ...(protocol === undefined ? {} : { protocol }),
    random,
  };
}

/** The headers the catalogue's request sends (without the X-Echo-Set-Header every request carries). */
function sentHeaders(request: TrafficRequest): [string, string][] {
  return Object.entries(request.headers).filter(([name]) => name.toLowerCase() !== "x-echo-set-header");
}

/** 408 and 504: upstream roundtripper.IsTimeoutError. */
function isTimeout(status: number): boolean {
  return status === 408 || status === 504;
}

function headerValue(headers: Readonly<Record<string, readonly string[]>>, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return v === undefined ? undefined : v.join(",");
}

function normalize(value: string, ignoreWhitespace: boolean): string {
  return ignoreWhitespace ? value.replace(/\s+/g, "") : value;
}

function splitPathQuery(path: string): string {
  return path.split("?")[0] ?? path;
}

/** Port of a redirect Location as Go's url.Port() gives it ("" when absent). */
function parseLocation(
  location: string,
): { scheme: string; host: string; port: string; path: string } | undefined {
  try {
    const url = new URL(location);
    // WHATWG URL drops default ports; read the port from the text so an explicit :80 is seen.
    const explicit = /^[a-z]+:\/\/(?:\[[^\]]+\]|[^/:?#]+)(?::(\d+))?/i.exec(location)?.[1] ?? "";
    return { scheme: url.protocol.replace(/:$/, ""), host: url.hostname, port: explicit, path: url.pathname };
  } catch {
    return undefined;
  }
}

let issuedForJudge: ReadonlyMap<string, { certPem: string }> = new Map();

/** The PEM a catalogue "PEM from Secret ns/name" names. */
function expectedPem(text: string): string | undefined {
  const m = /Secret ([^/\s]+)\/(\S+)/.exec(text);
  return m === null ? undefined : issuedForJudge.get(`${m[1]}/${m[2]}`)?.certPem;
}

/** Judges one response against `expected` (CompareRequest plus the catalogue's v1.6.1 additions). */
export function judgeResponse(
  request: TrafficRequest,
  result: TrafficResult,
  expected: ExpectedData,
): string | undefined {
  if (result.kind === "failed") return `request failed: ${result.reason}`;
  const allowed =
    expected.statusCode === undefined
      ? [200]
      : Array.isArray(expected.statusCode)
        ? expected.statusCode
        : [expected.statusCode];
  // CompareRoundTrip: a timeout answers any expected timeout code (408 and 504 alike).
  if (isTimeout(result.status) && allowed.some(isTimeout)) return undefined;
  if (!allowed.includes(result.status)) return `status ${result.status}, want ${allowed.join(" or ")}`;
  const ignoreWs = expected.headerCompareIgnoresWhitespace === true;

  if (result.status === 200 || result.status === 204) {
    const backend = result.backend;
    const receives = expected.backendReceives;
    if (result.status === 200) {
      const got = backend?.request;
      // CompareRoundTrip compares the echo's RequestURI with the path as sent, query string included.
      const wantPath = receives?.path ?? request.path;
      const wantMethod = receives?.method ?? (receives === undefined ? request.method : "GET");
      const wantHost = receives?.host ?? (receives === undefined ? request.host : undefined);
      if (backend === undefined) {
        if (expected.backend !== undefined || (expected.namespace ?? "") !== "")
          return "answered by the gateway, not by a backend";
      } else {
        if (wantHost !== undefined && wantHost !== got?.host)
          return `backend saw host ${got?.host}, want ${wantHost}`;
        if ((got?.path ?? "") !== wantPath) return `backend saw path ${got?.path}, want ${wantPath}`;
        if (got?.method !== wantMethod) return `backend saw method ${got?.method}, want ${wantMethod}`;
        if (receives?.sni !== undefined && got?.sni !== receives.sni)
          return `backend saw SNI ${got?.sni}, want ${receives.sni}`;
        if (receives?.clientCert !== undefined) {
          const want = expectedPem(receives.clientCert);
          if (want === undefined)
            return `cannot read the expected client certificate "${receives.clientCert}"`;
          if (got?.clientCertPem?.trim() !== want.trim())
            return "backend did not receive the expected client certificate";
        }
      }
      if ((expected.namespace ?? "") !== (backend?.namespace ?? ""))
        return `served from namespace "${backend?.namespace ?? ""}", want "${expected.namespace ?? ""}"`;
      // Without an expected request, upstream expects the request itself: its headers as sent.
      const wantHeaders =
        receives === undefined ? sentHeaders(request) : Object.entries(receives.headers ?? {});
      for (const [name, want] of wantHeaders) {
        const actual = got === undefined ? undefined : headerValue(got.headers, name);
        if (actual === undefined) return `backend did not receive header ${name}`;
        if (normalize(actual, ignoreWs) !== normalize(want, ignoreWs))
          return `backend saw ${name}: ${actual}, want ${want}`;
      }
      for (const name of receives?.absentHeaders ?? []) {
        if (got !== undefined && headerValue(got.headers, name) !== undefined)
          return `backend received header ${name}, which should be absent`;
      }
      if (!(backend?.pod ?? "").startsWith(expected.backend ?? ""))
        return `served by pod ${backend?.pod ?? "(none)"}, want ${expected.backend}*`;
    }
    for (const [name, want] of Object.entries(expected.responseHeaders ?? {})) {
      const actual = headerValue(result.headers, name);
      if (actual === undefined) return `response lacks header ${name}`;
      if (normalize(actual, ignoreWs) !== normalize(want, ignoreWs))
        return `response ${name}: ${actual}, want ${want}`;
    }
    for (const [name, options] of Object.entries(expected.responseHeaderOneOf ?? {})) {
      const actual = headerValue(result.headers, name);
      if (
        actual === undefined ||
        !options.some((o) => normalize(o, ignoreWs) === normalize(actual, ignoreWs))
      ) {
        return `response ${name}: ${actual ?? "(absent)"}, want one of ${options.join(" | ")}`;
      }
    }
    for (const name of expected.responseAbsentHeaders ?? []) {
      if (headerValue(result.headers, name) !== undefined)
        return `response has header ${name}, which should be absent`;
    }
  } else if (result.status >= 300 && result.status < 400 && expected.redirect !== undefined) {
    const location = headerValue(result.headers, "location");
    if (location === undefined) return "redirect without Location";
    const got = parseLocation(location);
    if (got === undefined) return `unparsable Location ${location}`;
    const want = expected.redirect;
    if (want.host !== undefined && want.host !== got.host)
      return `redirect host ${got.host}, want ${want.host}`;
    const scheme = want.scheme ?? request.scheme;
    if (got.scheme !== scheme) return `redirect scheme ${got.scheme}, want ${scheme}`;
    const wantPort = want.port === undefined ? "" : String(want.port);
    if (wantPort === "") {
      const defaultPort = got.scheme === "https" ? "443" : got.scheme === "http" ? "80" : "";
      if (got.port !== "" && got.port !== defaultPort)
        return `redirect port ${got.port}, want none or ${defaultPort}`;
    } else if (got.port !== wantPort) {
      return `redirect port "${got.port}", want "${wantPort}"`;
    }
    const wantPath = want.path ?? splitPathQuery(request.path);
    if (got.path !== wantPath) return `redirect path ${got.path}, want ${wantPath}`;
  }
  return undefined;
}

async function repeat(
  ctx: CheckContext,
  check: CheckData,
  scheme: "http" | "https",
  judge: (req: TrafficRequest, res: TrafficResult) => string | undefined,
): Promise<CheckOutcome> {
  issuedForJudge = ctx.issued;
  for (const random of SAMPLES) {
    const request = buildRequest(ctx, check, scheme, random);
    const result = await ctx.traffic.send(request);
    const problem = judge(request, result);
    if (problem !== undefined)
      return fail(`${request.method} ${scheme}://${request.host ?? "(gateway)"}${request.path}: ${problem}`);
  }
  return pass();
}

/**
 * A mesh client Pod's request as the upstream MeshPod judges it
 * (conformance/utils/echo/pod.go compareRequest): the status code, the
 * response headers that must be absent, the ones that must have a value (the
 * first one, as Header.Get), and the prefix of the Pod that served it. Not
 * what the backend received, its namespace, nor a redirect's Location: the
 * echo client's output the suite reads does not carry them.
 */
export function judgeMeshResponse(result: TrafficResult, expected: ExpectedData): string | undefined {
  if (result.kind === "failed") return `request failed: ${result.reason}`;
  const want = expected.statusCode === undefined ? [200] : [expected.statusCode].flat();
  if (!want.includes(result.status)) return `status ${result.status}, want ${want.join(" or ")}`;
  for (const name of expected.responseAbsentHeaders ?? []) {
    const got = result.headers[name.toLowerCase()];
    if (got !== undefined && got.length > 0) return `response has ${name}: ${got.join(",")}, want none`;
  }
  for (const [name, value] of Object.entries(expected.responseHeaders ?? {})) {
    const got = result.headers[name.toLowerCase()]?.[0] ?? "";
    if (got !== value) return `response header ${name}: "${got}", want "${value}"`;
  }
  const pod = result.backend?.pod ?? "";
  if (!pod.startsWith(expected.backend ?? ""))
    return `served by pod "${pod}", want one of ${expected.backend}`;
  return undefined;
}

/** A mesh check whose request is a gRPC call (`protocol: grpc`, the mesh client's `grpc://host`). */
function meshGrpc(check: CheckData): boolean {
  return viaMeshClient(check) && (check.request as RequestData | undefined)?.protocol === "grpc";
}

/** A mesh check's gRPC call: the echo service's Echo to the Service its host names, from the client Pod. */
function meshGrpcCall(check: CheckData, random: number): GrpcCall {
  const request = (check.request ?? {}) as RequestData;
  return {
    meshClient: MESH_CLIENT_OF_CHECK[String(check.name ?? "")] ?? MESH_CLIENT_NAMESPACE,
    ...(request.host === undefined ? {} : { host: request.host }),
    method: MESH_GRPC_METHOD,
    metadata: request.headers ?? {},
    random,
  };
}

/**
 * A gRPC call as the mesh client reports it: an OK call is code 200 and the
 * Pod that answered; any other status is a failed request.
 */
function meshGrpcAnswer(result: GrpcResult): TrafficResult {
  if (result.code !== 0) return { kind: "failed", reason: `gRPC code ${result.code} (${result.message})` };
  return {
    kind: "response",
    status: 200,
    headers: {},
    ...(result.backend === undefined ? {} : { backend: result.backend }),
    mirrors: [],
  };
}

export const http: CheckFn = async (ctx, check) => {
  const expected = (check.expected ?? {}) as ExpectedData;
  if (meshGrpc(check)) {
    for (const random of SAMPLES) {
      const call = meshGrpcCall(check, random);
      const problem = judgeMeshResponse(meshGrpcAnswer(await ctx.traffic.grpc(call)), expected);
      if (problem !== undefined) return fail(`gRPC ${call.method} to ${call.host ?? ""}: ${problem}`);
    }
    return pass();
  }
  if (viaMeshClient(check))
    return repeat(ctx, check, "http", (_req, res) => judgeMeshResponse(res, expected));
  const outcome = await repeat(ctx, check, "http", (req, res) => judgeResponse(req, res, expected));
  const shares = (expected.mirroredTo ?? []).filter((m) => m.percent !== undefined);
  return outcome.ok && shares.length > 0 ? mirrorDistribution(ctx, check, shares) : outcome;
};

/**
 * HTTPRouteRequestPercentageMirror: 500 requests (each with its own request id, as
 * AddRequestIDQueryParam adds one), each answered as expected; the requests each mirror
 * backend logs must be within 3 standard deviations of 500·p (Binomial(500, p)).
 */
async function mirrorDistribution(
  ctx: CheckContext,
  check: CheckData,
  mirrors: readonly { backend: string; namespace: string; percent?: number }[],
): Promise<CheckOutcome> {
  const total = 500;
  const counts = new Map<string, number>(mirrors.map((m) => [`${m.namespace}/${m.backend}`, 0]));
  const expected = (check.expected ?? {}) as ExpectedData;
  for (let i = 0; i < total; i++) {
    const base = buildRequest(ctx, check, "http", (i + 0.5) / total);
    // AddRequestIDQueryParam: upstream's own parameter name, so each request is told apart in the logs.
    const id = `gateway-api-conformance-request-id=${randomUUID()}`;
    const request = { ...base, path: base.path.includes("?") ? `${base.path}&${id}` : `${base.path}?${id}` };
    const result = await ctx.traffic.send(request);
    const wantPath =
      expected.backendReceives?.path === undefined ? undefined : `${expected.backendReceives.path}?${id}`;
    const problem = judgeResponse(
      request,
      result,
      wantPath === undefined
        ? expected
        : { ...expected, backendReceives: { ...expected.backendReceives, path: wantPath } },
    );
    if (problem !== undefined) return fail(`request ${i}: ${problem}`);
    if (result.kind !== "response") continue;
    for (const m of mirrors) {
      const key = `${m.namespace}/${m.backend}`;
      // GetMirrorLogRegexp(path): the mirror logs the request URI as sent, request id included.
      const hits = result.mirrors.filter(
        (h) => h.pod.startsWith(m.backend) && h.namespace === m.namespace && h.request.path === request.path,
      ).length;
      counts.set(key, (counts.get(key) ?? 0) + hits);
    }
  }
  for (const m of mirrors) {
    const p = (m.percent ?? 0) / 100;
    const mean = total * p;
    const margin = 3 * Math.sqrt(total * p * (1 - p));
    const got = counts.get(`${m.namespace}/${m.backend}`) ?? 0;
    if (got < mean - margin || got > mean + margin)
      return fail(
        `${m.namespace}/${m.backend} logged ${got} of ${total} mirrored requests, want ${mean} ± ${margin.toFixed(1)}`,
      );
  }
  return pass(JSON.stringify(Object.fromEntries(counts)));
}

/**
 * MakeTLSRequestAndExpectEventuallyConsistentResponse: the client trusts only `serverCert` and
 * sends `tlsServerName`; with a client certificate, the server must also have asked for it.
 */
export const https: CheckFn = (ctx, check) => {
  if (trustedServerCert(ctx, check.serverCert) === undefined)
    return fail(`cannot read the server certificate the client trusts ("${String(check.serverCert)}")`);
  const wantsClientCert = certFromField(ctx, check.clientCert) !== undefined;
  return repeat(ctx, check, "https", (req, res) => {
    const problem = judgeResponse(req, res, (check.expected ?? {}) as ExpectedData);
    if (problem !== undefined) return problem;
    if (wantsClientCert && res.kind === "response" && res.clientCertRequested !== true)
      return "the server did not ask for the client certificate";
    return undefined;
  });
};

/**
 * MakeRequestAndExpectFailure (WaitForConsistentFailureResponse): 5 attempts in a row must get
 * an HTTP response that is neither 200 nor a timeout (408, 504); a request that gets no
 * response at all is not yet a pass. A 200 fails at once.
 */
export const httpNot200: CheckFn = async (ctx, check) => {
  for (let i = 0; i < 5; i++) {
    const request = buildRequest(ctx, check, "http", SAMPLES[i % SAMPLES.length] ?? 0);
    const result = await ctx.traffic.send(request);
    const label = `${request.method} http://${request.host ?? "(gateway)"}${request.path}`;
    if (result.kind === "failed")
      return fail(`${label}: no HTTP response (${result.reason}), want a non-200 answer`);
    if (result.status === 200) return fail(`${label}: got 200`);
    if (isTimeout(result.status))
      return fail(`${label}: timed out (${result.status}), want a non-200 answer`);
  }
  return pass();
};

/**
 * MakeTLSRequestAndExpectFailureResponse: one attempt, which must fail with no HTTP response;
 * with a client certificate, the server must have asked for it (the failure is its refusal).
 */
export const httpsRequestFails: CheckFn = async (ctx, check) => {
  const request = buildRequest(ctx, check, "https", SAMPLES[0] ?? 0);
  const result = await ctx.traffic.send(request);
  if (result.kind !== "failed")
    return fail(`https request got HTTP ${result.status}, want a TLS or connection failure`);
  if (request.clientCert !== undefined && result.clientCertRequested !== true)
    return fail(`the request failed (${result.reason}) before the server asked for the client certificate`);
  return pass(result.reason);
};

/** Requests a distribution is measured over, and how many go at once (the upstream test's numbers). */
const DISTRIBUTION_REQUESTS = 500;
const DISTRIBUTION_CONCURRENCY = 10;
/** A measurement outside the tolerance is taken again, up to this many times in all, as upstream does. */
const DISTRIBUTION_ATTEMPTS = 10;

async function measureDistribution(
  ctx: CheckContext,
  template: CheckData,
  shares: Readonly<Record<string, number>>,
): Promise<CheckOutcome> {
  const counts = new Map<string, number>(Object.keys(shares).map((k) => [k, 0]));
  let problem: string | undefined;
  for (
    let start = 0;
    start < DISTRIBUTION_REQUESTS && problem === undefined;
    start += DISTRIBUTION_CONCURRENCY
  ) {
    const batch = Array.from(
      { length: Math.min(DISTRIBUTION_CONCURRENCY, DISTRIBUTION_REQUESTS - start) },
      (_, k) => start + k,
    );
    // GRPCRouteWeight and MeshGRPCRouteWeight measure gRPC calls (a grpc check, or a mesh check whose
    // request is gRPC), the others HTTP requests.
    const results = await Promise.all(
      batch.map((i): Promise<{ backend?: BackendHit; served: boolean }> => {
        const random = (i + 0.5) / DISTRIBUTION_REQUESTS;
        if (template.check === "grpc" || meshGrpc(template))
          return ctx.traffic
            .grpc(meshGrpc(template) ? meshGrpcCall(template, random) : grpcCall(template, random))
            .then((r) => ({
              ...(r.backend === undefined ? {} : { backend: r.backend }),
              served: r.code === 0,
            }));
        return ctx.traffic.send(buildRequest(ctx, template, "http", random)).then((r) => ({
          ...(r.kind === "response" && r.backend !== undefined ? { backend: r.backend } : {}),
          served: r.kind === "response",
        }));
      }),
    );
    results.forEach((result, k) => {
      if (problem !== undefined) return;
      if (!result.served || result.backend === undefined) {
        problem = `request ${start + k} not served by a backend`;
        return;
      }
      const pod = result.backend.pod;
      const name = Object.keys(shares).find((prefix) => pod.startsWith(prefix));
      if (name === undefined) problem = `request ${start + k} served by unexpected pod ${pod}`;
      else counts.set(name, (counts.get(name) ?? 0) + 1);
    });
  }
  if (problem !== undefined) return fail(problem);
  for (const [name, expected] of Object.entries(shares)) {
    const share = (counts.get(name) ?? 0) / DISTRIBUTION_REQUESTS;
    if (expected === 0 && share > 0) return fail(`${name} got ${share}, want none`);
    if (Math.abs(share - expected) > 0.05)
      return fail(`${name} got share ${share.toFixed(3)}, want ${expected} ± 0.05`);
  }
  return pass(JSON.stringify(Object.fromEntries(counts)));
}

/**
 * 500 requests, 10 at a time; shares within ±0.05 of the expected weights; any
 * other pod fails. Real Envoy draws its own random numbers, so a measurement
 * that falls outside the tolerance is repeated, up to 10 attempts as upstream.
 */
export const weightedDistribution: CheckFn = async (ctx, check) => {
  const shares = check.expectedShares as Record<string, number>;
  const template = previousHttpCheck(check);
  let outcome = fail("not measured");
  for (let attempt = 1; attempt <= DISTRIBUTION_ATTEMPTS; attempt++) {
    outcome = await measureDistribution(ctx, template, shares);
    if (outcome.ok) return attempt === 1 ? outcome : pass(`${outcome.message} (attempt ${attempt})`);
  }
  return outcome;
};

/** Mirrors: checked on the http check that follows (which lists `mirroredTo`); here the path must mirror to each backend. */
export const mirroredRequestLogged: CheckFn = async (ctx, check) => {
  const backends = (check.mirrorBackends ?? []) as { BackendRef: { Name: string; Namespace: string } }[];
  const template = nextHttpCheck(check);
  const request = buildRequest(ctx, template, "http", SAMPLES[0] ?? 0);
  const result = await ctx.traffic.send(request);
  if (result.kind !== "response") return fail(`request failed: ${result.reason}`);
  for (const b of backends) {
    const hit: BackendHit | undefined = result.mirrors.find(
      (m) =>
        m.pod.startsWith(b.BackendRef.Name) &&
        m.namespace === b.BackendRef.Namespace &&
        // GetMirrorLogRegexp: "Echoing back request made to <path> to client", the URI as logged.
        m.request.path === String(check.path),
    );
    if (hit === undefined)
      return fail(
        `no mirrored request for ${String(check.path)} at ${b.BackendRef.Namespace}/${b.BackendRef.Name}`,
      );
  }
  return pass();
};

/** The checks in a test are evaluated in order; traffic checks without a request borrow their neighbour's. */
const neighbours = new WeakMap<CheckData, { previous?: CheckData; next?: CheckData }>();

export function linkNeighbours(checks: readonly CheckData[]): void {
  checks.forEach((check, i) => {
    const previous = checks
      .slice(0, i)
      .reverse()
      .find((c) => (c.check === "http" || c.check === "grpc") && c.subtest === check.subtest);
    const next = checks.slice(i + 1).find((c) => c.check === "http" && c.subtest === check.subtest);
    neighbours.set(check, {
      ...(previous === undefined ? {} : { previous }),
      ...(next === undefined ? {} : { next }),
    });
  });
}

function previousHttpCheck(check: CheckData): CheckData {
  const found = neighbours.get(check)?.previous;
  if (found === undefined)
    throw new Error(`${check.check}: no http check before it to take the request from`);
  return found;
}

function nextHttpCheck(check: CheckData): CheckData {
  const found = neighbours.get(check)?.next;
  if (found === undefined) throw new Error(`${check.check}: no http check after it to take the request from`);
  return found;
}

/**
 * A WebSocket through the gateway: the upgrade must reach an echo backend,
 * which then returns each frame unchanged (the frames themselves are the
 * echo server's behaviour, not strait's; what strait decides is whether the
 * upgrade is allowed and where it goes).
 */
export const websocketEcho: CheckFn = async (ctx, check) => {
  const via = parseVia(check.via);
  const url = String(check.url ?? "ws://<gateway address>/ws");
  const path = url.replace(/^wss?:\/\/[^/]+/, "") || "/";
  const result = await ctx.traffic.send({
    gateway: { namespace: via.namespace, name: via.name },
    scheme: "http",
    method: "GET",
    path,
    headers: {
      Connection: "Upgrade",
      Upgrade: "websocket",
      "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      Origin: String(check.origin ?? ""),
    },
    random: SAMPLES[0] ?? 0,
    websocketFrames: [
      { binary: false, data: "Hello, WebSocket!" },
      { binary: true, data: "binary frame \u0000\u0001\u0002" },
    ],
  });
  if (result.kind !== "response") return fail(`WebSocket connection failed: ${result.reason}`);
  if (result.status !== 101 || result.upgraded !== "websocket")
    return fail(`WebSocket upgrade answered ${result.status}`);
  if (result.backend === undefined) return fail("WebSocket upgrade did not reach a backend");
  if (result.framesEchoed !== true) return fail("the text and binary frames did not come back unchanged");
  return pass(`upgraded at ${result.backend.namespace}/${result.backend.pod}`);
};

interface TcpExpected {
  backendIsTLS?: boolean;
  backend?: string;
  namespace?: string;
  hostname?: string;
}

function serverNameOf(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * A TCP connection (TLS when useTLS, with serverName as SNI): the echo
 * backend's reply must name the expected pod and namespace, say whether it
 * terminated TLS itself, and report the SNI it saw. Weighted backends: every
 * sample must be answered by the expected one.
 */
export const tcp: CheckFn = async (ctx, check) => {
  const via = parseVia(check.via);
  const expected = (check.expected ?? {}) as TcpExpected;
  const sni = serverNameOf(check.serverName);
  for (const random of SAMPLES) {
    const result = await ctx.traffic.connect({
      gateway: { namespace: via.namespace, name: via.name },
      ...(via.port === undefined ? {} : { port: via.port }),
      tls: check.useTLS === true,
      ...(sni === undefined ? {} : { sni }),
      random,
    });
    if (result.kind === "failed") return fail(`connection (SNI ${sni ?? "none"}) failed: ${result.reason}`);
    const backend = result.backend;
    if (backend === undefined) return fail("the connection did not reach a TCP backend");
    if (!backend.pod.startsWith(expected.backend ?? ""))
      return fail(`answered by pod ${backend.pod}, want ${expected.backend}*`);
    if ((expected.namespace ?? "") !== backend.namespace)
      return fail(`answered from namespace ${backend.namespace}, want ${expected.namespace ?? ""}`);
    if (expected.backendIsTLS !== undefined && expected.backendIsTLS !== result.backendIsTls)
      return fail(`backend terminated TLS: ${result.backendIsTls}, want ${expected.backendIsTLS}`);
    if (expected.hostname !== undefined && expected.hostname !== result.backendSni)
      return fail(`backend saw SNI "${result.backendSni}", want "${expected.hostname}"`);
  }
  return pass();
};

/** A TLS dial with this SNI must be closed or reset by the gateway: no stream reaches a backend. */
export const tlsConnectionRejected: CheckFn = async (ctx, check) => {
  const via = parseVia(check.via);
  const sni = serverNameOf(check.tlsServerName);
  for (const random of SAMPLES) {
    const result = await ctx.traffic.connect({
      gateway: { namespace: via.namespace, name: via.name },
      ...(via.port === undefined ? {} : { port: via.port }),
      tls: true,
      ...(sni === undefined ? {} : { sni }),
      random,
    });
    if (result.kind === "connected")
      return fail(
        `TLS connection with SNI ${sni ?? "(none)"} was accepted${result.backend === undefined ? "" : ` and reached ${result.backend.namespace}/${result.backend.pod}`}`,
      );
  }
  return pass();
};

const GRPC_CODES: Readonly<Record<string, number>> = {
  OK: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  PermissionDenied: 7,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  Unauthenticated: 16,
};

/** `OK`, `<codes.OK>`, `<codes.Unimplemented>` → the gRPC code. */
function grpcCode(text: unknown): number {
  const name = String(text ?? "OK")
    .replace(/^<codes\./, "")
    .replace(/>$/, "");
  const code = GRPC_CODES[name];
  if (code === undefined) throw new Error(`unknown gRPC code ${String(text)}`);
  return code;
}

function grpcCall(check: CheckData, random: number): GrpcCall {
  const via = parseVia(check.via);
  const request = (check.request ?? {}) as {
    method?: string;
    authority?: string;
    metadata?: Record<string, string>;
  };
  return {
    gateway: { namespace: via.namespace, name: via.name },
    ...(via.port === undefined ? {} : { port: via.port }),
    ...(request.authority === undefined ? {} : { authority: request.authority }),
    method: request.method ?? "/",
    metadata: request.metadata ?? {},
    random,
  };
}

/** A unary gRPC call: the status code, and for OK the backend pod prefix and namespace. */
export const grpc: CheckFn = async (ctx, check) => {
  const expected = (check.expected ?? {}) as { code?: unknown; backend?: string; namespace?: string };
  const want = grpcCode(expected.code);
  for (const random of SAMPLES) {
    const call = grpcCall(check, random);
    const result = await ctx.traffic.grpc(call);
    const what = `${call.method}${call.authority === undefined ? "" : ` (authority ${call.authority})`}`;
    if (result.code !== want) return fail(`${what}: code ${result.code} (${result.message}), want ${want}`);
    if (want !== 0) continue;
    if (!(result.backend?.pod ?? "").startsWith(expected.backend ?? ""))
      return fail(`${what}: served by ${result.backend?.pod ?? "(none)"}, want ${expected.backend}*`);
    if ((expected.namespace ?? "") !== (result.backend?.namespace ?? ""))
      return fail(
        `${what}: served from namespace ${result.backend?.namespace ?? ""}, want ${expected.namespace}`,
      );
  }
  return pass();
};

export const TRAFFIC_CHECKS: Readonly<Record<string, CheckFn>> = {
  grpc,
  tcp,
  tlsConnectionRejected,
  http,
  https,
  httpNot200,
  httpsRequestFails,
  weightedDistribution,
  mirroredRequestLogged,
  websocketEcho,
};
