/**
 * Responses shared between streams. An update that depends only on the
 * snapshot, the client's previous snapshot and its subscription (its share
 * key, see type-state.ts) is the same for every client in that position, so
 * it is encoded once, nonce included, and the same bytes go to all of them:
 * a push to a thousand Envoys with one subscription is one encoding and a
 * thousand writes. A nonce only has to tell one stream's responses apart;
 * shared ones are "s"-numbered, so they never collide with a stream's own.
 */
import type { ResourceEntry, TypeSnapshot } from "../cache/type-snapshot.ts";
import type { TypeUpdate } from "./type-state.ts";

export interface EncodedResponse {
  readonly nonce: string;
  readonly bytes: Buffer;
  /**
   * What it carries: for a shared response, the arrays of the update it was
   * first encoded for, so the streams that remember it (for ACK, NACK and
   * status) hold one list between them instead of a copy each.
   */
  readonly resources: readonly ResourceEntry[];
  readonly removed: readonly string[];
}

/** Distinct shared responses kept per snapshot (beyond that, clients are too different to share). */
const PER_SNAPSHOT = 64;
const responses = new WeakMap<TypeSnapshot, Map<string, EncodedResponse>>();
let sharedNonce = 0;

/**
 * The shared response for `update`, encoded with `encode` the first time;
 * undefined when the update is not shareable, when too many are kept for
 * its snapshot, or when it is the stream's last response (`lastNonce`): a
 * stream never gets one nonce twice in a row.
 */
export function sharedResponse(
  update: TypeUpdate,
  lastNonce: string | undefined,
  encode: (nonce: string) => Buffer,
): EncodedResponse | undefined {
  const key = update.shareKey;
  if (key === undefined) return undefined;
  let memo = responses.get(update.snapshot);
  const hit = memo?.get(key);
  if (hit !== undefined) return hit.nonce === lastNonce ? undefined : hit;
  if (memo !== undefined && memo.size >= PER_SNAPSHOT) return undefined;
  const nonce = `s${++sharedNonce}`;
  const shared = { nonce, bytes: encode(nonce), resources: update.resources, removed: update.removed };
  if (memo === undefined) {
    memo = new Map();
    responses.set(update.snapshot, memo);
  }
  memo.set(key, shared);
  return shared;
}
