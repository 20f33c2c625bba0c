/**
 * The xDS resource types strait serves and how the protocol treats each:
 * whether a client may subscribe to "*" (wildcard, and the legacy empty
 * subscription), and whether a state-of-the-world response must carry every
 * subscribed resource (LDS and CDS) or only the changed ones (the others).
 * Rows are in push order ("make before break", TYPE_ORDER): what a resource
 * refers to reaches the client before the resource that refers to it.
 */
import { ERROR_CODES, StraitError } from "../../errors.ts";
import { STRAIT_TYPE_URLS, TYPE_URLS, typeNameOf } from "../proto/envoy-protos.ts";
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
  // The agent's types (strait/v1/agent.proto). Each node's agent subscribes to all of its node's
  // resources (wildcard), and a SotW response carries them all, as LDS/CDS do, so a missing one is
  // a removal. Order: identities and their prefixes before the policies that name them.
  [STRAIT_TYPE_URLS.identity]: { short: "IDS", wildcard: true, fullStateInSotw: true },
  [STRAIT_TYPE_URLS.identityHosts]: { short: "IPC", wildcard: true, fullStateInSotw: true },
  [STRAIT_TYPE_URLS.authSettings]: { short: "AUTH", wildcard: true, fullStateInSotw: true },
  [STRAIT_TYPE_URLS.endpointPolicy]: { short: "EPS", wildcard: true, fullStateInSotw: true },
  [STRAIT_TYPE_URLS.meshService]: { short: "MSVC", wildcard: true, fullStateInSotw: true },
  [STRAIT_TYPE_URLS.encryptPolicy]: { short: "ENC", wildcard: true, fullStateInSotw: true },
};

/** Push order of the agent's types, after the Envoy ones. */
export const AGENT_TYPE_ORDER: readonly string[] = [
  STRAIT_TYPE_URLS.identity,
  STRAIT_TYPE_URLS.identityHosts,
  STRAIT_TYPE_URLS.authSettings,
  STRAIT_TYPE_URLS.endpointPolicy,
  STRAIT_TYPE_URLS.meshService,
  STRAIT_TYPE_URLS.encryptPolicy,
];

export const XDS_TYPES: readonly XdsTypeInfo[] = [...TYPE_ORDER, ...AGENT_TYPE_ORDER].map((typeUrl) => {
  const row = ROWS[typeUrl];
  if (row === undefined) throw new StraitError(ERROR_CODES.INTERNAL, `resource-types: no row for ${typeUrl}`);
  return { typeUrl, known: true, ...row };
});

const BY_URL = new Map(XDS_TYPES.map((t) => [t.typeUrl, t]));

/** Push position of a type: Envoy types in TYPE_ORDER, then the agent's, then unknown ones by name. */
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
