/**
 * The agent's local API and operations endpoints, served both on TCP
 * (default 127.0.0.1:9091) and on a unix socket (default
 * /run/strait/agent.sock, what strait-cni and `strait observe` use; it works
 * across network namespaces, which a loopback address does not).
 *
 *   GET  /healthz, /readyz, /metrics
 *   GET  /api/v1/status                 endpoints, map fill, last error
 *   GET  /api/v1/desired-state          the state being enforced
 *   PUT  /api/v1/desired-state          replace it (400 with field errors; 507 when a map would overflow)
 *   GET  /api/v1/flows[?follow=true]    recent flows (JSON), or a stream of them (NDJSON)
 *   GET  /api/v1/auth                   mutual auth: provider, auth map entries, failed handshakes
 *   POST /api/v1/auth                   write an auth map entry by hand (tests, debugging)
 *   POST /api/v1/cni/{add,del,check,gc} strait-cni
 */
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

export interface AgentApiDeps {
  readonly agent: Agent;
  readonly flows: FlowBuffer;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  readonly auth?: AgentAuth;
  readonly notReadyReason: () => string | undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function attachmentOf(body: unknown): CniAttachment | string {
  const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const containerId = str(b.containerId);
  const ifName = str(b.ifName);
  const hostInterface = str(b.hostInterface);
  if (containerId === undefined) return "containerId: required";
  if (ifName === undefined) return "ifName: required";
  if (hostInterface === undefined) return "hostInterface: required";
  const addresses = Array.isArray(b.addresses)
    ? b.addresses.filter((a): a is string => typeof a === "string")
    : [];
  const pod = str(b.pod);
  return {
    containerId,
    ifName,
    netns: str(b.netns) ?? "",
    hostInterface,
    addresses,
    ...(pod === undefined ? {} : { pod }),
  };
}

export function createAgentApi(deps: AgentApiDeps): FastifyInstance {
  const { agent, flows, metrics } = deps;
  const app = Fastify({
    bodyLimit: BODY_LIMIT,
    loggerInstance: deps.logger.child({ component: "api" }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
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

  app.get("/api/v1/auth", async () =>
    deps.auth === undefined
      ? { provider: "none", healthy: false, entries: [], failures: [] }
      : deps.auth.status(),
  );
  app.post("/api/v1/auth", async (request, reply) => {
    const b = (request.body ?? {}) as Record<string, unknown>;
    const authType = b.authType;
    if (typeof b.localIdentity !== "number" || typeof b.remoteIdentity !== "number") {
      return reply
        .code(400)
        .send({ errors: [{ field: "localIdentity/remoteIdentity", message: "must be numbers" }] });
    }
    if (authType !== "mtls-spiffe" && authType !== "always-fail") {
      return reply
        .code(400)
        .send({ errors: [{ field: "authType", message: 'must be "mtls-spiffe" or "always-fail"' }] });
    }
    const r = agent.datapath.setAuth({
      localIdentity: b.localIdentity,
      remoteIdentity: b.remoteIdentity,
      ...(typeof b.remoteNode === "string" ? { remoteNode: b.remoteNode } : {}),
      authType,
      seconds: typeof b.seconds === "number" ? b.seconds : 3600,
    });
    return r.ok ? { status: "ok" } : reply.code(500).send({ error: r.error });
  });

  app.post("/api/v1/cni/add", async (request, reply) => {
    const a = attachmentOf(request.body);
    if (typeof a === "string") return reply.code(400).send({ error: a });
    try {
      const r = await agent.cniAdd(a);
      if (!r.ok) return reply.code(500).send({ error: r.error });
      return { endpoint: r.value ?? null };
    } catch (error) {
      return reply.code(500).send({ error: messageOf(error) });
    }
  });
  app.post("/api/v1/cni/del", async (request, reply) => {
    const b = (request.body ?? {}) as Record<string, unknown>;
    const containerId = str(b.containerId);
    const ifName = str(b.ifName);
    if (containerId === undefined || ifName === undefined) {
      return reply.code(400).send({ error: "containerId and ifName: required" });
    }
    await agent.cniDel(containerId, ifName);
    return { status: "ok" };
  });
  app.post("/api/v1/cni/check", async (request, reply) => {
    const b = (request.body ?? {}) as Record<string, unknown>;
    const r = agent.cniCheck(str(b.containerId) ?? "", str(b.ifName) ?? "");
    return r.ok ? { endpoint: r.value ?? null } : reply.code(404).send({ error: r.error });
  });
  app.post("/api/v1/cni/gc", async (request) => {
    const b = (request.body ?? {}) as { valid?: { containerId?: string; ifName?: string }[] };
    const valid = new Set((b.valid ?? []).map((v) => `${v.containerId}/${v.ifName}`));
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
