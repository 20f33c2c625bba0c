/**
 * Golden tests of the two pure stages, one folder per case under
 * testdata/gateway/ (named after the conformance test or the Gateway API spec
 * section it pins):
 *
 *   input.yaml (+ common.yaml, + mesh.yaml for Mesh* cases) ──gateway stage──► statuses.yaml, model.yaml
 *                               ──xds translate──► envoy.yaml
 *
 * The goldens are regenerated only with UPDATE_GOLDEN=1 (and reviewed); a
 * missing golden fails, it is never written and compared with itself. Every
 * Envoy resource must also encode with the real Envoy protos.
 *
 * A case with an expect.yaml (written by hand, never generated) also loads
 * backends.yaml and says in input.yaml what it pins (`# Pins:`) and where its
 * expectation comes from (`# Source:` a spec section or an official test).
 * expect.yaml lists conditions the statuses must carry (manifests → statuses)
 * and requests with what must answer them, evaluated by the simulator on the
 * encoded Envoy resources (model → Envoy resources).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import type { ObjectStatus } from "../model/status.ts";
import { parseManifestText } from "../sources/manifests.ts";
import { ResourceStore } from "../sources/store.ts";
import { encodeResource } from "../xds/proto/index.ts";
import { finalizeResponse, prepareNodeConfig, simulate } from "../xds/simulate/index.ts";
import { translateGatewayModel } from "../xds/translate/index.ts";
import { translateGateways } from "./index.ts";

const ROOT = join(import.meta.dirname, "../../testdata/gateway");
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

interface ExpectedCondition {
  /** `Kind namespace/name` (or `Kind name` for cluster-scoped objects). */
  readonly object: string;
  /** For a route: its parent Gateway `namespace/name` (and `/section` to pick the sectionName entry). */
  readonly parent?: string;
  /** For a Gateway: one of its listeners. */
  readonly listener?: string;
  readonly type: string;
  readonly status: "True" | "False" | "Unknown";
  readonly reason?: string;
}

interface ExpectedListener {
  readonly gateway: string;
  readonly listener: string;
  readonly attachedRoutes: number;
}

interface ExpectedRequest {
  /** `namespace/name` of the Gateway whose status address is dialled. */
  readonly gateway?: string;
  /**
   * A mesh request instead (GAMMA): a pod at `from` (its IP; absent: an
   * address no pod has) connects to this Service's ClusterIP at `port`, and
   * the datapath redirects it to the mesh listener.
   */
  readonly mesh?: { readonly service: string; readonly from?: string };
  readonly port: number;
  readonly host: string;
  readonly path?: string;
  readonly method?: string;
  /** The client speaks HTTP/2 (h2c with prior knowledge without `https`: a gRPC client). */
  readonly http2?: boolean;
  readonly headers?: Readonly<Record<string, string>>;
  readonly https?: { readonly sni: string };
  /** `namespace/service` that must serve it (any port). */
  readonly backend?: string;
  /** An answer from the gateway itself (404, 500, 301, …). */
  readonly status?: number;
  /** The Location of a redirect, or the Locations the spec allows. */
  readonly location?: string | readonly string[];
  /** Response headers Envoy adds or sets (lower-case names); `null`: absent. */
  readonly responseHeaders?: Readonly<Record<string, string | null>>;
  /** Headers the backend must receive (lower-case names). */
  readonly upstreamHeaders?: Readonly<Record<string, string>>;
  /** Path (with query) the backend must receive. */
  readonly upstreamPath?: string;
  /** Host (authority) the backend must receive. */
  readonly upstreamHost?: string;
  /** The route timeout Envoy applies (`0s`: none). */
  readonly timeout?: string;
  /** No TLS or TCP connection at all. */
  readonly connectionFails?: boolean;
}

interface Expectation {
  readonly conditions?: readonly ExpectedCondition[];
  readonly listeners?: readonly ExpectedListener[];
  /** Objects that must get no status from strait at all (`Kind namespace/name`). */
  readonly noStatus?: readonly string[];
  readonly requests?: readonly ExpectedRequest[];
}

