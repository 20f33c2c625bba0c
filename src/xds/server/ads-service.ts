/**
 * The gRPC service definitions of envoy.service.discovery.v3.AggregatedDiscoveryService
 * and of envoy.service.secret.v3.SecretDiscoveryService (the same streams for
 * one type: what an Envoy uses for an SDS config source that is not ADS, as
 * the agent's SDS for its node's Envoy is), read from the Envoy protos
 * (method paths and streaming flags). Requests are
 * decoded into values that cannot throw (see requests.ts); responses are the
 * bytes wire.ts assembles, so serialization is the identity.
 */
import type { ServiceDefinition } from "@grpc/grpc-js";
import { ERROR_CODES, StraitError } from "../../errors.ts";
import { envoyRoot } from "../proto/index.ts";
import {
  type Decoded,
  type DeltaRequest,
  decodeDeltaRequest,
  decodeSotwRequest,
  type SotwRequest,
} from "./requests.ts";

export const ADS_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService";

export interface AdsMethods {
  readonly StreamAggregatedResources: Decoded<SotwRequest>;
  readonly DeltaAggregatedResources: Decoded<DeltaRequest>;
}

export const SDS_SERVICE = "envoy.service.secret.v3.SecretDiscoveryService";

export interface SdsMethods {
  readonly StreamSecrets: Decoded<SotwRequest>;
  readonly DeltaSecrets: Decoded<DeltaRequest>;
}

type Decoder = (bytes: Buffer) => unknown;

function streamsDefinition(
  serviceName: string,
  decoders: Readonly<Record<string, Decoder>>,
): ServiceDefinition {
  const service = envoyRoot().lookupService(serviceName);
  const definition: Record<string, ServiceDefinition[string]> = {};
  for (const [name, decode] of Object.entries(decoders)) {
    const method = service.methods[name];
    if (method === undefined || method.requestStream !== true || method.responseStream !== true) {
      throw new StraitError(
        ERROR_CODES.INTERNAL,
        `${serviceName}.${name} is not a bidirectional stream in the protos`,
      );
    }
    definition[name] = {
      path: `/${serviceName}/${name}`,
      requestStream: true,
      responseStream: true,
      requestSerialize: (value: Buffer) => value,
      requestDeserialize: (bytes: Buffer) => decode(bytes),
      responseSerialize: (value: Buffer) => value,
      responseDeserialize: (bytes: Buffer) => bytes,
      originalName: name,
    };
  }
  return definition;
}

export function adsServiceDefinition(): ServiceDefinition {
  return streamsDefinition(ADS_SERVICE, {
    StreamAggregatedResources: decodeSotwRequest,
    DeltaAggregatedResources: decodeDeltaRequest,
  });
}

export function sdsServiceDefinition(): ServiceDefinition {
  return streamsDefinition(SDS_SERVICE, {
    StreamSecrets: decodeSotwRequest,
    DeltaSecrets: decodeDeltaRequest,
  });
}
