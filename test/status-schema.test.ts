/**
 * Every status strait writes validates against the Gateway API CRDs'
 * own status schemas (test/support/status-schema.ts): for every official
 * conformance test's manifests (after the statuses settle, as the runner
 * and a cluster see them) and for every golden case. And the check itself
 * can fail: statuses the API server refuses are caught.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCatalogue } from "../conformance/catalogue.ts";
import { newCluster, settle } from "../conformance/harness.ts";
import {
  createStraitTarget,
  STRAIT_CONTROLLER_NAME,
  straitHarnessOptions,
} from "../conformance/strait-target.ts";
import { runPipeline } from "../src/controller/pipeline.ts";
import type { ObjectStatus } from "../src/model/status.ts";
import type { ResourceView } from "../src/resources/view.ts";
import { parseManifestText } from "../src/sources/manifests.ts";
import { ResourceStore } from "../src/sources/store.ts";
import { gatewayApiDir } from "./support/gateway-api-data.ts";
import { statusesSchemaProblems, statusSchemaProblems } from "./support/status-schema.ts";

const dir = gatewayApiDir();
const FIXED_NOW = new Date("2030-01-01T00:00:00Z");

function sortedStatuses(statuses: readonly ObjectStatus[]): ObjectStatus[] {
  const key = (s: ObjectStatus) => `${s.ref.kind}/${s.ref.namespace}/${s.ref.name}`;
  return [...statuses].sort((a, b) => (key(a) < key(b) ? -1 : 1));
}
const GOLDEN = join(import.meta.dirname, "../testdata/gateway");

const condition = (type: string, reason = "Accepted") => ({
  type,
  status: "True",
  reason,
  message: "ok",
  observedGeneration: 1,
  lastTransitionTime: "2026-01-01T00:00:00Z",
});

const ref = (kind: string) => ({ group: "gateway.networking.k8s.io", kind, namespace: "ns", name: "x" });

describe("the status schema check", () => {
  it("accepts a status the CRD allows", () => {
    const ok: ObjectStatus = {
      ref: ref("HTTPRoute"),
      status: {
        parents: [
          {
            parentRef: { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "ns", name: "gw" },
            controllerName: "strait.dev/gateway-controller",
            conditions: [condition("Accepted"), condition("ResolvedRefs", "ResolvedRefs")],
          },
        ],
      },
    };
    expect(statusSchemaProblems(ok)).toEqual([]);
  });

  it.each([
    [
      "more BackendTLSPolicy ancestors than maxItems (16)",
      ref("BackendTLSPolicy"),
      {
        ancestors: Array.from({ length: 17 }, (_, i) => ({
          ancestorRef: {
            group: "gateway.networking.k8s.io",
            kind: "Gateway",
            namespace: "ns",
            name: `gw${i}`,
          },
          controllerName: "strait.dev/gateway-controller",
          conditions: [condition("Accepted")],
        })),
      },
      /maxItems|must NOT have more than 16 items/,
    ],
    [
      "two conditions of one type (list-map key)",
      ref("GatewayClass"),
      { conditions: [condition("Accepted"), condition("Accepted")] },
      /duplicate entry/,
    ],
    [
      "a reason outside the pattern",
      ref("GatewayClass"),
      { conditions: [{ ...condition("Accepted"), reason: "not a reason!" }] },
      /pattern/,
    ],
    [
      "an address that is not an IP address for type IPAddress",
      ref("Gateway"),
      { addresses: [{ type: "IPAddress", value: "not-an-ip" }], conditions: [condition("Accepted")] },
      /format|oneOf|anyOf/,
    ],
    [
      "a Hostname address the CEL rule refuses",
      ref("Gateway"),
      { addresses: [{ type: "Hostname", value: "UPPER.example" }], conditions: [condition("Accepted")] },
      /Hostname value must only contain valid characters/,
    ],
    [
      "a field the schema does not declare (the API server would prune it)",
      ref("GatewayClass"),
      { conditions: [condition("Accepted")], ready: true },
      /additional properties/,
    ],
    [
      "more than 8 conditions",
      ref("GatewayClass"),
      { conditions: Array.from({ length: 9 }, (_, i) => condition(`Type${i}`)) },
      /more than 8 items/,
    ],
  ])("refuses %s", (_name, r, status, why) => {
    const problems = statusSchemaProblems({ ref: r, status });
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join("\n")).toMatch(why);
  });
});

/**
 * Route parentRefs that name a Gateway of strait's class, or a ListenerSet
 * whose parent is one, without an entry of strait's in the route's status.
 */
