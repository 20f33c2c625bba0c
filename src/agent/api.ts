/**
 * The agent's local API and operations endpoints, served both on TCP
 * (default 127.0.0.1:9091) and on a unix socket (default
 * /run/strait/agent.sock, what strait-cni and `strait observe` use; it works
 * across network namespaces, which a loopback address does not).
 *
 *   GET  /healthz, /readyz, /metrics
 *   GET  /api/v1/status                 endpoints, proxy ports, mesh services, map fill, last error
 *   GET  /api/v1/desired-state          the state being enforced
 *   PUT  /api/v1/desired-state          replace it (400 with field errors; 507 when a map would overflow)
 *   GET  /api/v1/flows[?follow=true]    recent flows (JSON), or a stream of them (NDJSON)
 *   GET  /api/v1/auth                   mutual auth: provider, auth map entries, failed handshakes,
 *                                       the secrets served to the node's Envoy for the tunnel
 *   POST /api/v1/auth                   write an auth map entry by hand (tests, debugging)
 *   POST /api/v1/cni/{add,del,check,gc} strait-cni
 *
 * Every body is validated completely before anything changes: a bad one gets
 * 400 with each failing field, never a 500 and never half an update. Writes
 * (anything but GET/HEAD) can change the node's enforcement, so the TCP
 * listener refuses them (403) unless it was given a bearer token or serves
 * TLS with a client CA (then a write needs a client certificate chaining to
 * that CA; reads need none); the unix socket (mode 0600, so root only) takes them.
 */
import { timingSafeEqual } from "node:crypto";
import { isIPv4 } from "node:net";
import type { TLSSocket } from "node:tls";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import type { Logger } from "pino";
import type { AgentAuth } from "../auth/agent-auth.ts";
import { messageOf } from "../errors.ts";
import type { Agent } from "./agent.ts";
import type { CniAttachment } from "./cni-registry.ts";
import type { FlowBuffer } from "./flows.ts";
import type { AgentMetrics } from "./metrics.ts";
import { validateDesiredState } from "./validate.ts";

/** Big enough for a desired state of several 100,000 policy entries. */
const BODY_LIMIT = 256 * 1024 * 1024;

/** Who may write: anyone who reaches the listener (the 0600 socket), holders of a token, or no one (read-only). */
export type ApiWrites =
  | { readonly kind: "open" }
  | { readonly kind: "token"; readonly token: string }
  /** A client certificate chaining to the listener's client CA (see ApiTls), or the token when one is set. */
  | { readonly kind: "client-cert"; readonly token?: string }
  | { readonly kind: "read-only" };

/**
 * TLS for the TCP listener. The client certificate is asked for but not
 * required at the handshake, so reads keep working without one; whether it
 * chained to `clientCa` decides writes (ApiWrites "client-cert").
 */
export interface ApiTls {
  readonly cert: string;
  readonly key: string;
  readonly clientCa: string;
}

export interface AgentApiDeps {
  readonly agent: Agent;
  readonly flows: FlowBuffer;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  readonly auth?: AgentAuth;
  /** The node Envoy's SDS for the encrypted tunnel (--envoy-sds-dir), when served. */
  readonly envoySds?: { readonly socket: string; secretNames(): readonly string[] };
  readonly notReadyReason: () => string | undefined;
}

interface FieldError {
  readonly field: string;
  readonly message: string;
}

type Body = Record<string, unknown>;

/** The body as an object with only the given fields, or the errors. */
function bodyOf(body: unknown, known: readonly string[]): { body: Body; errors: FieldError[] } {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return { body: {}, errors: [{ field: "(root)", message: "must be a JSON object" }] };
  const errors: FieldError[] = [];
  for (const key of Object.keys(body))
    if (!known.includes(key)) errors.push({ field: key, message: "unknown field" });
  return { body: body as Body, errors };
}

