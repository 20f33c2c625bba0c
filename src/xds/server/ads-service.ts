/**
 * The gRPC service definition of envoy.service.discovery.v3.AggregatedDiscoveryService,
 * read from the Envoy protos (method paths and streaming flags). Requests are
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

const DECODERS = {
  StreamAggregatedResources: decodeSotwRequest,
  DeltaAggregatedResources: decodeDeltaRequest,
} as const;

export function adsServiceDefinition(): ServiceDefinition {
  const service = envoyRoot().lookupService(ADS_SERVICE);
  const definition: Record<string, ServiceDefinition[string]> = {};
  for (const name of Object.keys(DECODERS) as (keyof typeof DECODERS)[]) {
    const method = service.methods[name];
    if (method === undefined || method.requestStream !== true || method.responseStream !== true) {
      throw new StraitError(
        ERROR_CODES.INTERNAL,
        `${ADS_SERVICE}.${name} is not a bidirectional stream in the protos`,
      );
    }
    const decode = DECODERS[name];
    definition[name] = {
      path: `/${ADS_SERVICE}/${name}`,
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
