/**
 * DiscoveryResponse and DeltaDiscoveryResponse bytes, assembled from resources
 * that are already encoded. A response to a thousand clients is mostly the
 * same resources: each resource's Any (and delta Resource) is built once and
 * shared, and a full wildcard response's resources are joined once per
 * snapshot, so a push costs one concatenation per client. Field numbers are
 * read from the Envoy protos, not written down here.
 */
import type protobuf from "protobufjs";
import { ERROR_CODES, StraitError } from "../../errors.ts";
import type { ResourceEntry, TypeSnapshot } from "../cache/type-snapshot.ts";
import { findType } from "../proto/index.ts";

function fieldNumbers<const N extends string>(typeName: string, names: readonly N[]): Record<N, number> {
  const type: protobuf.Type | undefined = findType(typeName);
  const out = {} as Record<N, number>;
  for (const name of names) {
    const field = type?.fields[name];
    if (field === undefined)
      throw new StraitError(ERROR_CODES.INTERNAL, `Envoy protos lack ${typeName}.${name}`);
    out[name] = field.id;
  }
  return out;
}

/** Field numbers, read from the protos on first use. */
let numbers:
  | {
      any: Record<"type_url" | "value", number>;
      response: Record<"version_info" | "resources" | "type_url" | "nonce", number>;
      delta: Record<"system_version_info" | "resources" | "type_url" | "removed_resources" | "nonce", number>;
      resource: Record<"name" | "version" | "resource", number>;
    }
  | undefined;

function fields() {
  numbers ??= {
    any: fieldNumbers("google.protobuf.Any", ["type_url", "value"]),
    response: fieldNumbers("envoy.service.discovery.v3.DiscoveryResponse", [
      "version_info",
      "resources",
      "type_url",
      "nonce",
    ]),
    delta: fieldNumbers("envoy.service.discovery.v3.DeltaDiscoveryResponse", [
      "system_version_info",
      "resources",
      "type_url",
      "removed_resources",
      "nonce",
    ]),
    resource: fieldNumbers("envoy.service.discovery.v3.Resource", ["name", "version", "resource"]),
  };
  return numbers;
}

const LENGTH_DELIMITED = 2;

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

function field(number: number, payload: Uint8Array): Buffer {
  return Buffer.concat([varint((number << 3) | LENGTH_DELIMITED), varint(payload.length), payload]);
}

function stringField(number: number, text: string): Buffer {
  return field(number, Buffer.from(text, "utf8"));
}

function anyOf(typeUrl: string, entry: ResourceEntry): Buffer {
  return Buffer.concat([stringField(fields().any.type_url, typeUrl), field(fields().any.value, entry.bytes)]);
}

const sotwFields = new WeakMap<ResourceEntry, Buffer>();
const deltaFields = new WeakMap<ResourceEntry, Buffer>();
const joinedWildcard = new WeakMap<TypeSnapshot, Buffer>();

/** `resources` field (an Any) of a DiscoveryResponse, built once per resource. */
function sotwResourceField(typeUrl: string, entry: ResourceEntry): Buffer {
  let bytes = sotwFields.get(entry);
  if (bytes === undefined) {
    bytes = field(fields().response.resources, anyOf(typeUrl, entry));
    sotwFields.set(entry, bytes);
  }
  return bytes;
}

/** `resources` field (a Resource: name, version, Any) of a DeltaDiscoveryResponse, built once per resource. */
function deltaResourceField(typeUrl: string, entry: ResourceEntry): Buffer {
  let bytes = deltaFields.get(entry);
  if (bytes === undefined) {
    const { resource: r, delta } = fields();
    const resource = Buffer.concat([
      stringField(r.name, entry.name),
      stringField(r.version, entry.version),
      field(r.resource, anyOf(typeUrl, entry)),
    ]);
    bytes = field(delta.resources, resource);
    deltaFields.set(entry, bytes);
  }
  return bytes;
}

export interface SotwResponse {
  readonly versionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly ResourceEntry[];
  /** When `resources` is exactly this snapshot's wildcard set: its joined bytes are reused. */
  readonly wildcardOf?: TypeSnapshot;
}

export function encodeSotwResponse(response: SotwResponse): Buffer {
  const { typeUrl } = response;
  let body: Buffer[];
  if (response.wildcardOf !== undefined) {
    const snapshot = response.wildcardOf;
    let joined = joinedWildcard.get(snapshot);
    if (joined === undefined) {
      joined = Buffer.concat(snapshot.wildcardEntries().map((e) => sotwResourceField(typeUrl, e)));
      joinedWildcard.set(snapshot, joined);
    }
    body = [joined];
  } else body = response.resources.map((e) => sotwResourceField(typeUrl, e));
  const f = fields().response;
  // One allocation for the whole response.
  return Buffer.concat([
    stringField(f.version_info, response.versionInfo),
    ...body,
    stringField(f.type_url, typeUrl),
    stringField(f.nonce, response.nonce),
  ]);
}

export interface DeltaResponse {
  readonly systemVersionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly ResourceEntry[];
  readonly removed: readonly string[];
}

export function encodeDeltaResponse(response: DeltaResponse): Buffer {
  const { typeUrl } = response;
  const f = fields().delta;
  return Buffer.concat([
    stringField(f.system_version_info, response.systemVersionInfo),
    ...response.resources.map((e) => deltaResourceField(typeUrl, e)),
    stringField(f.type_url, typeUrl),
    ...response.removed.map((name) => stringField(f.removed_resources, name)),
    stringField(f.nonce, response.nonce),
  ]);
}
