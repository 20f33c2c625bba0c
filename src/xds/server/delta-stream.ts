/**
 * DeltaAggregatedResources: the incremental variant. Requests add and remove
 * names; subscription changes are honoured whatever their nonce (the
 * protocol says so), and the nonce only pairs an ACK or NACK with its
 * response. Responses carry new and changed resources with their versions,
 * and removed_resources for what is gone (or, for a name subscribed to, does
 * not exist). A reconnecting client's initial_resource_versions spare it
 * what it already has.
 */

import { AdsStream } from "./ads-stream.ts";
import type { DeltaRequest } from "./requests.ts";
import type { TypeState, TypeUpdate } from "./type-state.ts";
import { encodeDeltaResponse } from "./wire.ts";

export class DeltaStream extends AdsStream<DeltaRequest> {
  protected handle(request: DeltaRequest): void {
    if (!this.adoptNode(request.node)) return;
    const state = this.typeState(request.typeUrl);
    if (state === undefined) return;
    if (request.responseNonce !== "") {
      const sent = this.sentWithNonce(request.typeUrl, request.responseNonce);
      if (sent !== undefined) {
        if (request.errorDetail !== undefined)
          this.nack(request.typeUrl, sent.version, request.responseNonce, request.errorDetail.message);
        else this.ack(request.typeUrl, sent.version, request.responseNonce);
      }
    }
    const first = !state.requested;
    const change = state.applyDelta(request.subscribe, request.unsubscribe);
    if (first) state.setInitialVersions(request.initialVersions);
    if (!this.subscriptionChanged(state, change)) return;
    this.schedule();
  }

  protected encode(state: TypeState, update: TypeUpdate, nonce: string): Buffer {
    return encodeDeltaResponse({
      systemVersionInfo: update.version,
      typeUrl: state.typeUrl,
      nonce,
      resources: update.resources,
      removed: update.removed,
    });
  }
}
