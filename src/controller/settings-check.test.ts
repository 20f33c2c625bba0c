import { describe, expect, it } from "vitest";
import { RUN_SETTINGS, resolveSettings } from "./config.ts";
import { checkRunSettings } from "./settings-check.ts";

const settings = (flags: Record<string, unknown>) => resolveSettings(RUN_SETTINGS, flags, {}, undefined);

describe("strait run's settings, checked at start", () => {
  it("refuses an address pool entry that is no address, range or CIDR, naming it", () => {
    expect(() => checkRunSettings(settings({ file: ".", "address-pool": ["10.0.0.0/24", "nope"] }))).toThrow(
      /--address-pool: "nope" is not an IPv4 address, range or CIDR/,
    );
    expect(() => checkRunSettings(settings({ file: ".", "address-pool": ["10.0.0.9-10.0.0.1"] }))).toThrow(
      /--address-pool/,
    );
  });

  it("refuses a manifests folder that does not exist instead of serving an empty configuration", () => {
    expect(() => checkRunSettings(settings({ file: "/nonexistent/manifests" }))).toThrow(
      /-f \/nonexistent\/manifests: no such file or folder/,
    );
  });

  it("refuses addresses that are not HOST:PORT and an unknown --envoy mode", () => {
    expect(() => checkRunSettings(settings({ file: ".", "http-address": "127.0.0.1:99999" }))).toThrow(
      /--http-address must be HOST:PORT/,
    );
    expect(() => checkRunSettings(settings({ file: ".", "xds-address": "localhost" }))).toThrow(
      /--xds-address/,
    );
    expect(() => checkRunSettings(settings({ file: ".", envoy: "maybe" }))).toThrow(
      /--envoy must be managed or none/,
    );
  });

  it("accepts the defaults", () => {
    expect(() => checkRunSettings(settings({ file: "." }))).not.toThrow();
  });
});
