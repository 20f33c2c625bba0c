/**
 * The user's form of a request: `GET http://host[:port]/path?query` and
 * `name: value` headers. Errors are values with a clear message.
 */
import { err, ok, type Result } from "../../model/result.ts";

export interface ParsedRequestLine {
  readonly method: string;
  readonly scheme: "http" | "https";
  /** Host as written (with port if given). */
  readonly authority: string;
  readonly host: string;
  readonly port: number;
  readonly path: string;
}

const METHOD = /^[A-Z][A-Z0-9-]*$/;

export function parseRequestLine(text: string): Result<ParsedRequestLine> {
  const parts = text.trim().split(/\s+/);
  const [first, second] = parts;
  if (parts.length > 2 || first === undefined || first === "")
    return err(`cannot read request "${text}": expected "METHOD URL", e.g. "GET http://example.com/path"`);
  const method = second === undefined ? "GET" : first.toUpperCase();
  const urlText = second ?? first;
  if (!METHOD.test(method)) return err(`"${method}" is not an HTTP method`);
  const m = /^(https?):\/\/(\[[^\]]+\]|[^/:?#]+)(?::(\d{1,5}))?([^#]*)$/i.exec(urlText);
  if (m === null) return err(`"${urlText}" is not an http:// or https:// URL`);
  const scheme = (m[1] ?? "http").toLowerCase() as "http" | "https";
  const host = (m[2] ?? "").toLowerCase();
  const port = m[3] === undefined ? (scheme === "https" ? 443 : 80) : Number(m[3]);
  if (port < 1 || port > 65535) return err(`port ${m[3]} is out of range`);
  let path = m[4] ?? "";
  if (path === "") path = "/";
  if (path.startsWith("?")) path = `/${path}`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\s\u0000-\u001f]/.test(path)) return err(`path "${path}" contains whitespace or control characters`);
  return ok({ method, scheme, authority: m[3] === undefined ? host : `${host}:${m[3]}`, host, port, path });
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function parseHeader(text: string): Result<readonly [string, string]> {
  const colon = text.indexOf(":");
  if (colon <= 0) return err(`header "${text}" must be "name: value"`);
  const name = text.slice(0, colon).trim();
  const value = text.slice(colon + 1).trim();
  if (!TOKEN.test(name)) return err(`"${name}" is not a valid header name`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value))
    return err(`header ${name} has control characters in its value`);
  return ok([name.toLowerCase(), value] as const);
}
