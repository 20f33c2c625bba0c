/**
 * What the upstream suite's echo server does besides echoing, shared by the
 * simulator engine (which predicts it) and the real echo backends of the
 * Envoy engine (which do it): response headers that `X-Echo-Set-Header`
 * asks for, and the `delay`, `responseCode`/`succeedAfter` query parameters
 * the timeout and retry tests use (attempts counted per `uuid`).
 */
import { parseGatewayDuration } from "../src/gateway/duration.ts";

export function queryValue(path: string, name: string): string | undefined {
  const m = new RegExp(`[?&]${name}=([^&]+)`).exec(path);
  return m?.[1] === undefined ? undefined : decodeURIComponent(m[1]);
}

/** Seconds of a Go-style duration in a query parameter (`1s`, `500ms`). */
export function querySeconds(path: string, name: string): number | undefined {
  const value = queryValue(path, name);
  return value === undefined ? undefined : parseGatewayDuration(value);
}

/** `X-Echo-Set-Header: Name:value,Other:value` → the response headers it asks for (lower-cased names). */
export function echoSetHeaders(value: string | undefined): [string, string][] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.includes(":"))
    .map((s) => [s.slice(0, s.indexOf(":")).trim().toLowerCase(), s.slice(s.indexOf(":") + 1).trim()]);
}

/** The key attempts are counted under: the probe's `uuid`, else the path and a per-request salt. */
export function attemptKey(path: string, salt: string): string {
  return queryValue(path, "uuid") ?? `${path}#${salt}`;
}

/**
 * The status for one attempt: `responseCode` until more than `succeedAfter`
 * attempts were made for the key, then 200; 200 without `responseCode`.
 */
export function echoStatus(path: string, attempts: Map<string, number>, key: string): number {
  const code = queryValue(path, "responseCode");
  if (code === undefined) return 200;
  const succeedAfter = Number(queryValue(path, "succeedAfter") ?? "0");
  const n = (attempts.get(key) ?? 0) + 1;
  attempts.set(key, n);
  return n > succeedAfter ? 200 : Number(code);
}