function missingParentStatuses(view: ResourceView, statuses: readonly ObjectStatus[]): string[] {
  const ours = new Set(
    view
      .list("GatewayClass")
      .filter((c) => c.spec.controllerName === STRAIT_CONTROLLER_NAME)
      .map((c) => c.metadata.name),
  );
  const gateways = new Set(
    view
      .list("Gateway")
      .filter((g) => ours.has(g.spec.gatewayClassName))
      .map((g) => `${g.metadata.namespace}/${g.metadata.name}`),
  );
  const listenerSets = new Set(
    view
      .list("ListenerSet")
      .filter((ls) =>
        gateways.has(`${ls.spec.parentRef.namespace ?? ls.metadata.namespace}/${ls.spec.parentRef.name}`),
      )
      .map((ls) => `${ls.metadata.namespace}/${ls.metadata.name}`),
  );
  const out: string[] = [];
  for (const route of view.list("HTTPRoute")) {
    const ns = route.metadata.namespace ?? "";
    const status = statuses.find(
      (s) => s.ref.kind === "HTTPRoute" && s.ref.namespace === ns && s.ref.name === route.metadata.name,
    );
    const entries = (
      (status?.status.parents ?? []) as { parentRef: Record<string, unknown>; controllerName: string }[]
    ).filter((p) => p.controllerName === STRAIT_CONTROLLER_NAME);
    for (const ref of (route.spec?.parentRefs ?? []) as {
      kind?: string;
      namespace?: string;
      name: string;
      sectionName?: string;
      port?: number;
    }[]) {
      const key = `${ref.namespace ?? ns}/${ref.name}`;
      const kind = ref.kind ?? "Gateway";
      if (!(kind === "Gateway" ? gateways : kind === "ListenerSet" ? listenerSets : new Set()).has(key))
        continue;
      const found = entries.filter(
        (e) =>
          e.parentRef.kind === kind &&
          `${e.parentRef.namespace}/${e.parentRef.name}` === key &&
          e.parentRef.sectionName === ref.sectionName &&
          e.parentRef.port === ref.port,
      );
      if (found.length !== 1)
        out.push(
          `HTTPRoute ${ns}/${route.metadata.name}: ${found.length} entries for parentRef ${kind} ${key}`,
        );
    }
  }
  return out;
}

describe("every status strait writes validates against the CRDs", () => {
  it("for every official conformance test's manifests, once settled (every route parentRef of ours has its entry, and the first pass is final)", async () => {
    const catalogue = loadCatalogue(dir);
    const options = await straitHarnessOptions(dir, catalogue);
    const target = createStraitTarget();
    const problems: string[] = [];
    let statuses = 0;
    for (const test of catalogue.tests.filter((t) => t.baseManifests.includes("base/manifests.yaml"))) {
      const { cluster } = newCluster(options, test);
      // Status is output, not input: the first pass already gives the final statuses.
      const first = target.reconcile(cluster.store, FIXED_NOW);
      settle(target, cluster);
      const out = target.reconcile(cluster.store, cluster.now());
      // A fresh pipeline (no cache: cached route statuses keep the stamp of the pass that built them,
      // which the status writers replace by the object's own transition times anyway).
      const again = createStraitTarget().reconcile(cluster.store, FIXED_NOW);
      if (JSON.stringify(sortedStatuses(again.statuses)) !== JSON.stringify(sortedStatuses(first.statuses)))
        problems.push(`${test.name}: statuses after settling differ from the first pass's`);
      statuses += out.statuses.length;
      for (const p of statusesSchemaProblems(out.statuses)) problems.push(`${test.name}: ${p}`);
      for (const p of missingParentStatuses(cluster.store, out.statuses)) problems.push(`${test.name}: ${p}`);
    }
    expect(problems).toEqual([]);
    expect(statuses).toBeGreaterThan(500);
  }, 120_000);

  it("for every golden case", () => {
    const load = (file: string, store: ResourceStore) => {
      for (const o of parseManifestText(file, readFileSync(file, "utf8")).objects)
        store.upsert(o.kind, o.object);
    };
    const problems: string[] = [];
    const cases = readdirSync(GOLDEN, { withFileTypes: true }).filter((d) => d.isDirectory());
    for (const c of cases) {
      const store = new ResourceStore();
      load(join(GOLDEN, "common.yaml"), store);
      load(join(GOLDEN, c.name, "input.yaml"), store);
      const out = runPipeline(store, {
        now: new Date("2026-01-01T00:00:00Z"),
        addressPool: ["127.0.1.0/24"],
      });
      for (const p of statusesSchemaProblems(out.statuses)) problems.push(`${c.name}: ${p}`);
    }
    expect(cases.length).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});
