import { describe, expect, it } from "vitest";
import type { IdentityRecord } from "./identities.ts";
import {
  IDENTITY_MANAGED_BY_ANNOTATION,
  IDENTITY_UNUSED_SINCE_ANNOTATION,
  identityObjects,
  identityRecordsOf,
  mergeRecords,
} from "./identity-objects.ts";

const web: IdentityRecord = {
  id: 4242,
  kind: "workload",
  labels: [
    "k8s:app=web",
    "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=default",
    "k8s:io.cilium.k8s.policy.cluster=default",
    "k8s:io.kubernetes.pod.namespace=default",
  ],
};

describe("CiliumIdentity objects", () => {
  it("records a workload identity as Cilium does: named by number, security-labels the truth, k8s labels on metadata", () => {
    const [obj] = identityObjects([web]);
    expect(obj).toEqual({
      apiVersion: "cilium.io/v2",
      kind: "CiliumIdentity",
      metadata: {
        name: "4242",
        labels: {
          app: "web",
          "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": "default",
          "io.cilium.k8s.policy.cluster": "default",
          "io.kubernetes.pod.namespace": "default",
        },
        annotations: { [IDENTITY_MANAGED_BY_ANNOTATION]: "strait" },
      },
      "security-labels": {
        "k8s:app": "web",
        "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": "default",
        "k8s:io.cilium.k8s.policy.cluster": "default",
        "k8s:io.kubernetes.pod.namespace": "default",
      },
    });
  });

  it("leaves CIDR identities out (node-local, as in Cilium) and labels Kubernetes would refuse off metadata", () => {
    const objs = identityObjects([
      { id: (1 << 24) + 5, kind: "cidr", labels: ["cidr:10.0.0.0/8", "reserved:world"] },
      {
        id: 300,
        kind: "workload",
        labels: ["k8s:a/b/c=x", "k8s:ok=fine", `k8s:long=${"v".repeat(64)}`],
        unusedSince: "2026-01-01T00:00:00Z",
      },
    ]);
    expect(objs).toHaveLength(1);
    expect(objs[0]?.metadata.labels).toEqual({ ok: "fine" });
    expect(objs[0]?.["security-labels"]).toEqual({
      "k8s:a/b/c": "x",
      "k8s:ok": "fine",
      "k8s:long": "v".repeat(64),
    });
    expect(objs[0]?.metadata.annotations[IDENTITY_UNUSED_SINCE_ANNOTATION]).toBe("2026-01-01T00:00:00Z");
  });

  it("reads back what it writes, unused mark included", () => {
    const marked = { ...web, unusedSince: "2026-01-01T00:00:01Z" };
    const { records, problems } = identityRecordsOf(identityObjects([web, marked]));
    expect(problems).toEqual([]);
    expect(records).toEqual([web, marked]);
  });

  it("reads a CiliumIdentity Cilium's operator wrote (no strait annotation)", () => {
    const { records } = identityRecordsOf([
      { metadata: { name: "12345" }, "security-labels": { "k8s:app": "db", "reserved:host": "" } },
    ]);
    expect(records).toEqual([{ id: 12345, kind: "workload", labels: ["k8s:app=db", "reserved:host"] }]);
  });

  it("ignores malformed objects, each with its reason, and reads the rest", () => {
    const { records, problems } = identityRecordsOf([
      { metadata: { name: "web" }, "security-labels": { "k8s:app": "x" } },
      { metadata: { name: "12" }, "security-labels": { "k8s:app": "x" } },
      { metadata: { name: "70000" }, "security-labels": { "k8s:app": "x" } },
      { metadata: { name: "0300" }, "security-labels": { "k8s:app": "x" } },
      { metadata: { name: "301" } },
      { metadata: { name: "302" }, "security-labels": {} },
      { metadata: { name: "303" }, "security-labels": { app: "x" } },
      { metadata: { name: "304" }, "security-labels": { "k8s:app": 7 } },
      {
        metadata: { name: "305", annotations: { [IDENTITY_UNUSED_SINCE_ANNOTATION]: "yesterday" } },
        "security-labels": { "k8s:app": "ok" },
      },
    ]);
    expect(problems.map((p) => [p.ref.name, p.message])).toEqual([
      ["web", "CiliumIdentity ignored: the name is not an identity number"],
      ["12", "CiliumIdentity ignored: identity 12 is outside the cluster-wide range 256..65535"],
      ["70000", "CiliumIdentity ignored: identity 70000 is outside the cluster-wide range 256..65535"],
      ["0300", "CiliumIdentity ignored: the name is not an identity number"],
      ["301", "CiliumIdentity ignored: security-labels is missing"],
      ["302", "CiliumIdentity ignored: security-labels is empty"],
      ["303", 'CiliumIdentity ignored: security label "app" has no source:key form'],
      ["304", 'CiliumIdentity ignored: security label "k8s:app" has a value that is not a string'],
    ]);
    // An unreadable unused mark counts as no mark: the identity is in use until a pass marks it again.
    expect(records).toEqual([{ id: 305, kind: "workload", labels: ["k8s:app=ok"] }]);
  });
});

describe("merging the API's records with the controller's own", () => {
  const other: IdentityRecord = { id: 500, kind: "workload", labels: ["k8s:app=other"] };
  const cidr: IdentityRecord = {
    id: (1 << 24) + 1,
    kind: "cidr",
    labels: ["cidr:10.0.0.0/8", "reserved:world"],
  };

  it("lets the API win on a number or a label set, keeps own CIDR and not-yet-written identities", () => {
    const ownWebElsewhere = { ...web, id: 999 };
    const ownOnSameNumber = { ...other, id: 4242 };
    const merged = mergeRecords([web], [ownWebElsewhere, ownOnSameNumber, cidr, other]);
    expect(merged).toEqual([web, cidr, other]);
  });

  it("keeps its own unused mark while the API does not show it yet", () => {
    const marked = { ...web, unusedSince: "2026-01-01T00:00:01Z" };
    expect(mergeRecords([web], [marked])).toEqual([marked]);
    // The API's mark wins once there, and a mark on other labels is not carried over.
    const apiMarked = { ...web, unusedSince: "2026-01-01T00:00:00Z" };
    expect(mergeRecords([apiMarked], [marked])).toEqual([apiMarked]);
    expect(mergeRecords([web], [{ ...other, id: 4242, unusedSince: "2026-01-01T00:00:01Z" }])).toEqual([web]);
  });
});
