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

export function parseIpv4(text: string): Result<Ipv4Octets> {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) {
    return err(`"${text}" is not an IPv4 address`);
  }
  return ok(parts.map(Number) as unknown as Ipv4Octets);
}

/** `a.b.c.d/len`, or a bare address as /32. Host bits must be zero. */
export function parseIpv4Prefix(text: string): Result<Ipv4Prefix> {
  const [address = "", length, ...rest] = text.split("/");
  const parsed = parseIpv4(address);
  if (!parsed.ok) return parsed;
  if (rest.length > 0 || (length !== undefined && !/^(\d|[12]\d|3[0-2])$/.test(length))) {
    return err(`"${text}" is not an IPv4 prefix (a.b.c.d/0..32)`);
  }
  const len = length === undefined ? 32 : Number(length);
  const value = octetsToNumber(parsed.value);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  if ((value & ~mask) >>> 0 !== 0) return err(`"${text}" has host bits set past /${len}`);
  return ok({ octets: parsed.value, length: len });
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
