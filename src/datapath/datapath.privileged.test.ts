/**
 * The reconciler against real maps: writes only what changed, prunes what
 * the state no longer has, refuses a state that would overflow a map
 * (reported, nothing written), and adopts the pinned maps a previous agent
 * left (an agent restart keeps every entry).
 */
import { rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { canRunKernelTests, KERNEL_SKIP_REASON } from "../../test/support/kernel.ts";
import type { EncryptEntry } from "../model/encryption.ts";
import type { EndpointPolicy, PolicyEntry } from "../model/endpoint-policy.ts";
import { decodeEncryptInfo, decodeEncryptKey } from "./codecs/encrypt.ts";
import { decodePolicyKey } from "./codecs/policy.ts";
import { Datapath, type DatapathDesired } from "./datapath.ts";

const entry = (identity: number, port: number, verdict: "allow" | "deny" = "allow"): PolicyEntry => ({
  direction: "ingress",
  remoteIdentity: identity,
  protocol: "TCP",
  port,
  verdict,
  sources: [],
});

function desired(entries: readonly PolicyEntry[], enforced = true): DatapathDesired {
  const policy: EndpointPolicy = {
    endpointId: 7,
    ingressEnforced: enforced,
    egressEnforced: false,
    entries,
    sources: [],
  };
  return {
    endpoints: [
      {
        id: 7,
        identity: 1007,
        addresses: ["10.251.0.7"],
        ifindex: 1,
        ingressEnforced: enforced,
        egressEnforced: false,
      },
    ],
    policies: [policy],
    ipcache: [{ prefix: "10.251.0.7/32", identity: 1007 }],
    meshServices: [],
    encrypt: [],
  };
}

describe.skipIf(!canRunKernelTests)(`Datapath.apply on real maps ${KERNEL_SKIP_REASON ?? ""}`, () => {
  const pinRoot = `/sys/fs/bpf/strait-test-apply-${process.pid}`;
  afterAll(() => rmSync(pinRoot, { recursive: true, force: true }));

  it("writes what changed, prunes what is gone, and skips unchanged entries", () => {
    const dp = Datapath.open({ pinRoot: null });
    try {
      const first = dp.apply(desired([entry(1001, 80), entry(1002, 443)]));
      expect(first).toMatchObject({ ok: true, value: { written: 4, deleted: 0 } });
      const again = dp.apply(desired([entry(1001, 80), entry(1002, 443)]));
      expect(again).toMatchObject({ ok: true, value: { written: 0, deleted: 0 } });
      const changed = dp.apply(desired([entry(1001, 80, "deny"), entry(1003, 22)]));
      expect(changed).toMatchObject({ ok: true, value: { written: 2, deleted: 1 } });
      const keys = dp
        .map("strait_policy")
        .keys()
        .map((k) => decodePolicyKey(k));
      expect(keys.map((k) => [k.identity, k.port]).sort()).toEqual([
        [1001, 80],
        [1003, 22],
      ]);
    } finally {
      dp.close();
    }
  });

  it("brings the encrypt map to the desired entries: adds, changes, and removes stale ones", () => {
    const dp = Datapath.open({ pinRoot: null });
    const flow = (remoteIdentity: number, port: number | "any", proxyPort = 15004): EncryptEntry => ({
      localIdentity: 1007,
      remoteIdentity,
      protocol: "TCP",
      port,
      proxyPort,
    });
    const content = () =>
      dp
        .map("strait_encrypt")
        .keys()
        .map((k) => {
          const key = decodeEncryptKey(k);
          return [
            key.remoteIdentity,
            key.port,
            decodeEncryptInfo(dp.map("strait_encrypt").lookup(k) as Buffer),
          ];
        })
        .sort();
    try {
      const first = dp.apply({ ...desired([]), encrypt: [flow(2001, 443), flow(2002, "any")] });
      expect(first).toMatchObject({ ok: true, value: { entries: { encrypt: 2 } } });
      expect(content()).toEqual([
        [2001, 443, 15004],
        [2002, 0, 15004],
      ]);
      const next = dp.apply({ ...desired([]), encrypt: [flow(2001, 443, 15005), flow(2003, 80)] });
      expect(next).toMatchObject({ ok: true, value: { entries: { encrypt: 2 } } });
      expect(content()).toEqual([
        [2001, 443, 15005],
        [2003, 80, 15004],
      ]);
      expect(dp.apply(desired([])).ok).toBe(true);
      expect(content()).toEqual([]);
      expect(dp.entryCounts().strait_encrypt).toBe(0);
    } finally {
      dp.close();
    }
  });

  it("refuses a state that would overflow the policy map, reports it, and leaves the maps as they were", () => {
    const dp = Datapath.open({ pinRoot: null });
    try {
      expect(dp.apply(desired([entry(1001, 80)])).ok).toBe(true);
      const capacity = dp.map("strait_policy").info.maxEntries;
      const tooMany = Array.from({ length: capacity + 1 }, (_, i) => entry(256 + i, 80));
      const r = dp.apply(desired(tooMany));
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error[0]).toMatchObject({ map: "strait_policy", kind: "full" });
        expect(r.error[0]?.message).toContain(`capacity ${capacity}`);
      }
      expect(dp.map("strait_policy").keys()).toHaveLength(1);
    } finally {
      dp.close();
    }
  });

  it("adopts the maps pinned by a previous agent: entries survive, an unchanged state writes nothing", () => {
    const a = Datapath.open({ pinRoot });
    expect(a.apply(desired([entry(1001, 80), entry(1002, 443)])).ok).toBe(true);
    a.close();
    const b = Datapath.open({ pinRoot });
    try {
      expect(b.map("strait_policy").keys()).toHaveLength(2);
      expect(b.entryCounts()).toEqual({
        strait_endpoints: 1,
        strait_policy: 2,
        strait_ipcache: 1,
        strait_mesh_svc: 0,
        strait_encrypt: 0,
      });
      expect(b.apply(desired([entry(1001, 80), entry(1002, 443)]))).toMatchObject({
        ok: true,
        value: { written: 0 },
      });
    } finally {
      b.close();
    }
  });
});
