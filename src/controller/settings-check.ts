/**
 * Checks of `strait run`'s settings made before anything starts, so a bad
 * value is a clear error at once instead of a controller that runs and
 * quietly does the wrong thing (an address pool that cannot be parsed made
 * every Gateway report an exhausted pool; a manifests folder that does not
 * exist served an empty configuration; a bad lease duration was found only
 * when cluster mode started). The settings checked where they are used (xDS
 * limits and TLS files, the managed Envoy's) keep their checks there; this
 * covers the rest, every duration included.
 */
import { statSync } from "node:fs";
import { ERROR_CODES, StraitError } from "../errors.ts";
import { parseAddressPool } from "../gateway/addresses.ts";
import { durationSetting, listSetting, type Settings, stringSetting } from "./config.ts";
import { parseHostPort } from "./ops-server.ts";

function fail(message: string): never {
  throw new StraitError(ERROR_CODES.CONFIG, message);
}

/** Every duration setting of `strait run`: key, flag, and the fallback its user applies. */
const DURATIONS = [
  ["leaseDuration", "lease-duration", "15s"],
  ["leaseRenewDeadline", "lease-renew-deadline", "10s"],
  ["leaseRetryPeriod", "lease-retry-period", "2s"],
  ["identityGcAfter", "identity-gc-after", "15m"],
  ["svidTtl", "svid-ttl", "1h"],
  ["xdsWriteTimeout", "xds-write-timeout", "30s"],
  ["eventHeartbeat", "event-heartbeat", "30m"],
  ["xdsCertTtl", "xds-cert-ttl", "24h"],
] as const;

type DurationKey = (typeof DURATIONS)[number][0];

function durationEntry(key: DurationKey): (typeof DURATIONS)[number] {
  const entry = DURATIONS.find(([k]) => k === key);
  if (entry === undefined) throw new Error(`no duration setting ${key}`);
  return entry;
}

/** A duration setting in milliseconds, with the fallback of the table above: every user reads it here. */
export function durationOf(settings: Settings, key: DurationKey): number {
  const [, flag, fallback] = durationEntry(key);
  return durationSetting(settings, key, flag, fallback);
}

/** A duration setting as the user gave it (or its fallback), for messages. */
function shownDuration(settings: Settings, key: DurationKey): string {
  return stringSetting(settings, key) ?? durationEntry(key)[2];
}

/** The lease timings in milliseconds, checked as client-go's leader election checks them. */
export interface LeaseTimings {
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

/**
 * The lease timings, each a positive duration, with retry period < renew
 * deadline < lease duration: a leader must try more than once before its
 * deadline, and give up leading before another replica may take the Lease.
 */
export function leaseTimings(settings: Settings): LeaseTimings {
  const leaseDurationMs = durationOf(settings, "leaseDuration");
  const renewDeadlineMs = durationOf(settings, "leaseRenewDeadline");
  const retryPeriodMs = durationOf(settings, "leaseRetryPeriod");
  if (renewDeadlineMs >= leaseDurationMs)
    fail(
      `--lease-renew-deadline (${shownDuration(settings, "leaseRenewDeadline")}) must be shorter than --lease-duration (${shownDuration(settings, "leaseDuration")})`,
    );
  if (retryPeriodMs >= renewDeadlineMs)
    fail(
      `--lease-retry-period (${shownDuration(settings, "leaseRetryPeriod")}) must be shorter than --lease-renew-deadline (${shownDuration(settings, "leaseRenewDeadline")})`,
    );
  return { leaseDurationMs, renewDeadlineMs, retryPeriodMs };
}

export function checkRunSettings(settings: Settings): void {
  for (const [key] of DURATIONS) durationOf(settings, key);
  leaseTimings(settings);
  const pool = listSetting(settings, "addressPool");
  const { errors } = parseAddressPool(pool);
  if (errors.length > 0) fail(`--address-pool: ${errors.join("; ")}`);
  const manifests = stringSetting(settings, "manifests");
  if (manifests !== undefined) {
    const stat = statSync(manifests, { throwIfNoEntry: false });
    if (stat === undefined) fail(`-f ${manifests}: no such file or folder`);
  }
  for (const [key, flag] of [
    ["httpAddress", "--http-address"],
    ["xdsAddress", "--xds-address"],
  ] as const) {
    const value = stringSetting(settings, key);
    if (value !== undefined) parseHostPort(value, flag);
  }
  const envoy = stringSetting(settings, "envoy");
  if (envoy !== undefined && envoy !== "managed" && envoy !== "none")
    fail(`--envoy must be managed or none, got "${envoy}"`);
}
