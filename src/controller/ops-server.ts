/**
 * The operations HTTP server of a strait process: liveness, readiness,
 * Prometheus metrics, and read-only JSON endpoints that the CLI and other
 * parts register (statuses, xDS clients, flows).
 */
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from "fastify";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { ERROR_CODES, StraitError } from "../errors.ts";
import {
  excludesOf,
  formatVerbose,
  isVerbose,
  type ReadinessChecks,
  type ReadinessReport,
  readinessBody,
} from "./readiness.ts";

export interface OpsServerOptions {
  /** `host:port`; port 0 picks a free port. */
  readonly address: string;
  readonly logger: Logger;
  readonly registry: Registry;
  /** The named checks behind `/readyz` (see readiness.ts); more can be added after the server is built. */
  readonly readiness: ReadinessChecks;
}

export interface OpsServer {
  readonly app: FastifyInstance;
  /** The bound `host:port`. */
  readonly address: string;
  close(): Promise<void>;
}

export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (match === null || port > 65535) {
    throw new StraitError(ERROR_CODES.CONFIG, `${flag} must be HOST:PORT, got "${value}"`);
  }
  const host = match[1] ?? match[2] ?? "";
  return { host: host === "" ? "0.0.0.0" : host, port };
}

/** Builds the server; routes can be added to `app` before `listen`. */
export function createOpsServer(options: OpsServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger.child({ component: "ops" }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.get("/healthz", async () => ({ status: "ok" }));
  const answer = (report: ReadinessReport, query: unknown, reply: FastifyReply) => {
    reply.code(report.ready ? 200 : 503);
    if (isVerbose(query)) return reply.type("text/plain; charset=utf-8").send(formatVerbose(report));
    return reply.send(readinessBody(report));
  };
  app.get("/readyz", async (request, reply) =>
    answer(options.readiness.run(excludesOf(request.query)), request.query, reply),
  );
  // One check alone, as kube-apiserver's /readyz/<name>: an informational one answers 200 with its report.
  app.get<{ Params: { check: string } }>("/readyz/:check", async (request, reply) => {
    const name = request.params.check;
    if (!options.readiness.has(name)) return reply.code(404).send({ error: `no readiness check "${name}"` });
    const others = options.readiness.names().filter((n) => n !== name);
    return answer(options.readiness.run(others), { ...(request.query as object), verbose: "" }, reply);
  });
  app.get("/metrics", async (_request, reply) => {
    reply.header("content-type", options.registry.contentType);
    return options.registry.metrics();
  });
  return app;
}

export async function listenOpsServer(app: FastifyInstance, address: string): Promise<OpsServer> {
  const { host, port } = parseHostPort(address, "--http-address");
  try {
    await app.listen({ host, port });
  } catch (cause) {
    throw new StraitError(ERROR_CODES.NETWORK, `cannot listen on ${address}`, { cause });
  }
  const bound = app.server.address();
  const actual = typeof bound === "object" && bound !== null ? `${host}:${bound.port}` : address;
  return { app, address: actual, close: () => app.close() };
}