function requireString(b: Body, field: string, errors: FieldError[], optional = false): string | undefined {
  const v = b[field];
  if (v === undefined && optional) return undefined;
  if (typeof v !== "string" || v === "" || v.length > 4096) {
    errors.push({ field, message: optional ? "must be a non-empty string" : "required, a non-empty string" });
    return undefined;
  }
  return v;
}

/** The attachment a CNI DEL or CHECK names (the rest of the CNI body is allowed and ignored). */
function attachmentRefOf(
  body: unknown,
): { readonly containerId: string; readonly ifName: string } | { readonly errors: FieldError[] } {
  const { body: b, errors } = bodyOf(body, [
    "containerId",
    "ifName",
    "netns",
    "hostInterface",
    "addresses",
    "pod",
  ]);
  const containerId = requireString(b, "containerId", errors);
  const ifName = requireString(b, "ifName", errors);
  if (errors.length > 0 || containerId === undefined || ifName === undefined) return { errors };
  return { containerId, ifName };
}

function attachmentOf(body: unknown): CniAttachment | FieldError[] {
  const { body: b, errors } = bodyOf(body, [
    "containerId",
    "ifName",
    "netns",
    "hostInterface",
    "addresses",
    "pod",
  ]);
  const containerId = requireString(b, "containerId", errors);
  const ifName = requireString(b, "ifName", errors);
  const hostInterface = requireString(b, "hostInterface", errors);
  const netns = b.netns === undefined || b.netns === "" ? "" : requireString(b, "netns", errors, true);
  const pod = requireString(b, "pod", errors, true);
  const addresses: string[] = [];
  if (b.addresses !== undefined && !Array.isArray(b.addresses))
    errors.push({ field: "addresses", message: "must be a list of IPv4 addresses" });
  for (const [i, a] of (Array.isArray(b.addresses) ? b.addresses : []).entries()) {
    if (typeof a === "string" && isIPv4(a)) addresses.push(a);
    else errors.push({ field: `addresses[${i}]`, message: "must be an IPv4 address" });
  }
  if (errors.length > 0 || containerId === undefined || ifName === undefined || hostInterface === undefined)
    return errors;
  return {
    containerId,
    ifName,
    netns: netns ?? "",
    hostInterface,
    addresses,
    ...(pod === undefined ? {} : { pod }),
  };
}

/** The GC list: required and explicit (`null` or a missing list must never mean "delete everything"). */
function gcListOf(body: unknown): Set<string> | FieldError[] {
  const { body: b, errors } = bodyOf(body, ["valid"]);
  if (!Array.isArray(b.valid)) {
    errors.push({
      field: "valid",
      message: "required, the list of attachments to keep ({containerId, ifName})",
    });
    return errors;
  }
  const keep = new Set<string>();
  b.valid.forEach((item, i) => {
    const { body: v, errors: own } = bodyOf(item, ["containerId", "ifName"]);
    const containerId = requireString(v, "containerId", own);
    const ifName = requireString(v, "ifName", own);
    for (const e of own) errors.push({ field: `valid[${i}].${e.field}`, message: e.message });
    if (containerId !== undefined && ifName !== undefined) keep.add(`${containerId}/${ifName}`);
  });
  return errors.length > 0 ? errors : keep;
}

const MAX_AUTH_SECONDS = 365 * 24 * 3600;

function integerIn(
  b: Body,
  field: string,
  min: number,
  max: number,
  errors: FieldError[],
): number | undefined {
  const v = b[field];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    errors.push({ field, message: `must be an integer in ${min}..${max}` });
    return undefined;
  }
  return v;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/.exec(header ?? "")?.[1] ?? "");
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** True when the request came over TLS with a client certificate that chained to the client CA. */
function clientCertAuthorized(socket: unknown): boolean {
  const tls = socket as Partial<TLSSocket>;
  return tls.encrypted === true && tls.authorized === true;
}

