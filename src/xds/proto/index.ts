/**
 * Envoy protos and strict encoding: every resource strait serves is proto3
 * JSON built by the translator, checked and encoded here with the real Envoy
 * API definitions before it is published.
 */
import { ERROR_CODES, StraitError } from "../../errors.ts";
import { findType, typeNameOf } from "./envoy-protos.ts";
import { decodeToJson, encodeJson, type ProtoIssue } from "./json-codec.ts";

export {
  type EnvoyTypeUrl,
  envoyRoot,
  findType,
  STRAIT_TYPE_URLS,
  TYPE_URLS,
  typeNameOf,
  typeUrlOf,
} from "./envoy-protos.ts";
export {
  decodeToJson,
  encodeJson,
  formatDuration,
  messageFromJson,
  messageToJson,
  type ProtoIssue,
  parseDuration,
} from "./json-codec.ts";

function typeOrThrow(typeUrl: string) {
  const type = findType(typeNameOf(typeUrl));
  if (type === undefined) throw new StraitError(ERROR_CODES.PROTO, `unknown resource type ${typeUrl}`);
  return type;
}

/** Encodes a resource given as proto3 JSON; issues name each violation with its field path. */
export function encodeResource(
  typeUrl: string,
  json: unknown,
): { bytes?: Uint8Array; issues: readonly ProtoIssue[] } {
  return encodeJson(typeOrThrow(typeUrl), json);
}

/** Encodings by JSON object: translation checks a resource and the xDS cache encodes it, one encoding for both. */
const encoded = new WeakMap<object, { bytes?: Uint8Array; issues: readonly ProtoIssue[] }>();

/**
 * encodeResource, memoized by the JSON object (resources are immutable once
 * built; a translator that reuses an object reuses its encoding).
 */
export function encodeResourceOnce(
  typeUrl: string,
  json: object,
): { bytes?: Uint8Array; issues: readonly ProtoIssue[] } {
  let result = encoded.get(json);
  if (result === undefined) {
    result = encodeResource(typeUrl, json);
    encoded.set(json, result);
  }
  return result;
}

/** Checks a resource without keeping the bytes. */
export function validateResource(typeUrl: string, json: unknown): readonly ProtoIssue[] {
  return encodeResource(typeUrl, json).issues;
}

/** Decodes wire bytes of a resource to proto3 JSON (what Envoy would see). */
export function decodeResource(typeUrl: string, bytes: Uint8Array): unknown {
  return decodeToJson(typeOrThrow(typeUrl), bytes);
}

/** Encodes or throws with every issue: for resources that must be valid (a translator bug otherwise). */
export function encodeResourceOrThrow(typeUrl: string, json: unknown, name: string): Uint8Array {
  const { bytes, issues } = encodeResource(typeUrl, json);
  if (bytes === undefined) {
    const detail = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
    throw new StraitError(ERROR_CODES.PROTO, `${typeNameOf(typeUrl)} ${name} is invalid: ${detail}`);
  }
  return bytes;
}
