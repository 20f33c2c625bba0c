/**
 * SPIFFE IDs (SPIFFE ID spec, "The SPIFFE Identity and Verifiable Identity
 * Document", sections 2.1–2.3) as a parsed type: one strict parser, one
 * formatter. Inside strait an ID is never a bare string; the wire form
 * (`spiffe://trust-domain/path`) exists only at the edges (URI SANs, SPIRE
 * entries, logs).
 *
 * strait's own mapping: security identity N ↔ `spiffe://<td>/identity/N`,
 * TLS server name (SNI) of identity N: `N.<td>` (Cilium's convention).
 */
import { err, ok, type Result } from "../model/result.ts";

/** A SPIFFE trust domain name (lower-case letters, digits, `.`, `-`, `_`). */
export type TrustDomain = string & { readonly __trustDomain: unique symbol };

export interface SpiffeId {
  readonly trustDomain: TrustDomain;
  /** The path, `""` or `/seg/seg…` (no trailing slash, no empty, `.` or `..` segments). */
  readonly path: string;
}

export const DEFAULT_TRUST_DOMAIN = "strait.local" as TrustDomain;

const SCHEME = "spiffe://";
/** The spec caps a SPIFFE ID at 2048 bytes and a trust domain at 255. */
const MAX_ID_BYTES = 2048;
const MAX_TRUST_DOMAIN = 255;
const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const SEGMENT_CHARS = /^[A-Za-z0-9._-]+$/;

export function parseTrustDomain(text: string): Result<TrustDomain> {
  if (text === "") return err("trust domain is missing");
  if (text.length > MAX_TRUST_DOMAIN)
    return err(`trust domain is longer than ${MAX_TRUST_DOMAIN} characters`);
  if (!TRUST_DOMAIN_CHARS.test(text)) {
    return err(
      `trust domain "${text}": characters are limited to lowercase letters, numbers, dots, dashes, and underscores`,
    );
  }
  return ok(text as TrustDomain);
}

function parsePath(path: string): Result<string> {
  if (path === "") return ok("");
  if (!path.startsWith("/")) return err("path must start with /");
  const segments = path.slice(1).split("/");
  for (const [i, s] of segments.entries()) {
    if (s === "")
      return err(
        i === segments.length - 1
          ? "path cannot have a trailing slash"
          : "path cannot contain empty segments",
      );
    if (s === "." || s === "..") return err("path cannot contain dot segments");
    if (!SEGMENT_CHARS.test(s)) {
      return err(
        `path segment "${s}": characters are limited to letters, numbers, dots, dashes, and underscores`,
      );
    }
  }
  return ok(path);
}

/**
 * The one parser. Rejects everything the spec forbids: another scheme or a
 * scheme in another case, userinfo, a port, a query or fragment, percent
 * encoding, upper case in the trust domain, empty/dot segments, a trailing slash.
 */
export function parseSpiffeId(text: string): Result<SpiffeId> {
  if (Buffer.byteLength(text, "utf8") > MAX_ID_BYTES)
    return err(`SPIFFE ID is longer than ${MAX_ID_BYTES} bytes`);
  if (!text.startsWith(SCHEME)) return err('scheme is missing or invalid (must be "spiffe://")');
  const rest = text.slice(SCHEME.length);
  if (/[?#]/.test(rest)) return err("SPIFFE ID cannot contain a query or fragment");
  if (rest.includes("%")) return err("SPIFFE ID cannot contain percent-encoded characters");
  const slash = rest.indexOf("/");
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);
  if (authority.includes("@")) return err("trust domain cannot contain userinfo");
  if (authority.includes(":")) return err("trust domain cannot contain a port");
  const td = parseTrustDomain(authority);
  if (!td.ok) return td;
  const p = parsePath(path);
  if (!p.ok) return p;
  return ok({ trustDomain: td.value, path: p.value });
}

/** The one formatter. */
export function formatSpiffeId(id: SpiffeId): string {
  return `${SCHEME}${id.trustDomain}${id.path}`;
}

export function spiffeIdEquals(a: SpiffeId, b: SpiffeId): boolean {
  return a.trustDomain === b.trustDomain && a.path === b.path;
}

/** `spiffe://<td>/identity/<n>` for security identity n. */
export function identitySpiffeId(trustDomain: TrustDomain, identity: number): SpiffeId {
  if (!Number.isInteger(identity) || identity < 0 || identity > 0xffffffff) {
    throw new RangeError(`security identity ${identity} is not a 32-bit unsigned integer`);
  }
  return { trustDomain, path: `/identity/${identity}` };
}

/** The security identity an ID names, when it is strait's `/identity/<n>` form in that trust domain. */
export function identityOfSpiffeId(id: SpiffeId, trustDomain: TrustDomain): Result<number> {
  if (id.trustDomain !== trustDomain) {
    return err(`${formatSpiffeId(id)} is not in trust domain ${trustDomain}`);
  }
  const m = /^\/identity\/(0|[1-9][0-9]{0,9})$/.exec(id.path);
  const n = m === null ? Number.NaN : Number(m[1]);
  if (!Number.isInteger(n) || n > 0xffffffff) {
    return err(`${formatSpiffeId(id)} does not name a security identity (/identity/<number>)`);
  }
  return ok(n);
}

/** The TLS server name for identity n: `n.<td>`. */
export function identityServerName(trustDomain: TrustDomain, identity: number): string {
  return `${identity}.${trustDomain}`;
}

/** The identity a server name names, when it is `n.<td>` for this trust domain. */
export function identityOfServerName(serverName: string, trustDomain: TrustDomain): Result<number> {
  const suffix = `.${trustDomain}`;
  const head = serverName.endsWith(suffix) ? serverName.slice(0, -suffix.length) : undefined;
  if (head === undefined || !/^(0|[1-9][0-9]{0,9})$/.test(head) || Number(head) > 0xffffffff) {
    return err(`server name "${serverName}" is not <identity>.${trustDomain}`);
  }
  return ok(Number(head));
}
