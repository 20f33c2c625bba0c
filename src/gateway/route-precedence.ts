/**
 * The Gateway API's precedence among matches of all routes sharing a host:
 *
 *   1. an Exact path, then a RegularExpression path, then a PathPrefix, and
 *      among prefixes the longest first (the order of regular expressions
 *      relative to the others is implementation-specific; strait puts them
 *      between exact paths and prefixes, as Envoy Gateway does);
 *   2. a method match before none;
 *   3. more header matches first;
 *   4. more query parameter matches first;
 *   5. then the oldest route, then the route's namespace/name alphabetically,
 *      then rule order, then match order within the rule.
 *
 * GRPCRoute rules have their own order (GRPCRoute `rules`): the most
 * characters in the matching service, then in the method, then more header
 * matches, then the same tie-breaks (oldest route, `namespace/name`, rule and
 * match order). GRPCRoutes and HTTPRoutes never share a virtual host, so the
 * two orders never meet.
 *
 * Envoy evaluates routes in order and takes the first match, so sorting by
 * this comparator yields the spec's behaviour.
 */
import type { RouteMatch } from "../model/gateway.ts";

export interface RankedMatch {
  readonly match: RouteMatch;
  readonly creationTimestamp: string;
  readonly namespace: string;
  readonly name: string;
  readonly ruleIndex: number;
  readonly matchIndex: number;
  /** For a GRPCRoute match: the characters of its service and method (0 when absent). */
  readonly grpc?: GrpcMethodRank;
}

export interface GrpcMethodRank {
  readonly service: number;
  readonly method: number;
}

const PATH_RANK: Readonly<Record<RouteMatch["path"]["type"], number>> = {
  Exact: 0,
  RegularExpression: 1,
  PathPrefix: 2,
};

export function comparePrecedence(a: RankedMatch, b: RankedMatch): number {
  if (a.grpc !== undefined && b.grpc !== undefined) {
    if (a.grpc.service !== b.grpc.service) return b.grpc.service - a.grpc.service;
    if (a.grpc.method !== b.grpc.method) return b.grpc.method - a.grpc.method;
    if (a.match.headers.length !== b.match.headers.length)
      return b.match.headers.length - a.match.headers.length;
    return compareTieBreaks(a, b);
  }
  const pa = PATH_RANK[a.match.path.type];
  const pb = PATH_RANK[b.match.path.type];
  if (pa !== pb) return pa - pb;
  if (a.match.path.type !== "Exact" && a.match.path.value.length !== b.match.path.value.length) {
    return b.match.path.value.length - a.match.path.value.length;
  }
  const ma = a.match.method === undefined ? 0 : 1;
  const mb = b.match.method === undefined ? 0 : 1;
  if (ma !== mb) return mb - ma;
  if (a.match.headers.length !== b.match.headers.length)
    return b.match.headers.length - a.match.headers.length;
  if (a.match.queryParams.length !== b.match.queryParams.length)
    return b.match.queryParams.length - a.match.queryParams.length;
  return compareTieBreaks(a, b);
}

/** Oldest route first, then `namespace/name`, then rule order, then match order. */
function compareTieBreaks(a: RankedMatch, b: RankedMatch): number {
  if (a.creationTimestamp !== b.creationTimestamp) {
    // An object without a timestamp (standalone manifests) sorts after timestamped ones.
    if (a.creationTimestamp === "") return 1;
    if (b.creationTimestamp === "") return -1;
    return a.creationTimestamp < b.creationTimestamp ? -1 : 1;
  }
  const ka = `${a.namespace}/${a.name}`;
  const kb = `${b.namespace}/${b.name}`;
  if (ka !== kb) return ka < kb ? -1 : 1;
  if (a.ruleIndex !== b.ruleIndex) return a.ruleIndex - b.ruleIndex;
  return a.matchIndex - b.matchIndex;
}
