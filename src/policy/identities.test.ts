import { describe, expect, it } from "vitest";
import { parseIpv4Prefix } from "../net/ipv4.ts";
import { allocateIdentities, type IdentityRecord, LOCAL_IDENTITY_FLAG } from "./identities.ts";
import { isIdentityRelevant } from "./label-filter.ts";
import { LabelSet, parseLabel } from "./labels.ts";

const set = (...labels: string[]) => new LabelSet(labels.map(parseLabel));
const t0 = new Date("2026-01-01T00:00:00Z");
const later = (ms: number) => new Date(t0.getTime() + ms);

describe("identity allocation", () => {
  const a = set("k8s:app=a", "k8s:io.kubernetes.pod.namespace=default");
  const b = set("k8s:app=b", "k8s:io.kubernetes.pod.namespace=default");

  it("gives one identity per label set, the same on every replica and after a restart", () => {
    const one = allocateIdentities({
      workloads: [a, b, a],
      cidrs: [],
      records: [],
      now: t0,
      gcAfterMs: 1000,
    });
    const two = allocateIdentities({ workloads: [b, a], cidrs: [], records: [], now: t0, gcAfterMs: 1000 });
    expect(one.byLabels.get(a.id)?.id).toBe(two.byLabels.get(a.id)?.id);
    expect(one.byLabels.get(b.id)?.id).toBe(two.byLabels.get(b.id)?.id);
    expect(one.byLabels.get(a.id)?.id).not.toBe(one.byLabels.get(b.id)?.id);
    for (const id of [one.byLabels.get(a.id)?.id ?? 0, one.byLabels.get(b.id)?.id ?? 0]) {
      expect(id).toBeGreaterThanOrEqual(256);
      expect(id).toBeLessThanOrEqual(65535);
    }
  });

  it("keeps a recorded number, even one a fresh allocation would not choose", () => {
    const records: IdentityRecord[] = [{ id: 4242, kind: "workload", labels: a.strings() }];
    const r = allocateIdentities({ workloads: [a], cidrs: [], records, now: t0, gcAfterMs: 1000 });
    expect(r.byLabels.get(a.id)?.id).toBe(4242);
  });

  it("resolves a collision by probing, without moving the identity already there", () => {
    const fresh = allocateIdentities({ workloads: [b], cidrs: [], records: [], now: t0, gcAfterMs: 1000 });
    const bId = fresh.byLabels.get(b.id)?.id ?? 0;
    // a's recorded number is the slot b hashes to: b must move on, a must stay.
    const records: IdentityRecord[] = [{ id: bId, kind: "workload", labels: a.strings() }];
    const r = allocateIdentities({ workloads: [a, b], cidrs: [], records, now: t0, gcAfterMs: 1000 });
    expect(r.byLabels.get(a.id)?.id).toBe(bId);
    expect(r.byLabels.get(b.id)?.id).toBe(bId === 65535 ? 256 : bId + 1);
  });

  it("keeps an unused identity for the grace period, then garbage-collects it", () => {
    const first = allocateIdentities({ workloads: [a], cidrs: [], records: [], now: t0, gcAfterMs: 60_000 });
    const id = first.byLabels.get(a.id)?.id;
    const unused = allocateIdentities({
      workloads: [],
      cidrs: [],
      records: first.records,
      now: later(1000),
      gcAfterMs: 60_000,
    });
    expect(unused.records).toEqual([
      { id, kind: "workload", labels: a.strings(), unusedSince: "2026-01-01T00:00:01Z" },
    ]);
    expect(unused.byLabels.has(a.id)).toBe(false);
    const back = allocateIdentities({
      workloads: [a],
      cidrs: [],
      records: unused.records,
      now: later(30_000),
      gcAfterMs: 60_000,
    });
    expect(back.byLabels.get(a.id)?.id).toBe(id);
    expect(back.records[0]?.unusedSince).toBeUndefined();
    const gone = allocateIdentities({
      workloads: [],
      cidrs: [],
      records: unused.records,
      now: later(61_001),
      gcAfterMs: 60_000,
    });
    expect(gone.records).toEqual([]);
  });

  it("gives CIDR identities numbers in Cilium's local scope, labelled cidr: and reserved:world", () => {
    const prefix = parseIpv4Prefix("10.0.0.0/8");
    if (!prefix.ok) throw new Error(prefix.error);
    const r = allocateIdentities({
      workloads: [],
      cidrs: [prefix.value],
      records: [],
      now: t0,
      gcAfterMs: 1,
    });
    const cidr = [...r.identities.values()].find((i) => i.kind === "cidr");
    expect(cidr?.id).toBeGreaterThan(LOCAL_IDENTITY_FLAG);
    expect(cidr?.labels.strings()).toEqual(["cidr:10.0.0.0/8", "reserved:world"]);
  });
});

describe("identity-relevant labels (Cilium's default label filter)", () => {
  it.each([
    ["k8s:app=web", true],
    ["k8s:pod-template-hash=abc", false],
    ["k8s:controller-revision-hash=1", false],
    ["k8s:statefulset.kubernetes.io/pod-name=x-0", false],
    ["k8s:io.kubernetes.pod.namespace=default", true],
    ["k8s:io.kubernetes.container.name=x", false],
    ["k8s:io.cilium.k8s.namespace.labels.team=a", true],
    ["k8s:app.kubernetes.io/name=web", true],
    ["k8s:kubernetes.io/hostname=n1", false],
    ["k8s:node.beta.kubernetes.io/x=y", false],
    ["k8s:io.cilium.k8s.policy.serviceaccount=default", true],
    ["reserved:host", true],
  ])("%s → %s", (label, relevant) => {
    expect(isIdentityRelevant(parseLabel(label))).toBe(relevant);
  });
});
