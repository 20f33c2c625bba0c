import { describe, expect, it } from "vitest";
import { RUN_SETTINGS, resolveSettings } from "./config.ts";
import { checkRunSettings, leaseTimings } from "./settings-check.ts";

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

  it("refuses every bad duration at start, naming the flag and the value", () => {
    for (const flag of [
      "lease-duration",
      "lease-renew-deadline",
      "lease-retry-period",
      "identity-gc-after",
      "svid-ttl",
      "xds-write-timeout",
      "event-heartbeat",
    ]) {
      expect(() => checkRunSettings(settings({ file: ".", [flag]: "soon" })), flag).toThrow(
        new RegExp(`--${flag} must be a duration such as 15s or 500ms, got "soon"`),
      );
      expect(() => checkRunSettings(settings({ file: ".", [flag]: "0s" })), flag).toThrow(`--${flag}`);
    }
    // Checked in cluster mode too, where the lease flags have their defaults.
    expect(() => checkRunSettings(settings({ "lease-duration": "-5s" }))).toThrow(/--lease-duration/);
  });

  it("needs retry period < renew deadline < lease duration, as client-go's leader election does", () => {
    expect(() => checkRunSettings(settings({ "lease-duration": "10s" }))).toThrow(
      "--lease-renew-deadline (10s) must be shorter than --lease-duration (10s)",
    );
    expect(() =>
      checkRunSettings(settings({ "lease-renew-deadline": "2s", "lease-retry-period": "3s" })),
    ).toThrow("--lease-retry-period (3s) must be shorter than --lease-renew-deadline (2s)");
    expect(
      leaseTimings(
        settings({ "lease-duration": "1m", "lease-renew-deadline": "40s", "lease-retry-period": "500ms" }),
      ),
    ).toEqual({ leaseDurationMs: 60_000, renewDeadlineMs: 40_000, retryPeriodMs: 500 });
    expect(leaseTimings(settings({}))).toEqual({
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    });
  });

  it("accepts the defaults", () => {
    expect(() => checkRunSettings(settings({ file: "." }))).not.toThrow();
    expect(() => checkRunSettings(settings({}))).not.toThrow();
  });
});