type Condition = { type: string; status: string; reason: string };
type StatusBody = {
  conditions?: Condition[];
  parents?: {
    parentRef: { name: string; namespace?: string; sectionName?: string };
    conditions?: Condition[];
  }[];
  listeners?: { name: string; attachedRoutes: number; conditions?: Condition[] }[];
  addresses?: { value: string }[];
};

function refOf(text: string): { kind: string; namespace: string; name: string } {
  const [kind = "", rest = ""] = text.split(" ");
  const [a = "", b] = rest.split("/");
  return b === undefined ? { kind, namespace: "", name: a } : { kind, namespace: a, name: b };
}

function statusFor(statuses: readonly ObjectStatus[], text: string): StatusBody | undefined {
  const ref = refOf(text);
  return statuses.find(
    (s) => s.ref.kind === ref.kind && s.ref.namespace === ref.namespace && s.ref.name === ref.name,
  )?.status as StatusBody | undefined;
}

function conditionsAt(statuses: readonly ObjectStatus[], c: ExpectedCondition): Condition[] | string {
  const status = statusFor(statuses, c.object);
  if (status === undefined) return `${c.object} has no status`;
  const routeNs = refOf(c.object).namespace;
  if (c.parent !== undefined) {
    const [ns = "", name = "", section] = c.parent.split("/");
    const entry = (status.parents ?? []).find(
      (p) =>
        p.parentRef.name === name &&
        (p.parentRef.namespace ?? routeNs) === ns &&
        (section === undefined || p.parentRef.sectionName === section),
    );
    return entry === undefined
      ? `${c.object} has no parent status for ${c.parent}`
      : (entry.conditions ?? []);
  }
  if (c.listener !== undefined) {
    const l = (status.listeners ?? []).find((x) => x.name === c.listener);
    return l === undefined ? `${c.object} has no listener ${c.listener}` : (l.conditions ?? []);
  }
  return status.conditions ?? [];
}

const cases = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

