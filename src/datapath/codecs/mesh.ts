/**
 * Codec of the mesh services map (GAMMA): mirrors `struct mesh_svc_key` and
 * `struct mesh_svc_info` (bpf/lib/mesh.h).
 */
import type { MeshService } from "../../model/mesh-service.ts";
import { mustParseIpv4, readIpv4, writeIpv4 } from "../../net/ipv4.ts";
import { layout, offsetOf } from "./layout.ts";
import { IPPROTO } from "./policy.ts";

export const MESH_SVC_KEY = layout("mesh_svc_key", [
  ["addr", 4],
  ["dport", 2],
  ["protocol", 1],
  ["pad", 1],
]);
export const MESH_SVC_INFO = layout("mesh_svc_info", [
  ["proxy_port", 2],
  ["pad", 2],
]);

export interface MeshSvcKey {
  /** The Service's ClusterIP. */
  readonly address: string;
  /** Host order. */
  readonly port: number;
  /** IPPROTO_*. */
  readonly protocol: number;
}

export function encodeMeshSvcKey(k: MeshSvcKey): Buffer {
  const b = Buffer.alloc(MESH_SVC_KEY.size);
  writeIpv4(b, offsetOf(MESH_SVC_KEY, "addr"), mustParseIpv4(k.address));
  b.writeUInt16BE(k.port, offsetOf(MESH_SVC_KEY, "dport")); // network order, as the packet carries it
  b.writeUInt8(k.protocol, offsetOf(MESH_SVC_KEY, "protocol"));
  return b;
}

export function decodeMeshSvcKey(b: Buffer): MeshSvcKey {
  return {
    address: readIpv4(b, offsetOf(MESH_SVC_KEY, "addr")),
    port: b.readUInt16BE(offsetOf(MESH_SVC_KEY, "dport")),
    protocol: b.readUInt8(offsetOf(MESH_SVC_KEY, "protocol")),
  };
}

/** The proxy port in host order (the datapath turns it into the TPROXY mark). */
export function encodeMeshSvcInfo(proxyPort: number): Buffer {
  const b = Buffer.alloc(MESH_SVC_INFO.size);
  b.writeUInt16LE(proxyPort, offsetOf(MESH_SVC_INFO, "proxy_port"));
  return b;
}

export function decodeMeshSvcInfo(b: Buffer): number {
  return b.readUInt16LE(offsetOf(MESH_SVC_INFO, "proxy_port"));
}

/** The map key of a model mesh service. */
export function meshSvcKeyOf(m: MeshService): MeshSvcKey {
  return { address: m.address, port: m.port, protocol: IPPROTO[m.protocol] };
}
