import { describe, expect, it } from "vitest";
import type { ClientStatus, TypeStatus } from "../xds/server/index.ts";
import { RUN_SETTINGS, resolveSettings } from "./config.ts";
import { MANAGED_ENVOY_NODE_ID, managedEnvoyConfig, managedEnvoyNotReady } from "./managed-envoy.ts";

const at = "2026-12-02T00:00:00.000Z";

function type(name: string, sent?: string, acked?: string): TypeStatus {
  return {
    typeUrl: `type.googleapis.com/${name}`,
    type: name,
    wildcard: true,
    names: 0,
    nacks: 0,
    ...(sent === undefined ? {} : { lastSent: { version: sent, nonce: sent, at, resources: 1, removed: 0 } }),
    ...(acked === undefined ? {} : { lastAcked: { version: acked, nonce: acked, at } }),
  };
}

function client(types: TypeStatus[], id = MANAGED_ENVOY_NODE_ID): ClientStatus {
  return {
    stream: 1,
    mode: "delta",
    peer: "127.0.0.1:1",
    connectedAt: at,
    node: { id, cluster: "strait", userAgent: "envoy" },
    types,
  };
}

describe("managedEnvoyNotReady", () => {
  it("is not ready before the managed Envoy connects, whoever else is connected", () => {
    expect(managedEnvoyNotReady([], MANAGED_ENVOY_NODE_ID)).toBe(
      "the managed Envoy is not connected to the xDS server yet",
    );
    expect(
      managedEnvoyNotReady(
        [client([type("LDS", "1", "1"), type("CDS", "1", "1")], "other")],
        MANAGED_ENVOY_NODE_ID,
      ),
    ).toBeDefined();
  });

  it("waits for an ACK of both listeners and clusters, and of everything else sent", () => {
    const waiting = "the managed Envoy has not ACKed its first configuration yet";
    expect(managedEnvoyNotReady([client([type("CDS", "1", "1")])], MANAGED_ENVOY_NODE_ID)).toBe(waiting);
    expect(
      managedEnvoyNotReady([client([type("CDS", "1", "1"), type("LDS", "1")])], MANAGED_ENVOY_NODE_ID),
    ).toBe(waiting);
    expect(
      managedEnvoyNotReady(
        [client([type("CDS", "1", "1"), type("LDS", "1", "1"), type("RDS", "1")])],
        MANAGED_ENVOY_NODE_ID,
      ),
    ).toBe(waiting);
    expect(
      managedEnvoyNotReady(
        [client([type("CDS", "1", "1"), type("LDS", "1", "1"), type("RDS", "1", "1")])],
        MANAGED_ENVOY_NODE_ID,
      ),
    ).toBeUndefined();
  });

  it("stays ready while a later version is on its way (the first ACK is what counts)", () => {
    expect(
      managedEnvoyNotReady([client([type("CDS", "2", "1"), type("LDS", "2", "1")])], MANAGED_ENVOY_NODE_ID),
    ).toBeUndefined();
  });
});

describe("managedEnvoyConfig", () => {
  const settings = (flags: Record<string, unknown>) =>
    resolveSettings(RUN_SETTINGS, { file: "examples/quickstart", ...flags }, {}, undefined);

  it("is managed by default in standalone mode and off in cluster mode", () => {
    expect(managedEnvoyConfig(settings({}))).toMatchObject({
      api: "delta",
      admin: { host: "127.0.0.1", port: 9901 },
    });
    expect(managedEnvoyConfig(resolveSettings(RUN_SETTINGS, {}, {}, undefined))).toBeUndefined();
    expect(managedEnvoyConfig(settings({ envoy: "none" }))).toBeUndefined();
  });

  it("refuses bad values with the flag's name", () => {
    expect(() => managedEnvoyConfig(settings({ envoy: "embedded" }))).toThrow(
      '--envoy must be managed or none, got "embedded"',
    );
    expect(() => managedEnvoyConfig(settings({ "envoy-xds-api": "rest" }))).toThrow(
      "--envoy-xds-api must be delta or sotw",
    );
    expect(() => managedEnvoyConfig(settings({ "envoy-admin-address": "0.0.0.0:9901" }))).toThrow(
      "--envoy-admin-address must be a loopback address",
    );
    expect(() => managedEnvoyConfig(settings({ "envoy-log-level": "loud" }))).toThrow(
      "--envoy-log-level must be one of",
    );
    expect(() => managedEnvoyConfig(settings({ "envoy-binary": "/nonexistent/envoy" }))).toThrow(
      "no Envoy binary at /nonexistent/envoy",
    );
  });
});
