/**
 * HTTP header syntax as Envoy checks it on every resource it receives:
 * protoc-gen-validate's well-known regexes HTTP_HEADER_NAME and
 * HTTP_HEADER_VALUE, and the limits of `config.core.v3.HeaderValue` (name
 * 1 byte to 16 KiB, value at most 16 KiB; values non-strict: only NUL, LF
 * and CR are refused). One definition, used by the strict encoder
 * (src/xds/proto/validate-rules.ts) and by the gateway stage, so a value the
 * encoder would refuse is refused in the route's status first and never
 * reaches the translation: `strait status` and `strait translate` agree.
 */

export const HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
// Strict forbids control characters except horizontal tab; non-strict forbids only NUL, LF and CR.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
export const HEADER_VALUE_STRICT = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
export const HEADER_VALUE_LOOSE = /^[^\u0000\u000A\u000D]*$/;

/** `HeaderValue.key` and `HeaderValue.value` max_bytes. */
export const MAX_HEADER_BYTES = 16384;

/** Why Envoy would refuse this header name, or undefined. */
export function headerNameProblem(name: string): string | undefined {
  if (name.length === 0) return "a header name cannot be empty";
  if (Buffer.byteLength(name) > MAX_HEADER_BYTES)
    return `header name is longer than ${MAX_HEADER_BYTES} bytes`;
  if (!HEADER_NAME.test(name)) return `header name ${JSON.stringify(name)} is not a valid HTTP header name`;
  return undefined;
}

/** Why Envoy would refuse this header value (or a value of the same rule, such as a path), or undefined. */
export function headerValueProblem(value: string): string | undefined {
  if (Buffer.byteLength(value) > MAX_HEADER_BYTES) return `value is longer than ${MAX_HEADER_BYTES} bytes`;
  if (!HEADER_VALUE_LOOSE.test(value))
    return `value ${JSON.stringify(value)} contains a NUL, CR or LF character, which HTTP does not allow`;
  return undefined;
}
