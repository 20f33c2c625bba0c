import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RUN_SETTINGS, resolveSettings } from "./config.ts";
import { xdsListenConfig } from "./xds-serving.ts";

const standalone = (flags: Record<string, unknown> = {}) =>
  resolveSettings(RUN_SETTINGS, { file: "/manifests", ...flags }, {}, undefined);
const inCluster = (flags: Record<string, unknown> = {}) =>
  resolveSettings(RUN_SETTINGS, flags, {}, undefined);

function pemFiles(): { cert: string; key: string; ca: string } {
  const dir = mkdtempSync(join(tmpdir(), "strait-xds-tls-"));
  const paths = { cert: join(dir, "tls.crt"), key: join(dir, "tls.key"), ca: join(dir, "ca.crt") };
  for (const p of Object.values(paths)) writeFileSync(p, "-----BEGIN CERTIFICATE-----\n");
  return paths;
}

describe("xDS listening settings", () => {
  it("defaults: standalone plaintext on 127.0.0.1:18000, limits from RUN_SETTINGS", () => {
    const config = xdsListenConfig(standalone());
    expect(config).toMatchObject({ host: "127.0.0.1", port: 18000, tls: undefined });
    expect(config.limits).toEqual({
      maxStreams: 10000,
      maxMessageBytes: 4194304,
      maxSubscriptionsPerStream: 100000,
      writeTimeoutMs: 30000,
      maxBytesInFlight: 256 * 1024 * 1024,
    });
  });

  it("in a cluster (0.0.0.0:18000) refuses plaintext unless asked explicitly", () => {
    expect(() => xdsListenConfig(inCluster())).toThrow(/would be plaintext: give --xds-tls-cert/);
    expect(xdsListenConfig(inCluster({ "xds-plaintext": true }))).toMatchObject({
      host: "0.0.0.0",
      tls: undefined,
    });
    expect(() => xdsListenConfig(standalone({ "xds-address": "0.0.0.0:18000" }))).toThrow(/plaintext/);
    expect(xdsListenConfig(inCluster({ "xds-address": "127.0.0.1:0" }))).toMatchObject({
      port: 0,
      tls: undefined,
    });
  });

  it("takes the three TLS files together, and not with --xds-plaintext", () => {
    const f = pemFiles();
    const tls = xdsListenConfig(
      inCluster({ "xds-tls-cert": f.cert, "xds-tls-key": f.key, "xds-client-ca": f.ca }),
    );
    expect(tls.tls?.cert.toString()).toContain("BEGIN CERTIFICATE");
    expect(() => xdsListenConfig(inCluster({ "xds-tls-cert": f.cert, "xds-tls-key": f.key }))).toThrow(
      /go together/,
    );
    expect(() =>
      xdsListenConfig(
        inCluster({
          "xds-tls-cert": f.cert,
          "xds-tls-key": f.key,
          "xds-client-ca": f.ca,
          "xds-plaintext": true,
        }),
      ),
    ).toThrow(/contradicts/);
    expect(() =>
      xdsListenConfig(inCluster({ "xds-tls-cert": "/nope", "xds-tls-key": f.key, "xds-client-ca": f.ca })),
    ).toThrow(/--xds-tls-cert: cannot read \/nope/);
  });

  it("reads limits from the environment too, and rejects nonsense", () => {
    const env = resolveSettings(
      RUN_SETTINGS,
      { file: "/m" },
      { STRAIT_XDS_MAX_STREAMS: "7", STRAIT_XDS_WRITE_TIMEOUT: "250ms" },
      undefined,
    );
    expect(xdsListenConfig(env).limits).toMatchObject({ maxStreams: 7, writeTimeoutMs: 250 });
    expect(() => xdsListenConfig(standalone({ "xds-max-streams": "-1" }))).toThrow(/positive integer/);
    expect(() => xdsListenConfig(standalone({ "xds-write-timeout": "soon" }))).toThrow(/duration/);
    expect(() => xdsListenConfig(standalone({ "xds-address": "nope" }))).toThrow(/HOST:PORT/);
  });
  it("takes --xds-tls-builtin-ca instead of the files: with the built-in CA, not with files or --xds-plaintext, names checked", () => {
    const ca = { "builtin-ca-dir": "/ca", "xds-tls-builtin-ca": true };
    expect(xdsListenConfig(inCluster(ca))).toMatchObject({
      host: "0.0.0.0",
      tls: undefined,
      builtinCa: { serverNames: ["localhost", "127.0.0.1"], certTtlMs: 24 * 3600_000 },
    });
    expect(
      xdsListenConfig(
        inCluster({ ...ca, "xds-server-names": ["strait.ns.svc", "10.0.0.1"], "xds-cert-ttl": "2h" }),
      ).builtinCa,
    ).toEqual({ serverNames: ["strait.ns.svc", "10.0.0.1"], certTtlMs: 2 * 3600_000 });
    expect(() => xdsListenConfig(inCluster({ "xds-tls-builtin-ca": true }))).toThrow(
      /--xds-tls-builtin-ca needs the built-in CA: give --builtin-ca-dir/,
    );
    expect(() => xdsListenConfig(inCluster({ ...ca, "xds-plaintext": true }))).toThrow(
      /--xds-plaintext contradicts --xds-tls-builtin-ca/,
    );
    const files = pemFiles();
    expect(() =>
      xdsListenConfig(
        inCluster({ ...ca, "xds-tls-cert": files.cert, "xds-tls-key": files.key, "xds-client-ca": files.ca }),
      ),
    ).toThrow(/contradicts the --xds-tls-\* files/);
    expect(() => xdsListenConfig(inCluster({ ...ca, "xds-server-names": ["not a name"] }))).toThrow(
      /"not a name" is neither a DNS name nor an IP address/,
    );
    expect(xdsListenConfig(inCluster({ "xds-plaintext": true })).builtinCa).toBeUndefined();
  });
});
