/**
 * The xDS resource types strait serves and how the protocol treats each:
 * whether a client may subscribe to "*" (wildcard, and the legacy empty
 * subscription), and whether a state-of-the-world response must carry every
 * subscribed resource (LDS and CDS) or only the changed ones (the others).
 * Rows are in push order ("make before break", TYPE_ORDER): what a resource
 * refers to reaches the client before the resource that refers to it.
 */
import { ERROR_CODES, StraitError } from "../../errors.ts";
import { TYPE_URLS, typeNameOf } from "../proto/envoy-protos.ts";
import { TYPE_ORDER } from "../translate/resource-set.ts";

export interface XdsTypeInfo {
  readonly typeUrl: string;
  /** Short name for logs and `strait proxy-status`: LDS, RDS, CDS, EDS, SDS. */
  readonly short: string;
  /** "*" and, as the first request, an empty subscription mean "everything for this node". */
  readonly wildcard: boolean;
  /** SotW responses carry every subscribed resource; absence means removal. */
  readonly fullStateInSotw: boolean;
  /** False for type URLs strait has no resources of: served as an empty type. */
  readonly known: boolean;
}

const ROWS: Readonly<Record<string, Omit<XdsTypeInfo, "typeUrl" | "known">>> = {
  [TYPE_URLS.secret]: { short: "SDS", wildcard: false, fullStateInSotw: false },
  [TYPE_URLS.cluster]: { short: "CDS", wildcard: true, fullStateInSotw: true },
  [TYPE_URLS.clusterLoadAssignment]: { short: "EDS", wildcard: false, fullStateInSotw: false },
  [TYPE_URLS.listener]: { short: "LDS", wildcard: true, fullStateInSotw: true },
  [TYPE_URLS.routeConfiguration]: { short: "RDS", wildcard: false, fullStateInSotw: false },
};

export const XDS_TYPES: readonly XdsTypeInfo[] = TYPE_ORDER.map((typeUrl) => {
  const row = ROWS[typeUrl];
  if (row === undefined) throw new StraitError(ERROR_CODES.INTERNAL, `resource-types: no row for ${typeUrl}`);
  return { typeUrl, known: true, ...row };
});

const BY_URL = new Map(XDS_TYPES.map((t) => [t.typeUrl, t]));

/** Push position of a type: known types in TYPE_ORDER, then the others (agent types later) by name. */
export function pushRank(typeUrl: string): number {
  const index = XDS_TYPES.findIndex((t) => t.typeUrl === typeUrl);
  return index < 0 ? XDS_TYPES.length : index;
}

export function typeInfo(typeUrl: string): XdsTypeInfo {
  return (
    BY_URL.get(typeUrl) ?? {
      typeUrl,
      short: typeNameOf(typeUrl),
      wildcard: false,
      fullStateInSotw: false,
      known: false,
    }
  );
}
