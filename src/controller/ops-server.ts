/**
 * The operations HTTP server of a strait process: liveness, readiness,
 * Prometheus metrics, and read-only JSON endpoints that the CLI and other
 * parts register (statuses, xDS clients, flows).
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { ERROR_CODES, StraitError } from "../errors.ts";

export interface OpsServerOptions {
  /** `host:port`; port 0 picks a free port. */
  readonly address: string;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Why the process is not ready yet, or undefined when it is. */
  readonly notReadyReason: () => string | undefined;
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
  app.get("/readyz", async (_request, reply) => {
    const reason = options.notReadyReason();
    if (reason !== undefined) return reply.code(503).send({ status: "not ready", reason });
    return { status: "ready" };
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
