/**
 * Checks of `strait run`'s settings made before anything starts, so a bad
 * value is a clear error at once instead of a controller that runs and
 * quietly does the wrong thing (an address pool that cannot be parsed made
 * every Gateway report an exhausted pool; a manifests folder that does not
 * exist served an empty configuration). The settings checked where they are
 * used (xDS limits and TLS files, the managed Envoy's, the lease timings)
 * keep their checks there; this covers the rest.
 */
import { statSync } from "node:fs";
import { ERROR_CODES, StraitError } from "../errors.ts";
import { parseAddressPool } from "../gateway/addresses.ts";
import { listSetting, type Settings, stringSetting } from "./config.ts";
import { parseHostPort } from "./ops-server.ts";

function fail(message: string): never {
  throw new StraitError(ERROR_CODES.CONFIG, message);
}

export function checkRunSettings(settings: Settings): void {
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
