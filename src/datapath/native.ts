/**
 * The typed face of the libbpf addon (`native/`, built into
 * `build/native/strait_bpf.node` by scripts/build-native.ts). Calls return
 * negative errno values for expected failures; see native/README.md.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { ERROR_CODES, StraitError } from "../errors.ts";

export const REPO_ROOT = join(import.meta.dirname, "../..");
export const ADDON_PATH = join(REPO_ROOT, "build/native/strait_bpf.node");
/** The compiled datapath object (bpf/lxc.c). */
export const LXC_OBJECT_PATH = join(REPO_ROOT, "build/bpf/lxc.o");

export interface NativeMapInfo {
  readonly name: string;
  readonly fd: number;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
}

export interface NativeObject {
  readonly handle: number;
  readonly maps: readonly NativeMapInfo[];
  readonly programs: readonly { readonly name: string; readonly fd: number }[];
}

export interface TestRunResult {
  /** 0, or -errno when the kernel refused the run. */
  readonly error: number;
  readonly retval: number;
  readonly durationNs: number;
  readonly data: Buffer;
  readonly ctx: Buffer | null;
}

export interface BtfStruct {
  readonly size: number;
  readonly members: readonly { readonly name: string; readonly offset: number; readonly size: number }[];
}

/** What a batch op applied: `count` entries, then `error` (0 or -errno) on the next one. See native/bpf_maps.c. */
export interface BatchResult {
  readonly count: number;
  readonly error: number;
}

export interface StraitBpfAddon {
  openObject(path: string, pinRoot: string | null): NativeObject;
  closeObject(handle: number): void;
  progTestRun(fd: number, packet: Buffer, ctx: Buffer | null, repeat: number): TestRunResult;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): number;
  mapLookup(fd: number, key: Buffer, valueBytes: number): Buffer | null;
  mapDelete(fd: number, key: Buffer): number;
  mapUpdateBatch(
    fd: number,
    keys: Buffer,
    values: Buffer,
    keyBytes: number,
    valueBytes: number,
    count: number,
  ): BatchResult;
  mapDeleteBatch(fd: number, keys: Buffer, keyBytes: number, count: number): BatchResult;
  mapKeys(fd: number, keyBytes: number): Buffer;
  objGet(path: string): number;
  closeFd(fd: number): void;
  ringbufOpen(fd: number): number;
  ringbufConsume(handle: number): Buffer[];
  ringbufClose(handle: number): void;
  tcAttach(ifindex: number, ingress: boolean, progFd: number): number;
  tcDetach(ifindex: number, ingress: boolean): number;
  tcQuery(ifindex: number, ingress: boolean): number;
  ifIndex(name: string): number;
  btfStruct(objectPath: string, structName: string): BtfStruct | null;
  isBpffs(path: string): boolean;
  mountBpffs(path: string): number;
  bootTimeNs(): bigint;
  possibleCpus(): number;
  setSockOptInt(fd: number, level: number, name: number, value: number): number;
  connectMarked(ipv4: string, port: number, mark: number, timeoutMs: number): number;
}

let loaded: StraitBpfAddon | undefined;

/** The addon, loaded once; a clear error when it has not been built. */
export function addon(): StraitBpfAddon {
  if (loaded !== undefined) return loaded;
  if (!existsSync(ADDON_PATH)) {
    throw new StraitError(
      ERROR_CODES.KERNEL,
      `the libbpf addon is not built (${ADDON_PATH}); run scripts/setup.sh or node scripts/build-native.ts`,
    );
  }
  loaded = createRequire(import.meta.url)(ADDON_PATH) as StraitBpfAddon;
  return loaded;
}

/** errno names for the values the addon returns, for error messages. */
export const ERRNO = {
  ENOENT: 2,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  E2BIG: 7,
  EPERM: 1,
  EOPNOTSUPP: 95,
  /** The kernel's internal "operation not supported", which batch ops on a map type without them return. */
  ENOTSUPP: 524,
} as const;

export function errnoName(negative: number): string {
  const found = Object.entries(ERRNO).find(([, v]) => v === -negative);
  return found === undefined ? `errno ${-negative}` : found[0];
}
