import { describe, expect, it } from "vitest";
import { TYPE_URLS } from "../xds/proto/index.ts";
import { emptyResourceSet } from "../xds/translate/resource-set.ts";
import { DataPlaneRejections } from "./data-plane-rejections.ts";

const LDS = TYPE_URLS.listener;
const nack = (node: string, error: string, resources: [string, string][], stream = 1) => ({
  stream,
  node,
  typeUrl: LDS,
  accepted: false,
  error,
  resources: resources.map(([name, version]) => ({ name, version })),
});
const ack = (node: string, resources: [string, string][], stream = 1) => ({
  stream,
  node,
  typeUrl: LDS,
  accepted: true,
  resources: resources.map(([name, version]) => ({ name, version })),
});

describe("DataPlaneRejections", () => {
  it("blames the resources Envoy's error names, else all of the response", () => {
    let changes = 0;
    const r = new DataPlaneRejections(() => changes++);
    r.answer(
      nack("e1", "Error adding/updating listener(s) a/gw/80: bad", [
        ["a/gw/80", "v1"],
        ["b/gw/80", "v1"],
      ]),
    );
    expect(r.list().map((x) => x.name)).toEqual(["a/gw/80"]);
    r.answer(
      nack("e1", "something went wrong", [
        ["c/gw/80", "v1"],
        ["d/gw/80", "v1"],
      ]),
    );
    expect(r.list().map((x) => x.name)).toEqual(["a/gw/80", "c/gw/80", "d/gw/80"]);
    expect(changes).toBe(2);
  });

  it("clears a rejection when that node ACKs another version, not the same one, nor another node's ACK", () => {
    const r = new DataPlaneRejections(() => {});
    r.answer(nack("e1", "a/gw/80: bad", [["a/gw/80", "v1"]]));
    r.answer(nack("e2", "a/gw/80: bad", [["a/gw/80", "v1"]]));
    expect(r.list()[0]?.message).toBe("a/gw/80: bad [node e1 (and 1 more nodes)]");
    r.answer(ack("e1", [["a/gw/80", "v1"]]));
    expect(r.list()).toHaveLength(1);
    r.answer(ack("e1", [["a/gw/80", "v2"]]));
    expect(r.list()[0]?.message).toBe("a/gw/80: bad [node e2]");
    r.answer(ack("e2", [["a/gw/80", "v2"]]));
    expect(r.list()).toEqual([]);
  });

  it("forgets a node's rejections when its stream ends, and resources strait no longer serves", () => {
    const r = new DataPlaneRejections(() => {});
    r.answer(nack("e1", "x", [["a/gw/80", "v1"]], 7));
    r.streamClosed(8, "e1");
    expect(r.list()).toHaveLength(1);
    r.streamClosed(7, "e1");
    expect(r.list()).toEqual([]);
    r.answer(nack("e1", "x", [["a/gw/80", "v1"]]));
    r.prune(emptyResourceSet());
    expect(r.list()).toEqual([]);
  });
});
