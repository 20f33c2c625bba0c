/**
 * The simulator stage: evaluates requests against one node's Envoy
 * configuration exactly as Envoy would, on the resources as Envoy receives
 * them (after protobuf encoding and decoding). Pure.
 */
import { decodeResource, encodeResource, type ProtoIssue } from "../proto/index.ts";
import {
  type EnvoyResourceJson,
  type EnvoyResourceSet,
  emptyResourceSet,
} from "../translate/resource-set.ts";
import { indexNodeConfig, type NodeConfig } from "./node-config.ts";

export { indexNodeConfig, type NodeConfig } from "./node-config.ts";
export { parseHeader, parseRequestLine } from "./request.ts";
export { finalizeResponse, simulate } from "./simulate.ts";
export type * from "./types.ts";
export { verifyServerCertificate } from "./upstream.ts";

/**
 * Round-trips every resource through the real Envoy protos and indexes the
 * result; resources that fail encoding are reported, not simulated.
 */
export function prepareNodeConfig(resources: EnvoyResourceSet): {
  config: NodeConfig;
  issues: readonly { name: string; issues: readonly ProtoIssue[] }[];
} {
  const decoded = emptyResourceSet();
  const problems: { name: string; issues: readonly ProtoIssue[] }[] = [];
  for (const [typeUrl, byName] of Object.entries(resources)) {
    for (const [name, json] of byName as ReadonlyMap<string, EnvoyResourceJson>) {
      const { bytes, issues } = encodeResource(typeUrl, json);
      if (bytes === undefined) {
        problems.push({ name, issues });
        continue;
      }
      (decoded[typeUrl as keyof typeof decoded] as Map<string, EnvoyResourceJson>).set(
        name,
        decodeResource(typeUrl, bytes) as EnvoyResourceJson,
      );
    }
  }
  return { config: indexNodeConfig(decoded), issues: problems };
}
