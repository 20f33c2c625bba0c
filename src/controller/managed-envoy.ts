/**
 * The embedded data plane of standalone mode: with `--envoy managed` (the
 * standalone default) `strait run` starts a local Envoy bootstrapped to its
 * own xDS server, supervises it (restart with back-off, log lines forwarded)
 * and stops it on shutdown. The controller is ready only once that Envoy has
 * ACKed its first listeners and clusters on its current stream, so
 * `/readyz` means "the Gateways answer".
 */
import type { Logger } from "pino";
import { type EnvoyAdmin, ManagedEnvoy, resolveEnvoyBinary, type XdsApi } from "../envoy/index.ts";
import { ERROR_CODES, StraitError } from "../errors.ts";
import type { ClientStatus } from "../xds/server/index.ts";
import { type Settings, stringSetting } from "./config.ts";
import { parseHostPort } from "./ops-server.ts";

/** The node id the managed Envoy announces; `strait proxy-status` lists it under this name. */
export const MANAGED_ENVOY_NODE_ID = "strait-managed-envoy";

export interface ManagedEnvoyConfig {
  readonly binary: string;
  readonly api: XdsApi;
  readonly admin: { readonly host: string; readonly port: number };
  readonly logLevel: string;
}

const ENVOY_LOG_LEVELS = ["trace", "debug", "info", "warning", "warn", "error", "critical", "off"];

function isLoopback(host: string): boolean {
  return host === "::1" || host === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The managed Envoy's settings, checked before anything starts; undefined with `--envoy none`. */
export function managedEnvoyConfig(settings: Settings): ManagedEnvoyConfig | undefined {
  const mode = stringSetting(settings, "envoy") ?? "none";
  if (mode === "none") return undefined;
  if (mode !== "managed")
    throw new StraitError(ERROR_CODES.CONFIG, `--envoy must be managed or none, got "${mode}"`);
  const api = stringSetting(settings, "envoyXdsApi") ?? "delta";
  if (api !== "delta" && api !== "sotw")
    throw new StraitError(ERROR_CODES.CONFIG, `--envoy-xds-api must be delta or sotw, got "${api}"`);
  const adminText = stringSetting(settings, "envoyAdminAddress") ?? "127.0.0.1:9901";
  const admin = parseHostPort(adminText, "--envoy-admin-address");
  if (!isLoopback(admin.host)) {
    throw new StraitError(
      ERROR_CODES.CONFIG,
      `--envoy-admin-address must be a loopback address (the admin interface can stop Envoy and dump its secrets), got "${adminText}"`,
    );
  }
  const logLevel = stringSetting(settings, "envoyLogLevel") ?? "info";
  if (!ENVOY_LOG_LEVELS.includes(logLevel)) {
    throw new StraitError(
      ERROR_CODES.CONFIG,
      `--envoy-log-level must be one of ${ENVOY_LOG_LEVELS.join(", ")}, got "${logLevel}"`,
    );
  }
  return { binary: resolveEnvoyBinary(stringSetting(settings, "envoyBinary")), api, admin, logLevel };
}

/**
 * Why the managed Envoy is not serving the configuration yet, from what the
 * xDS server knows of its stream: connected, and its listeners and clusters
 * (and whatever else was sent to it) answered with an ACK at least once.
 */
export function managedEnvoyNotReady(clients: readonly ClientStatus[], nodeId: string): string | undefined {
  const mine = clients.filter((c) => c.node.id === nodeId);
  if (mine.length === 0) return "the managed Envoy is not connected to the xDS server yet";
  const synced = mine.some((c) => {
    const byType = new Map(c.types.map((t) => [t.type, t]));
    if (byType.get("LDS")?.lastAcked === undefined || byType.get("CDS")?.lastAcked === undefined)
      return false;
    return c.types.every((t) => t.lastSent === undefined || t.lastAcked !== undefined);
  });
  return synced ? undefined : "the managed Envoy has not ACKed its first configuration yet";
}

export interface RunningManagedEnvoy {
  readonly envoy: ManagedEnvoy;
  admin(): EnvoyAdmin | undefined;
  stop(): Promise<void>;
}

export async function startManagedEnvoy(
  config: ManagedEnvoyConfig,
  xdsAddress: string,
  logger: Logger,
): Promise<RunningManagedEnvoy> {
  const xds = parseHostPort(xdsAddress, "--xds-address");
  // A wildcard xDS address is reached on loopback from the same host.
  const xdsHost = xds.host === "0.0.0.0" ? "127.0.0.1" : xds.host === "::" ? "::1" : xds.host;
  const envoy = new ManagedEnvoy({
    binary: config.binary,
    logger,
    logLevel: config.logLevel,
    bootstrap: {
      nodeId: MANAGED_ENVOY_NODE_ID,
      xds: { host: xdsHost, port: xds.port },
      api: config.api,
      admin: config.admin,
    },
  });
  try {
    await envoy.start();
  } catch (error) {
    await envoy.stop();
    throw error;
  }
  logger.info(
    { adminAddress: envoy.adminAddress, api: config.api, node: MANAGED_ENVOY_NODE_ID },
    "managed Envoy running",
  );
  return {
    envoy,
    admin: () => (envoy.adminAddress === undefined ? undefined : envoy.admin()),
    stop: () => envoy.stop(),
  };
}
