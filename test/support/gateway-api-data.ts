/**
 * Where the Gateway API reference data (CRDs, conformance manifests, the
 * conformance catalogue) lives: $STRAIT_GATEWAY_API_DIR, else the shared
 * folder beside the checkout. Tests that need it fail with this message
 * rather than skip, since CI always has it.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export function gatewayApiDir(): string {
  const candidates = [
    process.env.STRAIT_GATEWAY_API_DIR,
    resolve(import.meta.dirname, "../../../shared/gateway-api"),
    "/work/shared/gateway-api",
  ].filter((c): c is string => c !== undefined && c !== "");
  for (const dir of candidates) if (existsSync(join(dir, "VERSION"))) return dir;
  throw new Error(
    `Gateway API reference data not found (tried ${candidates.join(", ")}); set STRAIT_GATEWAY_API_DIR`,
  );
}