function writeRefusal(writes: ApiWrites, socket: unknown): { code: number; error: string } {
  switch (writes.kind) {
    case "token":
      return { code: 403, error: "writes need Authorization: Bearer <the token of --api-token-file>" };
    case "client-cert": {
      const tls = socket as Partial<TLSSocket>;
      const presented = tls.encrypted === true && tls.getPeerCertificate?.()?.raw !== undefined;
      const why = presented
        ? `the client certificate does not chain to --api-client-ca (${tls.authorizationError ?? "not authorized"})`
        : "writes need a client certificate chaining to --api-client-ca";
      return {
        code: presented ? 403 : 401,
        error:
          writes.token === undefined
            ? why
            : `${why}, or Authorization: Bearer <the token of --api-token-file>`,
      };
    }
    default:
      return {
        code: 403,
        error:
          "this listener is read-only: write through the unix socket, or start the agent with --api-token-file or --api-client-ca",
      };
  }
}

export function createAgentApi(
  deps: AgentApiDeps,
  writes: ApiWrites = { kind: "open" },
  tls?: ApiTls,
): FastifyInstance {
  const { agent, flows, metrics } = deps;
  const logger = deps.logger.child({ component: "api" });
  const options = {
    bodyLimit: BODY_LIMIT,
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  };
  // Fastify types an HTTPS instance apart from an HTTP one; the routes below use nothing that differs.
  const app =
    tls === undefined
      ? Fastify(options)
      : (Fastify({
          ...options,
          https: {
            cert: tls.cert,
            key: tls.key,
            ca: tls.clientCa,
            requestCert: true,
            // Reads need no certificate: the verdict is checked per request, for writes only.
            rejectUnauthorized: false,
          },
        }) as unknown as FastifyInstance);
  app.addHook("onRequest", async (request, reply) => {
    if (request.method === "GET" || request.method === "HEAD" || writes.kind === "open") return;
    if (writes.kind === "token" && tokenMatches(request.headers.authorization, writes.token)) return;
    if (writes.kind === "client-cert") {
      if (clientCertAuthorized(request.raw.socket)) return;
      if (writes.token !== undefined && tokenMatches(request.headers.authorization, writes.token)) return;
    }
    const refusal = writeRefusal(writes, request.raw.socket);
    return reply.code(refusal.code).send({ error: refusal.error });
  });
  // Bad input is the client's (400, fastify's own message); anything else is ours: logged, and not shown.
  app.setErrorHandler(async (error, _request, reply) => {
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500)
      return reply.code(status).send({ errors: [{ field: "(body)", message: messageOf(error) }] });
    logger.error({ err: error }, "agent API request failed");
    return reply.code(500).send({ error: "internal error (see the agent's log)" });
  });

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    const reason = deps.notReadyReason();
    if (reason !== undefined) return reply.code(503).send({ status: "not ready", reason });
    return { status: "ready" };
  });
  app.get("/metrics", async (_request, reply) => {
    reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.get("/api/v1/status", async () => agent.status());
  app.get("/api/v1/desired-state", async () => agent.desired);
  app.put("/api/v1/desired-state", async (request, reply) => {
    const parsed = validateDesiredState(request.body);
    if (!parsed.ok) {
      agent.reject(parsed.error, "api"); // logs it, counts it in strait_agent_rejected_updates_total
      return reply.code(400).send({ errors: parsed.error });
    }
    const applied = await agent.applyDesired(parsed.value, "api");
    if (!applied.ok) {
      const full = applied.error.some(
        (e) => typeof e === "object" && e !== null && (e as { kind?: string }).kind === "full",
      );
      return reply.code(full ? 507 : 500).send({ errors: applied.error });
    }
    return applied.value;
  });

  app.get("/api/v1/flows", async (request, reply) => {
    const follow = (request.query as { follow?: string }).follow === "true";
    if (!follow) return flows.list();
    reply.hijack();
    const out = reply.raw;
    out.writeHead(200, { "content-type": "application/x-ndjson" });
    for (const f of flows.list()) out.write(`${JSON.stringify(f)}\n`);
    const unsubscribe = flows.subscribe((f) => out.write(`${JSON.stringify(f)}\n`));
    request.raw.on("close", unsubscribe);
    return reply;
  });

  app.get("/api/v1/auth", async () => ({
    ...(deps.auth === undefined
      ? { provider: "none", healthy: false, entries: [], failures: [] }
      : deps.auth.status()),
    ...(deps.envoySds === undefined
      ? {}
      : { envoySds: { socket: deps.envoySds.socket, secrets: deps.envoySds.secretNames() } }),
  }));
  app.post("/api/v1/auth", async (request, reply) => {
    const { body: b, errors } = bodyOf(request.body, [
      "localIdentity",
      "remoteIdentity",
      "remoteNode",
      "authType",
      "seconds",
    ]);
    const localIdentity = integerIn(b, "localIdentity", 1, 0xffffffff, errors);
    const remoteIdentity = integerIn(b, "remoteIdentity", 1, 0xffffffff, errors);
    const authType = b.authType;
    if (authType !== "mtls-spiffe" && authType !== "always-fail")
      errors.push({ field: "authType", message: 'must be "mtls-spiffe" or "always-fail"' });
    if (b.remoteNode !== undefined && !(typeof b.remoteNode === "string" && isIPv4(b.remoteNode)))
      errors.push({ field: "remoteNode", message: "must be an IPv4 address" });
    const seconds = b.seconds === undefined ? 3600 : integerIn(b, "seconds", 1, MAX_AUTH_SECONDS, errors);
    if (
      errors.length > 0 ||
      localIdentity === undefined ||
      remoteIdentity === undefined ||
      seconds === undefined
    )
      return reply.code(400).send({ errors });
    const r = agent.datapath.setAuth({
      localIdentity,
      remoteIdentity,
      ...(typeof b.remoteNode === "string" ? { remoteNode: b.remoteNode } : {}),
      authType: authType as "mtls-spiffe" | "always-fail",
      seconds,
    });
    if (!r.ok) logger.error({ error: r.error }, "auth map entry not written");
    return r.ok
      ? { status: "ok" }
      : reply.code(500).send({ error: "auth map entry not written (see the agent's log)" });
  });

  app.post("/api/v1/cni/add", async (request, reply) => {
    const a = attachmentOf(request.body);
    if (Array.isArray(a)) return reply.code(400).send({ errors: a });
    try {
      const r = await agent.cniAdd(a);
      if (!r.ok) return reply.code(500).send({ error: r.error });
      return { endpoint: r.value ?? null };
    } catch (error) {
      return reply.code(500).send({ error: messageOf(error) });
    }
  });
  app.post("/api/v1/cni/del", async (request, reply) => {
    const ref = attachmentRefOf(request.body);
    if ("errors" in ref) return reply.code(400).send({ errors: ref.errors });
    await agent.cniDel(ref.containerId, ref.ifName);
    return { status: "ok" };
  });
  app.post("/api/v1/cni/check", async (request, reply) => {
    const ref = attachmentRefOf(request.body);
    if ("errors" in ref) return reply.code(400).send({ errors: ref.errors });
    const r = agent.cniCheck(ref.containerId, ref.ifName);
    return r.ok ? { endpoint: r.value ?? null } : reply.code(404).send({ error: r.error });
  });
  app.post("/api/v1/cni/gc", async (request, reply) => {
    const valid = gcListOf(request.body);
    if (Array.isArray(valid)) return reply.code(400).send({ errors: valid });
    let removed = 0;
    for (const a of agent.cni.all()) {
      if (!valid.has(`${a.containerId}/${a.ifName}`)) {
        await agent.cniDel(a.containerId, a.ifName);
        removed++;
      }
    }
    return { removed };
  });
  return app;
}
