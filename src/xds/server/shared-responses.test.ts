import { describe, expect, it } from "vitest";
import { type ResourceEntry, TypeSnapshot } from "../cache/type-snapshot.ts";
import { TYPE_URLS } from "../proto/index.ts";
import { sharedResponse } from "./shared-responses.ts";
import type { TypeUpdate } from "./type-state.ts";

const entry = (name: string): ResourceEntry => ({
  name,
  version: `v-${name}`,
  bytes: new Uint8Array([1, 2, 3]),
  wildcard: true,
});

describe("sharedResponse", () => {
  const snapshot = TypeSnapshot.of(TYPE_URLS.cluster, [entry("a"), entry("b")]);
  // Two streams in the same position compute equal updates, each in arrays of its own.
  const updateOf = (): TypeUpdate => ({
    resources: [...snapshot.wildcardEntries()],
    removed: [],
    version: snapshot.version,
    snapshot,
    shareKey: "delta 0 wildcard",
  });

  it("encodes once and gives every stream the first update's lists, so no stream keeps a copy", () => {
    let encodings = 0;
    const encode = () => {
      encodings++;
      return Buffer.from("response");
    };
    const first = updateOf();
    const second = updateOf();
    const one = sharedResponse(first, undefined, encode);
    const other = sharedResponse(second, undefined, encode);
    expect(encodings).toBe(1);
    expect(other).toBe(one);
    expect(other?.resources).toBe(first.resources);
    expect(other?.resources).not.toBe(second.resources);
    expect(other?.resources.map((e) => e.name)).toEqual(["a", "b"]);
    // A stream never gets the same nonce twice in a row: it encodes its own.
    expect(sharedResponse(updateOf(), one?.nonce, encode)).toBeUndefined();
  });
});
