import { describe, expect, it } from "vitest";
import type { MeshService } from "../../model/mesh-service.ts";
import { STRAIT_TYPE_URLS } from "../proto/envoy-protos.ts";
import { decodeResource, encodeResourceOrThrow, validateResource } from "../proto/index.ts";
import { agentStateFrom, meshServiceResources } from "./agent-resources.ts";

const WEB: MeshService = {
  service: "apps/web",
  address: "10.96.0.10",
  port: 80,
  protocol: "TCP",
  proxyPort: 15003,
};

describe("mesh services as agent resources", () => {
  it("round-trips through the agent's state, named address:port", () => {
    const other: MeshService = { ...WEB, service: "apps/api", address: "10.96.0.9", port: 8080 };
    const set = meshServiceResources([WEB, other]);
    const byName = set[STRAIT_TYPE_URLS.meshService];
    expect([...(byName?.keys() ?? [])].sort()).toEqual(["10.96.0.10:80", "10.96.0.9:8080"]);
    const state = agentStateFrom(
      new Map([
        [STRAIT_TYPE_URLS.meshService, byName as ReadonlyMap<string, Readonly<Record<string, unknown>>>],
      ]),
    );
    expect(state.meshServices).toEqual([WEB, other]);
  });

  it("encodes strictly: a port out of range is refused by the proto's rules", () => {
    const bad = meshServiceResources([{ ...WEB, port: 0 }])[STRAIT_TYPE_URLS.meshService]?.get(
      "10.96.0.10:0",
    );
    expect(validateResource(STRAIT_TYPE_URLS.meshService, bad).map((i) => i.path)).toContain("port");
    const good = meshServiceResources([WEB])[STRAIT_TYPE_URLS.meshService]?.get("10.96.0.10:80");
    const bytes = encodeResourceOrThrow(STRAIT_TYPE_URLS.meshService, good, "10.96.0.10:80");
    expect(decodeResource(STRAIT_TYPE_URLS.meshService, bytes)).toEqual(good);
  });
});
