/**
 * Service addresses in the runner's cluster stand-in, as a cluster has them:
 * the API server's ClusterIP allocator (10.96.0.0/16, a stable address per
 * Service so a run is reproducible) and cluster DNS as a mesh client uses
 * it (`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local` → the
 * ClusterIP; the client's own namespace for a bare name). Pure: no I/O.
 */
import { createHash } from "node:crypto";

/** The Service CIDR (kubeadm's default). */
export const SERVICE_NETWORK = "10.96.0.0/16";
const SERVICE_BASE = (10 << 24) | (96 << 16);
const SERVICE_SIZE = 1 << 16;
/** 10.96.0.0 is the network; 10.96.0.1 is the `kubernetes` Service's in every cluster. */
const FIRST_FREE = 2;

function ipv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/**
 * Allocates ClusterIPs: the first try is a hash of `namespace/name` (the
 * same Service gets the same address in every run whatever the order of the
 * manifests), then the next free address.
 */
export class ClusterIpAllocator {
  readonly #used = new Map<string, string>(); // address → namespace/name

  allocate(namespace: string, name: string): string {
    const key = `${namespace}/${name}`;
    const hash = createHash("sha256").update(key).digest().readUInt32BE(0);
    const span = SERVICE_SIZE - FIRST_FREE - 1; // the broadcast address stays out too
    for (let i = 0; i < span; i++) {
      const address = ipv4(SERVICE_BASE + FIRST_FREE + ((hash + i) % span));
      const owner = this.#used.get(address);
      if (owner === undefined || owner === key) {
        this.#used.set(address, key);
        return address;
      }
    }
    throw new Error(`the Service network ${SERVICE_NETWORK} is full`);
  }

  /** Marks an address given in a manifest (or kept from an earlier version) as taken. */
  reserve(address: string, namespace: string, name: string): void {
    this.#used.set(address, `${namespace}/${name}`);
  }

  release(address: string): void {
    this.#used.delete(address);
  }
}

export interface ServiceAddress {
  readonly namespace: string;
  readonly name: string;
  /** The ClusterIP; undefined for a headless Service (`None`). */
  readonly clusterIP: string | undefined;
}

export type Resolved =
  | { readonly kind: "resolved"; readonly address: string; readonly port: number }
  | { readonly kind: "failed"; readonly reason: string };

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Where a mesh client connects for `host` (`name[:port]`, the check's host):
 * an IPv4 address is itself; a name is looked up as cluster DNS answers a pod
 * in `clientNamespace` (search path `<ns>.svc.cluster.local`, `svc.cluster.local`,
 * `cluster.local`). The port defaults to 80, as an http:// URL's does.
 */
export function resolveServiceHost(
  host: string,
  clientNamespace: string,
  lookup: (namespace: string, name: string) => ServiceAddress | undefined,
): Resolved {
  const m = /^(.*?)(?::(\d+))?$/.exec(host.trim());
  const name = (m?.[1] ?? "").toLowerCase().replace(/\.$/, "");
  const port = m?.[2] === undefined ? 80 : Number(m[2]);
  if (name === "") return { kind: "failed", reason: `no host in "${host}"` };
  if (port < 1 || port > 65535) return { kind: "failed", reason: `bad port in "${host}"` };
  if (IPV4.test(name)) return { kind: "resolved", address: name, port };
  const labels = name.split(".");
  const fqdn = name.endsWith(".svc.cluster.local")
    ? labels.slice(0, -3)
    : name.endsWith(".svc")
      ? labels.slice(0, -1)
      : labels;
  const [service, namespace = clientNamespace, ...rest] = fqdn;
  if (service === undefined || rest.length > 0)
    return { kind: "failed", reason: `${name}: no such host (not a Service name)` };
  const svc = lookup(namespace, service);
  if (svc === undefined) return { kind: "failed", reason: `${name}: no such host` };
  if (svc.clusterIP === undefined)
    return { kind: "failed", reason: `${name}: Service ${namespace}/${service} is headless` };
  return { kind: "resolved", address: svc.clusterIP, port };
}
