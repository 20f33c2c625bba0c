/**
 * Golden tests of the policy stage, one folder per case under
 * testdata/policy/ (named after the Cilium documentation example or the
 * semantic it pins; its input.yaml says which and where the expectation
 * comes from):
 *
 *   common.yaml + input.yaml ──policy stage──► statuses.yaml, identities.yaml, nodes.yaml
 *   expect.yaml: flows and their verdicts, written by hand from Cilium's
 *                documentation, checked with the trace (the datapath's lookup
 *                and the proxy's HTTP matching) against the computed policy.
 *
 * The goldens are regenerated with UPDATE_GOLDEN=1 (and reviewed); a missing
 * golden fails. The flows in expect.yaml are never generated.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { parseManifestText } from "../sources/manifests.ts";
import { ResourceStore } from "../sources/store.ts";
import { encodeResource, TYPE_URLS } from "../xds/proto/index.ts";
import { l7Resources } from "../xds/translate/l7-policy.ts";
import { parseHttpRequest } from "./http-match.ts";
import { computePolicy } from "./index.ts";
import { type TracePeer, tracePolicy } from "./trace.ts";

const ROOT = join(import.meta.dirname, "../../testdata/policy");
const UPDATE = process.env.UPDATE_GOLDEN === "1";
const NOW = new Date("2026-01-01T00:00:00Z");

function load(file: string, store: ResourceStore): void {
  const set = parseManifestText(file, readFileSync(file, "utf8"));
  if (set.diagnostics.length > 0) throw new Error(`${file}: ${JSON.stringify(set.diagnostics)}`);
  for (const o of set.objects) store.upsert(o.kind, o.object);
}

function golden(dir: string, name: string, value: unknown): void {
  const file = join(dir, name);
  const text = stringify(value, { lineWidth: 0, sortMapEntries: false, aliasDuplicateObjects: false });
  if (UPDATE) writeFileSync(file, text);
  expect(existsSync(file), `${file} is missing: run with UPDATE_GOLDEN=1 and review it`).toBe(true);
  expect(text).toBe(readFileSync(file, "utf8"));
}

interface Flow {
  readonly from: string;
  readonly to: string;
  readonly port: number;
  readonly protocol?: "TCP" | "UDP";
  readonly http?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly verdict: "ALLOWED" | "DENIED";
  readonly deniedAt?: string;
  readonly proxied?: boolean;
  readonly why?: string;
}

function peer(text: string): TracePeer {
  if (/^ID:\d+$/.test(text)) return { kind: "identity", id: Number(text.slice(3)) };
  if (/^\d+\.\d+\.\d+\.\d+$/.test(text)) return { kind: "ip", ip: text };
  return { kind: "pod", pod: text };
}

const cases = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

describe("policy golden cases", () => {
  it("has cases", () => expect(cases.length).toBeGreaterThanOrEqual(15));

  it.each(cases)("%s", (name) => {
    const dir = join(ROOT, name);
    const input = readFileSync(join(dir, "input.yaml"), "utf8");
    expect(input, "input.yaml must say what it pins and where the expectation comes from").toMatch(
      /^# Pins: .+\n(# .*\n)*# Source: .+/m,
    );
    const store = new ResourceStore();
    load(join(ROOT, "common.yaml"), store);
    load(join(dir, "input.yaml"), store);
    const output = computePolicy(store, { now: NOW });
    golden(dir, "statuses.yaml", output.statuses);
    golden(dir, "identities.yaml", output.identities);
    // Every node carries the identities too; identities.yaml has them once.
    golden(
      dir,
      "nodes.yaml",
      output.nodes.map(({ identities: _, ...node }) => node),
    );

    // The node's Envoy configuration for its L7 policies; every resource must pass strict encoding.
    const envoy = Object.fromEntries(
      output.nodes.flatMap((n) => {
        const r = l7Resources(n, { accessLog: "/run/strait/envoy-access.log" });
        for (const [resource, json] of r.listeners)
          expect(encodeResource(TYPE_URLS.listener, json).issues, resource).toEqual([]);
        for (const [resource, json] of r.clusters)
          expect(encodeResource(TYPE_URLS.cluster, json).issues, resource).toEqual([]);
        return r.listeners.size === 0
          ? []
          : [
              [
                n.node,
                { listeners: Object.fromEntries(r.listeners), clusters: Object.fromEntries(r.clusters) },
              ],
            ];
      }),
    );
    if (Object.keys(envoy).length > 0 || existsSync(join(dir, "envoy.yaml")))
      golden(dir, "envoy.yaml", envoy);

    const expectation = parse(readFileSync(join(dir, "expect.yaml"), "utf8")) as { flows?: Flow[] };
    for (const f of expectation.flows ?? []) {
      const parsed = f.http === undefined ? undefined : parseHttpRequest(f.http, "server");
      const http = parsed === undefined ? undefined : { ...parsed, headers: f.headers ?? {} };
      const result = tracePolicy(output, {
        src: peer(f.from),
        dst: peer(f.to),
        protocol: f.protocol ?? "TCP",
        port: f.port,
        ...(http === undefined ? {} : { http }),
      });
      const label = `${f.from} -> ${f.to}:${f.port}${f.http === undefined ? "" : ` ${f.http}`}\n${result.lines.join("\n")}`;
      expect(result.verdict, label).toBe(f.verdict);
      if (f.deniedAt !== undefined) expect(result.deniedAt, label).toBe(f.deniedAt);
      if (f.proxied !== undefined) expect(result.proxyPort !== undefined, label).toBe(f.proxied);
    }
  });
});
