/**
 * StreamAggregatedResources: the state-of-the-world variant. Every request
 * carries the client's full subscription for its type; its nonce says which
 * response it answers. A request whose nonce is not the latest one sent for
 * its type is stale and ignored (the client answers the newer response with
 * its full subscription anyway), as the protocol asks. An error_detail makes
 * it a NACK: recorded and logged, and nothing is resent until the type
 * changes. A reconnecting client's version_info is honoured: if it already
 * has what it would get, it gets nothing.
 */

import { AdsStream } from "./ads-stream.ts";
import type { SotwRequest } from "./requests.ts";
import type { TypeState, TypeUpdate } from "./type-state.ts";
import { encodeSotwResponse } from "./wire.ts";

export class SotwStream extends AdsStream<SotwRequest> {
  protected handle(request: SotwRequest): void {
    if (!this.adoptNode(request.node)) return;
    const state = this.typeState(request.typeUrl);
    if (state === undefined) return;
    const last = this.lastSent(request.typeUrl);
    if (last !== undefined && request.responseNonce !== last.nonce) return; // stale
    if (request.errorDetail !== undefined) {
      this.nack(
        request.typeUrl,
        last?.version ?? request.versionInfo,
        request.responseNonce,
        request.errorDetail.message,
      );
    } else if (last !== undefined) {
      this.ack(request.typeUrl, request.versionInfo, request.responseNonce);
    }
    const first = !state.requested;
    const change = state.setSotwNames(request.resourceNames);
    if (first && request.versionInfo !== "") {
      state.setReportedVersion(request.versionInfo);
      this.ack(request.typeUrl, request.versionInfo, "");
    }
    if (!this.subscriptionChanged(state, change)) return;
    this.schedule();
  }

  protected encode(state: TypeState, update: TypeUpdate, nonce: string): Buffer {
    return encodeSotwResponse({
      versionInfo: update.version,
      typeUrl: state.typeUrl,
      nonce,
      resources: update.resources,
      ...(update.wildcardOf === undefined ? {} : { wildcardOf: update.wildcardOf }),
    });
  }
}
