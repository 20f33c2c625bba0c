/**
 * Requests of the two ADS methods, decoded with the real Envoy protos into
 * plain readonly values. Decoding never throws: a message that is not a valid
 * DiscoveryRequest (or DeltaDiscoveryRequest), or whose type URL or names are
 * unreasonable, becomes an error value and the stream ends with
 * INVALID_ARGUMENT, without affecting any other stream.
 */
import type protobuf from "protobufjs";
import { ERROR_CODES, messageOf, StraitError } from "../../errors.ts";
import { type NodeInfo, UNKNOWN_NODE } from "../cache/node.ts";
import { findType, messageToJson } from "../proto/index.ts";

export interface ErrorDetail {
  readonly code: number;
  readonly message: string;
}

/** envoy.service.discovery.v3.DiscoveryRequest (state of the world). */
export interface SotwRequest {
  readonly versionInfo: string;
  readonly node: NodeInfo | undefined;
  readonly resourceNames: readonly string[];
  readonly typeUrl: string;
  readonly responseNonce: string;
  /** Present on a NACK. */
  readonly errorDetail: ErrorDetail | undefined;
}

/** envoy.service.discovery.v3.DeltaDiscoveryRequest (incremental). */
export interface DeltaRequest {
  readonly node: NodeInfo | undefined;
  readonly typeUrl: string;
  readonly subscribe: readonly string[];
  readonly unsubscribe: readonly string[];
  readonly initialVersions: ReadonlyMap<string, string>;
  readonly responseNonce: string;
  readonly errorDetail: ErrorDetail | undefined;
}

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string };

/** Longest resource name accepted: xdstp:// names are long, but not this long. */
export const MAX_NAME_LENGTH = 4096;
const TYPE_URL =
  /^[A-Za-z0-9.-]+(?:\/[A-Za-z0-9._-]+)*\/[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$/;

function messageType(name: string): protobuf.Type {
  const type = findType(name);
  if (type === undefined) throw new StraitError(ERROR_CODES.INTERNAL, `Envoy protos lack ${name}`);
  return type;
}

/** Looked up on first use: loading the Envoy protos takes a moment, and not every command needs them. */
let types: { sotw: protobuf.Type; delta: protobuf.Type; struct: protobuf.Type } | undefined;
function requestTypes() {
  types ??= {
    sotw: messageType("envoy.service.discovery.v3.DiscoveryRequest"),
    delta: messageType("envoy.service.discovery.v3.DeltaDiscoveryRequest"),
    struct: messageType("google.protobuf.Struct"),
  };
  return types;
}

interface NodeMessage {
  id?: string;
  cluster?: string;
  metadata?: protobuf.Message | null;
  user_agent_name?: string;
  user_agent_version?: string;
}

interface StatusMessage {
  code?: number;
  message?: string;
}

function nodeOf(message: NodeMessage | null | undefined): NodeInfo | undefined {
  if (message === null || message === undefined) return undefined;
  const metadata =
    message.metadata === null || message.metadata === undefined
      ? {}
      : (messageToJson(requestTypes().struct, message.metadata) as Record<string, unknown>);
  const agent = [message.user_agent_name ?? "", message.user_agent_version ?? ""].filter((s) => s !== "");
  return {
    ...UNKNOWN_NODE,
    id: message.id ?? "",
    cluster: message.cluster ?? "",
    metadata,
    userAgent: agent.join(" "),
  };
}

function errorDetailOf(message: StatusMessage | null | undefined): ErrorDetail | undefined {
  if (message === null || message === undefined) return undefined;
  return { code: message.code ?? 0, message: message.message ?? "" };
}

/** Checks what a client controls before it reaches any state; undefined when fine. */
function problem(typeUrl: string, names: readonly string[]): string | undefined {
  if (typeUrl === "") return "type_url is empty (ADS needs it on every request)";
  if (typeUrl.length > 512 || !TYPE_URL.test(typeUrl))
    return `type_url "${typeUrl.slice(0, 100)}" is not a type URL`;
  const long = names.find((n) => n.length > MAX_NAME_LENGTH);
  if (long !== undefined) return `resource name of ${long.length} characters (at most ${MAX_NAME_LENGTH})`;
  return undefined;
}

export function decodeSotwRequest(bytes: Uint8Array): Decoded<SotwRequest> {
  try {
    const m = requestTypes().sotw.decode(bytes) as unknown as {
      version_info?: string;
      node?: NodeMessage | null;
      resource_names?: string[];
      type_url?: string;
      response_nonce?: string;
      error_detail?: StatusMessage | null;
    };
    const value: SotwRequest = {
      versionInfo: m.version_info ?? "",
      node: nodeOf(m.node),
      resourceNames: m.resource_names ?? [],
      typeUrl: m.type_url ?? "",
      responseNonce: m.response_nonce ?? "",
      errorDetail: errorDetailOf(m.error_detail),
    };
    const error = problem(value.typeUrl, value.resourceNames);
    return error === undefined ? { ok: true, value } : { ok: false, error };
  } catch (cause) {
    return { ok: false, error: `not a DiscoveryRequest: ${messageOf(cause)}` };
  }
}

export function decodeDeltaRequest(bytes: Uint8Array): Decoded<DeltaRequest> {
  try {
    const m = requestTypes().delta.decode(bytes) as unknown as {
      node?: NodeMessage | null;
      type_url?: string;
      resource_names_subscribe?: string[];
      resource_names_unsubscribe?: string[];
      initial_resource_versions?: Record<string, string>;
      response_nonce?: string;
      error_detail?: StatusMessage | null;
    };
    const value: DeltaRequest = {
      node: nodeOf(m.node),
      typeUrl: m.type_url ?? "",
      subscribe: m.resource_names_subscribe ?? [],
      unsubscribe: m.resource_names_unsubscribe ?? [],
      initialVersions: new Map(Object.entries(m.initial_resource_versions ?? {})),
      responseNonce: m.response_nonce ?? "",
      errorDetail: errorDetailOf(m.error_detail),
    };
    const error = problem(value.typeUrl, [
      ...value.subscribe,
      ...value.unsubscribe,
      ...value.initialVersions.keys(),
    ]);
    return error === undefined ? { ok: true, value } : { ok: false, error };
  } catch (cause) {
    return { ok: false, error: `not a DeltaDiscoveryRequest: ${messageOf(cause)}` };
  }
}
