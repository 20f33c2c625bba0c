/** An in-process xDS server on a free loopback port, with its logs and metrics kept for assertions. */
import { pino } from "pino";
import { Registry } from "prom-client";
import { SnapshotCache, type SnapshotCacheOptions } from "../../src/xds/cache/index.ts";
import {
  createXdsMetrics,
  DEFAULT_LIMITS,
  type XdsLimits,
  XdsServer,
  type XdsTls,
} from "../../src/xds/server/index.ts";

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface XdsHarness {
  readonly cache: SnapshotCache;
  readonly server: XdsServer;
  readonly address: string;
  readonly logs: LogLine[];
  readonly registry: Registry;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

export async function startXds(
  options: { limits?: Partial<XdsLimits>; tls?: XdsTls; cache?: SnapshotCacheOptions } = {},
): Promise<XdsHarness> {
  const logs: LogLine[] = [];
  const logger = pino(
    { level: "debug" },
    { write: (line: string) => logs.push(JSON.parse(line) as LogLine) },
  );
  const registry = new Registry();
  const metrics = createXdsMetrics(registry);
  const cache = new SnapshotCache(options.cache);
  const server = new XdsServer({
    cache,
    logger,
    metrics,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  const bound = await server.listen("127.0.0.1", 0);
  return {
    cache,
    server,
    address: `127.0.0.1:${bound.port}`,
    logs,
    registry,
    async metric(name, labels = {}) {
      const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
      const value = metric?.values.find((v) =>
        Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l),
      );
      return Number(value?.value ?? 0);
    },
    stop: () => server.close(),
  };
}
