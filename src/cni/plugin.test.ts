/**
 * strait-cni's answers to bad input: the CNI spec's error object (cniVersion,
 * code, msg, details) and a non-zero exit, for malformed stdin, unknown
 * commands, missing environment, bad configs and an unreachable agent; and
 * the success paths that need no agent (VERSION, DEL without an agent).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../../test/support/strait-process.ts";
import { runCni } from "./plugin.ts";
import { attachmentFromResult, CNI_ERROR, podFromCniArgs } from "./spec.ts";

const nowhere = join(mkdtempSync(join(tmpdir(), "strait-cni-")), "absent.sock");
const ENV = {
  CNI_CONTAINERID: "c1",
  CNI_NETNS: "/run/netns/x",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/usr/lib/cni",
};
const PREV = {
  cniVersion: "1.0.0",
  interfaces: [
    { name: "veth1234", mac: "aa:bb:cc:dd:ee:ff" },
    { name: "eth0", mac: "aa:bb:cc:dd:ee:01", sandbox: "/run/netns/x" },
  ],
  ips: [{ address: "10.9.0.5/24", gateway: "10.9.0.1", interface: 1 }],
};
const conf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    cniVersion: "1.0.0",
    name: "net",
    type: "strait-cni",
    agentSocket: nowhere,
    prevResult: PREV,
    ...extra,
  });

async function errorOf(env: Record<string, string>, stdin: string) {
  const out = await runCni({ env, stdin });
  expect(out.exitCode).not.toBe(0);
  return JSON.parse(out.stdout) as { cniVersion: string; code: number; msg: string; details?: string };
}

describe("strait-cni", () => {
  it("answers VERSION with the versions it supports", async () => {
    const out = await runCni({ env: { CNI_COMMAND: "VERSION" }, stdin: "" });
    expect(out.exitCode).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({
      cniVersion: "1.1.0",
      supportedVersions: ["0.4.0", "1.0.0", "1.1.0"],
    });
  });

  it("rejects malformed stdin with code 6 (decode failure)", async () => {
    const e = await errorOf({ ...ENV, CNI_COMMAND: "ADD" }, "{not json");
    expect(e).toMatchObject({
      code: CNI_ERROR.DECODE_FAILURE,
      msg: "failed to decode network configuration",
    });
    expect(e.details).toBeTypeOf("string");
  });

  it("rejects an unknown or missing command with code 4 (invalid environment)", async () => {
    expect(await errorOf({ ...ENV, CNI_COMMAND: "FROB" }, conf())).toMatchObject({
      code: 4,
      msg: 'unknown CNI_COMMAND "FROB"',
    });
    expect(await errorOf({ ...ENV }, conf())).toMatchObject({ code: 4, msg: "CNI_COMMAND is not set" });
  });

  it("rejects missing environment variables with code 4, naming the variable", async () => {
    const { CNI_NETNS: _netns, ...noNetns } = ENV;
    expect(await errorOf({ ...noNetns, CNI_COMMAND: "ADD" }, conf())).toMatchObject({
      code: 4,
      msg: "CNI_NETNS is not set",
    });
    const { CNI_CONTAINERID: _id, ...noId } = ENV;
    expect(await errorOf({ ...noId, CNI_COMMAND: "DEL" }, conf())).toMatchObject({
      code: 4,
      msg: "CNI_CONTAINERID is not set",
    });
  });

  it("rejects an unsupported version (code 1) and a missing prevResult (code 7)", async () => {
    const v = await errorOf({ ...ENV, CNI_COMMAND: "ADD" }, conf({ cniVersion: "0.1.0" }));
    expect(v).toMatchObject({ code: CNI_ERROR.INCOMPATIBLE_VERSION, cniVersion: "0.1.0" });
    const p = await errorOf({ ...ENV, CNI_COMMAND: "ADD" }, conf({ prevResult: undefined }));
    expect(p).toMatchObject({ code: CNI_ERROR.INVALID_NETWORK_CONFIG });
    expect(p.msg).toContain("chained plugin");
  });

  it("asks to try again later (code 11) when the agent is not reachable on ADD; DEL still succeeds", async () => {
    const e = await errorOf({ ...ENV, CNI_COMMAND: "ADD" }, conf());
    expect(e).toMatchObject({ code: CNI_ERROR.TRY_AGAIN_LATER });
    expect(e.msg).toContain(nowhere);
    const del = await runCni({ env: { ...ENV, CNI_COMMAND: "DEL" }, stdin: conf() });
    expect(del).toEqual({ exitCode: 0, stdout: "" });
    const status = await errorOf({ ...ENV, CNI_COMMAND: "STATUS" }, conf());
    expect(status.code).toBe(CNI_ERROR.PLUGIN_NOT_AVAILABLE);
  });

  it("finds the host-side veth and the pod's addresses in ptp and bridge results", () => {
    expect(attachmentFromResult(PREV, "eth0")).toEqual({
      hostInterface: "veth1234",
      addresses: ["10.9.0.5"],
    });
    const bridge = {
      interfaces: [{ name: "cni0" }, { name: "vethabcd" }, { name: "eth0", sandbox: "/run/netns/y" }],
      ips: [{ address: "10.9.1.7/24", interface: 2 }],
    };
    expect(attachmentFromResult(bridge, "eth0")).toEqual({
      hostInterface: "vethabcd",
      addresses: ["10.9.1.7"],
    });
    expect(() => attachmentFromResult({ interfaces: [], ips: [] }, "eth0")).toThrow(/no host-side interface/);
    expect(podFromCniArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1")).toBe("shop/web-1");
  });

  it("as a real executable: error JSON on stdout and a non-zero exit", () => {
    const bin = join(REPO, "bin/strait-cni");
    const r = spawnSync(bin, [], {
      input: "][",
      env: { ...process.env, ...ENV, CNI_COMMAND: "ADD" },
      encoding: "utf8",
    });
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 6 });
    const v = execFileSync(bin, [], {
      input: "",
      env: { ...process.env, CNI_COMMAND: "VERSION" },
      encoding: "utf8",
    });
    expect(JSON.parse(v).supportedVersions).toContain("1.1.0");
  });
});
