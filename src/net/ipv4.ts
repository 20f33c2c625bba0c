/**
 * IPv4 addresses and prefixes: four octets in network order, as the datapath
 * stores them and the policy stage compares them. One strict parser and one
 * formatter each. Pure, shared by the policy stage, the agent and the datapath.
 */
import { err, ok, type Result } from "../model/result.ts";

export type Ipv4Octets = readonly [number, number, number, number];

export interface Ipv4Prefix {
  readonly octets: Ipv4Octets;
  readonly length: number;
}

/**
 * The octets of `a.b.c.d` in text[start, end): each part 0..255 in decimal,
 * without leading zeros. Scanned by hand, with no split or regex: the agent
 * parses every ipcache prefix of a desired state (up to several 100,000
 * per update, twice: validation and the map content).
 */
function scanIpv4(text: string, start: number, end: number): Ipv4Octets | undefined {
  const out: [number, number, number, number] = [0, 0, 0, 0];
  let part = 0;
  let digits = 0;
  let value = 0;
  for (let i = start; i <= end; i++) {
    const c = i === end ? DOT : text.charCodeAt(i);
    if (c === DOT) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = value;
      digits = 0;
      value = 0;
    } else if (c >= ZERO && c <= ZERO + 9) {
      if (digits > 0 && value === 0) return undefined; // a leading zero
      value = value * 10 + (c - ZERO);
      digits++;
      if (value > 255) return undefined;
    } else return undefined;
  }
  return part === 4 ? out : undefined;
}

const DOT = 46;
const ZERO = 48;

export function parseIpv4(text: string): Result<Ipv4Octets> {
  const octets = scanIpv4(text, 0, text.length);
  return octets === undefined ? err(`"${text}" is not an IPv4 address`) : ok(octets);
}

/** `a.b.c.d/len`, or a bare address as /32. Host bits must be zero. */
export function parseIpv4Prefix(text: string): Result<Ipv4Prefix> {
  const slash = text.indexOf("/");
  const end = slash < 0 ? text.length : slash;
  const octets = scanIpv4(text, 0, end);
  if (octets === undefined) return err(`"${text.slice(0, end)}" is not an IPv4 address`);
  let len = 32;
  if (slash >= 0) {
    // 0..32 in decimal, no leading zero, nothing after it (a second "/" included).
    const digits = text.length - slash - 1;
    const d0 = text.charCodeAt(slash + 1) - ZERO;
    const d1 = digits === 2 ? text.charCodeAt(slash + 2) - ZERO : 0;
    const valid = (digits === 1 || (digits === 2 && d0 !== 0)) && d0 >= 0 && d0 <= 9 && d1 >= 0 && d1 <= 9;
    len = digits === 2 ? d0 * 10 + d1 : d0;
    if (!valid || len > 32) return err(`"${text}" is not an IPv4 prefix (a.b.c.d/0..32)`);
  }
  const value = octetsToNumber(octets);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  if ((value & ~mask) >>> 0 !== 0) return err(`"${text}" has host bits set past /${len}`);
  return ok({ octets, length: len });
}

export function formatIpv4(octets: Ipv4Octets): string {
  return octets.join(".");
}

export function octetsToNumber(octets: Ipv4Octets): number {
  return ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
}

/** Writes an address in network order (the bytes as written: a.b.c.d). */
export function writeIpv4(buf: Buffer, offset: number, octets: Ipv4Octets): void {
  buf.set(octets, offset);
}

export function readIpv4(buf: Buffer, offset: number): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

/** For addresses that have already been validated (internal use). */
export function mustParseIpv4(text: string): Ipv4Octets {
  const parsed = parseIpv4(text);
  if (!parsed.ok) throw new TypeError(parsed.error);
  return parsed.value;
}

/** The prefix as `a.b.c.d/len`. */
export function formatIpv4Prefix(prefix: Ipv4Prefix): string {
  return `${formatIpv4(prefix.octets)}/${prefix.length}`;
}

function maskOf(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/** Whether `inner` lies within `outer` (equal prefixes included). */
export function prefixContains(outer: Ipv4Prefix, inner: Ipv4Prefix): boolean {
  if (inner.length < outer.length) return false;
  const mask = maskOf(outer.length);
  return (octetsToNumber(inner.octets) & mask) >>> 0 === (octetsToNumber(outer.octets) & mask) >>> 0;
}

/** Whether the address lies within the prefix. */
export function prefixContainsAddress(prefix: Ipv4Prefix, address: Ipv4Octets): boolean {
  return prefixContains(prefix, { octets: address, length: 32 });
}

const PREFIX_MEMO = new Map<string, Result<Ipv4Prefix>>();

/** parseIpv4Prefix, remembered: the ipcache's prefixes are parsed over and over, per node and pass. */
export function parseIpv4PrefixCached(text: string): Result<Ipv4Prefix> {
  let r = PREFIX_MEMO.get(text);
  if (r === undefined) {
    r = parseIpv4Prefix(text);
    if (PREFIX_MEMO.size > 1_000_000) PREFIX_MEMO.clear();
    PREFIX_MEMO.set(text, r);
  }
  return r;
}
