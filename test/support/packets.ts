/**
 * Crafted Ethernet + IPv4 + TCP/UDP frames for BPF_PROG_TEST_RUN, and the
 * __sk_buff context that goes with them (offsets read from the object's BTF).
 */
import { addon, LXC_OBJECT_PATH } from "../../src/datapath/native.ts";

export const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

export interface FrameSpec {
  readonly src: string;
  readonly dst: string;
  readonly protocol: "tcp" | "udp" | "icmp";
  readonly sport?: number;
  readonly dport?: number;
  readonly flags?: number;
  /** IP fragment offset field (flags + offset), for fragment tests. */
  readonly fragOff?: number;
}

function ipBytes(ip: string): number[] {
  return ip.split(".").map(Number);
}

export function frame(spec: FrameSpec): Buffer {
  const l4Len = spec.protocol === "tcp" ? 20 : 8;
  const b = Buffer.alloc(14 + 20 + l4Len + 4);
  b.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1], 0); // dst, src MAC
  b.writeUInt16BE(0x0800, 12);
  const ip = 14;
  b[ip] = 0x45;
  b.writeUInt16BE(b.length - 14, ip + 2);
  b.writeUInt16BE(spec.fragOff ?? 0x4000, ip + 6); // DF by default
  b[ip + 8] = 64;
  b[ip + 9] = spec.protocol === "tcp" ? 6 : spec.protocol === "udp" ? 17 : 1;
  b.set(ipBytes(spec.src), ip + 12);
  b.set(ipBytes(spec.dst), ip + 16);
  const l4 = ip + 20;
  if (spec.protocol === "icmp") {
    b[l4] = 8; // echo request
    return b;
  }
  b.writeUInt16BE(spec.sport ?? 40000, l4);
  b.writeUInt16BE(spec.dport ?? 80, l4 + 2);
  if (spec.protocol === "tcp") {
    b[l4 + 12] = 5 << 4;
    b[l4 + 13] = spec.flags ?? TCP.SYN;
    b.writeUInt16BE(65535, l4 + 14);
  } else {
    b.writeUInt16BE(l4Len + 4, l4 + 4);
  }
  return b;
}

let skbLayout: { size: number; mark: number; ifindex: number } | undefined;

function layout() {
  if (skbLayout !== undefined) return skbLayout;
  const s = addon().btfStruct(LXC_OBJECT_PATH, "__sk_buff");
  const at = (n: string) => s?.members.find((m) => m.name === n)?.offset;
  const mark = at("mark");
  const ifindex = at("ifindex");
  if (s === null || mark === undefined || ifindex === undefined) throw new Error("__sk_buff not in BTF");
  skbLayout = { size: s.size, mark, ifindex };
  return skbLayout;
}

/** A __sk_buff for the test run: the interface (1 = lo, the only one a test run may name freely) and the mark. */
export function skbContext(options: { readonly ifindex?: number; readonly mark?: number } = {}): Buffer {
  const l = layout();
  const ctx = Buffer.alloc(l.size);
  ctx.writeUInt32LE(options.ifindex ?? 1, l.ifindex);
  ctx.writeUInt32LE(options.mark ?? 0, l.mark);
  return ctx;
}

export function markOf(ctx: Buffer | null): number {
  if (ctx === null) throw new Error("no ctx out");
  return ctx.readUInt32LE(layout().mark);
}