describe("gateway golden cases", () => {
  it("has cases", () => expect(cases.length).toBeGreaterThanOrEqual(100));

  it.each(cases)("%s", (name) => {
    const dir = join(ROOT, name);
    const expectFile = join(dir, "expect.yaml");
    const handWritten = existsSync(expectFile);
    const store = new ResourceStore();
    load(join(ROOT, "common.yaml"), store);
    // The mesh (GAMMA) cases share the mesh tests' setup: Services with ClusterIPs, pods, endpoints.
    if (name.startsWith("Mesh")) load(join(ROOT, "mesh.yaml"), store);
    if (handWritten) {
      expect(
        readFileSync(join(dir, "input.yaml"), "utf8"),
        "input.yaml must say what it pins and where",
      ).toMatch(/^# Pins: .+\n(# .*\n)*# Source: .+/m);
      load(join(ROOT, "backends.yaml"), store);
    }
    load(join(dir, "input.yaml"), store);
    const { model, statuses } = translateGateways(store, { now: NOW, addressPool: ["127.0.1.0/24"] });
    golden(dir, "statuses.yaml", statuses);
    golden(dir, "model.yaml", model);
    const resources = translateGatewayModel(model);
    const envoy = Object.fromEntries(
      Object.entries(resources).map(([type, byName]) => [
        type.split(".").pop(),
        Object.fromEntries([...byName].sort(([a], [b]) => (a < b ? -1 : 1))),
      ]),
    );
    golden(dir, "envoy.yaml", envoy);
    for (const [type, byName] of Object.entries(resources)) {
      for (const [resource, json] of byName)
        expect(encodeResource(type, json).issues, `${resource}`).toEqual([]);
    }
    if (!handWritten) return;

    const expectation = (parse(readFileSync(expectFile, "utf8")) ?? {}) as Expectation;
    for (const c of expectation.conditions ?? []) {
      const label = `${c.object}${c.parent === undefined ? "" : ` parent ${c.parent}`}${c.listener === undefined ? "" : ` listener ${c.listener}`} ${c.type}`;
      const list = conditionsAt(statuses, c);
      expect(typeof list === "string" ? list : undefined, label).toBeUndefined();
      const found = (list as Condition[]).find((x) => x.type === c.type);
      expect(found === undefined ? "absent" : found.status, label).toBe(c.status);
      if (c.reason !== undefined) expect(found?.reason, label).toBe(c.reason);
    }
    for (const l of expectation.listeners ?? []) {
      const status = statusFor(statuses, `Gateway ${l.gateway}`);
      const got = status?.listeners?.find((x) => x.name === l.listener)?.attachedRoutes;
      expect(got, `Gateway ${l.gateway} listener ${l.listener} attachedRoutes`).toBe(l.attachedRoutes);
    }
    for (const object of expectation.noStatus ?? [])
      expect(statusFor(statuses, object), `${object} must get no status`).toBeUndefined();

    const { config, issues } = prepareNodeConfig(resources);
    expect(issues).toEqual([]);
    for (const r of expectation.requests ?? []) {
      const address =
        r.mesh === undefined
          ? (statusFor(statuses, `Gateway ${r.gateway}`)?.addresses?.[0]?.value ?? "")
          : (model.mesh.services.find((m) => m.service === r.mesh?.service)?.address ?? "");
      const method = r.method ?? "GET";
      const path = r.path ?? "/";
      const result = simulate(config, {
        address,
        port: r.port,
        ...(r.mesh === undefined ? {} : { via: "mesh" as const }),
        ...(r.mesh?.from === undefined ? {} : { remoteAddress: r.mesh.from }),
        ...(r.https === undefined ? {} : { tls: { sni: r.https.sni } }),
        ...(r.http2 === true ? { http2: true } : {}),
        method,
        scheme: r.https === undefined ? "http" : "https",
        authority: r.host,
        path,
        headers: Object.entries(r.headers ?? {}).map(([n, v]) => [n.toLowerCase(), v] as const),
      });
      const label = `${method} ${r.host}:${r.port}${path}\n${result.trace.join("\n")}`;
      const outcome = result.outcome;
      if (r.connectionFails === true) {
        expect(outcome.kind, label).toBe("connection-failed");
        continue;
      }
      if (r.backend !== undefined && outcome.kind === "tcp-forward") {
        // A mesh Service port without routes: the stream goes to the Service's endpoints as it is.
        expect(r.mesh, `${label}\nonly a mesh request may be proxied as TCP`).toBeDefined();
        // Its cluster is the mesh's own (strait/mesh-tcp/<namespace>/<service>:<port>).
        expect(outcome.cluster.replace(/^strait\/mesh-tcp\//, "").replace(/:\d+$/, ""), label).toBe(
          r.backend,
        );
        for (const h of Object.keys(r.responseHeaders ?? {}))
          expect(r.responseHeaders?.[h], `${label}\nno response headers on a TCP stream`).toBeNull();
        continue;
      }
      if (r.backend !== undefined) {
        expect(outcome.kind, label).toBe("forward");
        if (outcome.kind !== "forward") continue;
        // Its cluster is the mesh's own (strait/mesh-tcp/<namespace>/<service>:<port>).
        expect(outcome.cluster.replace(/^strait\/mesh-tcp\//, "").replace(/:\d+$/, ""), label).toBe(
          r.backend,
        );
        for (const [h, v] of Object.entries(r.upstreamHeaders ?? {}))
          expect(
            outcome.request.headers
              .filter(([n]) => n === h)
              .map(([, x]) => x)
              .join(","),
            `${label}\nheader ${h}`,
          ).toBe(v);
        if (r.upstreamPath !== undefined) expect(outcome.request.path, label).toBe(r.upstreamPath);
        if (r.upstreamHost !== undefined) expect(outcome.request.authority, label).toBe(r.upstreamHost);
        if (r.timeout !== undefined) expect(outcome.timeout, label).toBe(r.timeout);
        for (const [h, v] of Object.entries(r.responseHeaders ?? {})) {
          // The echo backend answers with no headers of its own: what the client sees is Envoy's.
          const got = finalizeResponse(outcome, [])
            .filter(([n]) => n === h)
            .map(([, x]) => x);
          expect(got.length === 0 ? null : got.join(","), `${label}\nresponse header ${h}`).toBe(v);
        }
      }
      if (r.status !== undefined) {
        expect(outcome.kind, label).toBe("local-response");
        if (outcome.kind !== "local-response") continue;
        expect(outcome.status, label).toBe(r.status);
        if (r.location !== undefined)
          expect([r.location].flat(), label).toContain(outcome.headers.find(([n]) => n === "location")?.[1]);
      }
    }
  });
});
