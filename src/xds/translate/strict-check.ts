/**
 * Strict encoding in translation, part by part when needed: each resource is
 * encoded whole with the codec the xDS cache uses (the encoding is kept, so a
 * valid pass costs one encoding); when it fails, each of its parts (route,
 * virtual host, endpoint, filter chain) is checked on its own and the failing
 * ones are left out (an `Exclusion`), so one object's bad value never
 * withholds a RouteConfiguration or a Listener that other objects share. The
 * resource reassembled from parts that encode encodes: a message whose fields
 * all encode encodes.
 */
import type { ExcludedPart, Exclusion } from "../../model/exclusion.ts";
import type { DataPlaneResource } from "../../model/rejection.ts";
import type { ResourceRef } from "../../model/resource-ref.ts";
import { findType } from "../proto/envoy-protos.ts";
import { encodeResourceOnce } from "../proto/index.ts";
import { encodeJson } from "../proto/json-codec.ts";

/** Envoy message types of the parts. */
export const PART_TYPES = {
  route: "envoy.config.route.v3.Route",
  virtualHost: "envoy.config.route.v3.VirtualHost",
  routeConfiguration: "envoy.config.route.v3.RouteConfiguration",
  endpoint: "envoy.config.endpoint.v3.LbEndpoint",
  clusterLoadAssignment: "envoy.config.endpoint.v3.ClusterLoadAssignment",
  tlsChain: "envoy.config.listener.v3.FilterChain",
  cluster: "envoy.config.cluster.v3.Cluster",
  listener: "envoy.config.listener.v3.Listener",
  secret: "envoy.extensions.transport_sockets.tls.v3.Secret",
} as const;

/**
 * Whether a whole resource encodes. Its encoding is kept (by the JSON object)
 * for the xDS cache, so the common case, everything valid, costs one encoding.
 */
export function resourceEncodes(typeUrl: string, json: object): boolean {
  return encodeResourceOnce(typeUrl, json).bytes !== undefined;
}

/** Undefined when the JSON encodes strictly as the message type, else every issue with its path. */
export function strictProblem(typeName: string, json: unknown): string | undefined {
  const type = findType(typeName);
  if (type === undefined) return `unknown message type ${typeName}`;
  const { bytes, issues } = encodeJson(type, json);
  if (bytes !== undefined) return undefined;
  return (
    issues.map((i) => (i.path === "" ? i.message : `${i.path}: ${i.message}`)).join("; ") || "does not encode"
  );
}

/** Collects the parts left out while one resource is assembled. */
export class PartChecker {
  readonly excluded: Exclusion[] = [];
  /** A route in several virtual hosts (one per hostname) is reported once. */
  readonly #seen = new Set<string>();
  readonly #resource: DataPlaneResource;
  readonly #resourceName: string;

  constructor(resource: DataPlaneResource, resourceName: string) {
    this.#resource = resource;
    this.#resourceName = resourceName;
  }

  /** True when the part encodes; else records it as left out. */
  accept(
    part: ExcludedPart,
    typeName: string,
    name: string,
    json: unknown,
    sources: readonly ResourceRef[],
  ): boolean {
    const problem = strictProblem(typeName, json);
    if (problem === undefined) return true;
    this.exclude(part, name, problem, sources);
    return false;
  }

  /** Records a part as left out (its problem found earlier). */
  exclude(part: ExcludedPart, name: string, message: string, sources: readonly ResourceRef[]): void {
    const key = `${part}\0${name}\0${message}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.excluded.push({
      part,
      name,
      resource: this.#resource,
      resourceName: this.#resourceName,
      message,
      sources,
    });
  }
}
