/**
 * Loading the datapath object (build/bpf/lxc.o) through libbpf: its maps,
 * pinned by name under a root in bpffs so that they outlive the agent (an
 * agent restart reuses them, with every entry and connection in them), and
 * its two tc programs. Also makes sure bpffs is mounted.
 */
import { mkdirSync } from "node:fs";
import { ERROR_CODES, StraitError } from "../errors.ts";
import { addon, type BatchResult, errnoName, LXC_OBJECT_PATH, type NativeMapInfo } from "./native.ts";

/** Where the agent pins its maps. */
export const DEFAULT_PIN_ROOT = "/sys/fs/bpf/strait";
export const BPFFS = "/sys/fs/bpf";

export const MAP_NAMES = [
  "strait_endpoints",
  "strait_ipcache",
  "strait_policy",
  "strait_ct",
  "strait_auth",
  "strait_events",
  "strait_counters",
  "strait_mesh_svc",
  "strait_encrypt",
] as const;
export type MapName = (typeof MAP_NAMES)[number];

/** One BPF map by fd. Writes return 0 or a negative errno: a full map is an expected failure. */
export class BpfMap {
  readonly info: NativeMapInfo;

  constructor(info: NativeMapInfo) {
    this.info = info;
  }

  get name(): string {
    return this.info.name;
  }

  update(key: Buffer, value: Buffer): number {
    return addon().mapUpdate(this.info.fd, key, value, 0);
  }

  lookup(key: Buffer, valueBytes = this.info.valueSize): Buffer | undefined {
    return addon().mapLookup(this.info.fd, key, valueBytes) ?? undefined;
  }

  delete(key: Buffer): number {
    return addon().mapDelete(this.info.fd, key);
  }

  /** Writes `count` entries laid back to back in `keys` and `values` with one syscall (BPF_ANY). */
  updateBatch(keys: Buffer, values: Buffer, count: number): BatchResult {
    return addon().mapUpdateBatch(this.info.fd, keys, values, this.info.keySize, this.info.valueSize, count);
  }

  /** Deletes `count` keys laid back to back in `keys` with one syscall; stops at an absent key (-ENOENT). */
  deleteBatch(keys: Buffer, count: number): BatchResult {
    return addon().mapDeleteBatch(this.info.fd, keys, this.info.keySize, count);
  }

  /** Every key currently in the map. */
  keys(): Buffer[] {
    const all = addon().mapKeys(this.info.fd, this.info.keySize);
    const out: Buffer[] = [];
    for (let o = 0; o < all.length; o += this.info.keySize) out.push(all.subarray(o, o + this.info.keySize));
    return out;
  }
}

export interface DatapathObject {
  readonly maps: Readonly<Record<MapName, BpfMap>>;
  /** fds of the tc programs: from_endpoint (veth ingress) and to_endpoint (veth egress). */
  readonly programs: { readonly fromEndpoint: number; readonly toEndpoint: number };
  /** null when the maps are not pinned (tests). */
  readonly pinRoot: string | null;
  close(): void;
}

/** Mounts bpffs on /sys/fs/bpf when it is not (this machine boots without it). */
export function ensureBpffs(pinRoot: string): void {
  const native = addon();
  if (!native.isBpffs(BPFFS)) {
    mkdirSync(BPFFS, { recursive: true });
    const rc = native.mountBpffs(BPFFS);
    if (rc < 0) throw new StraitError(ERROR_CODES.KERNEL, `cannot mount bpffs on ${BPFFS}: ${errnoName(rc)}`);
  }
  mkdirSync(pinRoot, { recursive: true, mode: 0o700 });
}

/**
 * Opens and loads the datapath object. With a pin root, maps already pinned
 * there are reused (their entries kept), the others are created and pinned.
 */
export function loadDatapathObject(options: {
  readonly pinRoot: string | null;
  readonly objectPath?: string;
}): DatapathObject {
  if (options.pinRoot !== null) ensureBpffs(options.pinRoot);
  const native = addon();
  let loaded: ReturnType<typeof native.openObject>;
  try {
    loaded = native.openObject(options.objectPath ?? LXC_OBJECT_PATH, options.pinRoot);
  } catch (cause) {
    throw new StraitError(ERROR_CODES.KERNEL, "cannot load the datapath object", { cause });
  }
  const maps: Partial<Record<MapName, BpfMap>> = {};
  for (const m of loaded.maps) {
    if ((MAP_NAMES as readonly string[]).includes(m.name)) maps[m.name as MapName] = new BpfMap(m);
  }
  const missing = MAP_NAMES.filter((n) => maps[n] === undefined);
  const from = loaded.programs.find((p) => p.name === "from_endpoint");
  const to = loaded.programs.find((p) => p.name === "to_endpoint");
  if (missing.length > 0 || from === undefined || to === undefined) {
    native.closeObject(loaded.handle);
    throw new StraitError(
      ERROR_CODES.INTERNAL,
      `datapath object lacks ${[...missing, ...(from ? [] : ["from_endpoint"]), ...(to ? [] : ["to_endpoint"])].join(", ")}`,
    );
  }
  return {
    maps: maps as Record<MapName, BpfMap>,
    programs: { fromEndpoint: from.fd, toEndpoint: to.fd },
    pinRoot: options.pinRoot,
    close: () => native.closeObject(loaded.handle),
  };
}
