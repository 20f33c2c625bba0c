/**
 * Gateway addresses. Every node's Envoy serves all Gateways, so each Gateway
 * gets an address of its own from the pool the infrastructure gives (a
 * setting: node or load-balancer addresses in a cluster, loopback addresses
 * standalone), and its listeners bind to that address.
 *
 * Allocation is stable: a Gateway keeps the address it was given before (an
 * input of the stage, kept by the controller; never read back from status)
 * while that address stays in the pool and free; otherwise it gets the first free
 * address at a slot derived from its name, so unrelated Gateways coming and
 * going do not move it. Static `spec.addresses` are honoured when they are IP
 * addresses inside the pool.
 */
import { createHash } from "node:crypto";

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(text: string): boolean {
  return IPV4.test(text);
}

export interface AddressPool {
  readonly ranges: readonly { readonly start: number; readonly size: number }[];
  readonly size: number;
}

function ipToInt(ip: string): number {
  return ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** Parses `10.0.0.0/24`, `10.0.0.7` and `10.0.0.10-10.0.0.20` entries. Invalid entries are returned as errors. */
export function parseAddressPool(entries: readonly string[]): { pool: AddressPool; errors: string[] } {
  const ranges: { start: number; size: number }[] = [];
  const errors: string[] = [];
  for (const entry of entries) {
    const cidr = /^([\d.]+)\/(\d{1,2})$/.exec(entry);
    const range = /^([\d.]+)-([\d.]+)$/.exec(entry);
    if (cidr !== null && isIPv4(cidr[1] ?? "") && Number(cidr[2]) <= 32) {
      const bits = Number(cidr[2]);
      const size = 2 ** (32 - bits);
      const base = Math.floor(ipToInt(cidr[1] ?? "") / size) * size;
      // Skip network and broadcast addresses of real subnets.
      ranges.push(size >= 4 ? { start: base + 1, size: size - 2 } : { start: base, size });
    } else if (
      range !== null &&
      isIPv4(range[1] ?? "") &&
      isIPv4(range[2] ?? "") &&
      ipToInt(range[2] ?? "") >= ipToInt(range[1] ?? "")
    ) {
      ranges.push({
        start: ipToInt(range[1] ?? ""),
        size: ipToInt(range[2] ?? "") - ipToInt(range[1] ?? "") + 1,
      });
    } else if (isIPv4(entry)) {
      ranges.push({ start: ipToInt(entry), size: 1 });
    } else {
      errors.push(`"${entry}" is not an IPv4 address, range or CIDR`);
    }
  }
  return { pool: { ranges, size: ranges.reduce((n, r) => n + r.size, 0) }, errors };
}

export function poolContains(pool: AddressPool, ip: string): boolean {
  if (!isIPv4(ip)) return false;
  const n = ipToInt(ip);
  return pool.ranges.some((r) => n >= r.start && n < r.start + r.size);
}

function addressAt(pool: AddressPool, index: number): string {
  let i = index;
  for (const r of pool.ranges) {
    if (i < r.size) return intToIp(r.start + i);
    i -= r.size;
  }
  throw new Error("address index out of pool");
}

/** Allocates stable addresses; `taken` is updated. Returns undefined when the pool is exhausted. */
export function allocateAddress(
  pool: AddressPool,
  key: string,
  previous: string | undefined,
  taken: Set<string>,
): string | undefined {
  if (previous !== undefined && poolContains(pool, previous) && !taken.has(previous)) {
    taken.add(previous);
    return previous;
  }
  if (pool.size === 0) return undefined;
  const slot = createHash("sha256").update(key).digest().readUInt32BE(0) % pool.size;
  for (let probe = 0; probe < pool.size; probe++) {
    const candidate = addressAt(pool, (slot + probe) % pool.size);
    if (!taken.has(candidate)) {
      taken.add(candidate);
      return candidate;
    }
  }
  return undefined;
}
