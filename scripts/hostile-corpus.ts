/**
 * The hostile-input corpus: a baseline of good objects (three teams behind a
 * shared Gateway, a network policy) and over a thousand hostile cases, each
 * meant to be loaded next to the baseline, in its own namespace (`hostile`),
 * attached to the same shared Gateway. Deterministic: the same cases, in the
 * same order, every run. test/hostile-corpus.test.ts runs every case through
 * `strait status`/`translate`'s pipeline, a sample through a live `strait
 * run` (edits while running) and the agent and xDS cases through those
 * servers, asserting no crash, no hang, a clear error or condition, and the
 * baseline's resources and statuses unchanged.
 *
 *   node scripts/hostile-corpus.ts [--out DIR]   write the cases (one folder each) and print the counts
 */
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { re2Error } from "../src/gateway/route-matches.ts";

/** What a case must produce besides leaving the baseline alone. */
export type Expectation =
  /** A diagnostic, an exclusion or a False condition on a hostile object: the input is refused, and said so. */
  | "refused"
  /** Odd but valid input: served or ignored; only the baseline's integrity is checked. */
  | "tolerated";

export interface ManifestCase {
  readonly type: "manifest";
  readonly id: string;
  readonly category: string;
  /** Files beside the baseline, by path relative to the manifests folder. */
  readonly files: Readonly<Record<string, string>>;
  /** Symlinks to create: link path (relative) → target (as written). */
  readonly symlinks?: Readonly<Record<string, string>>;
  /** Folders to create (empty unless files go in them). */
  readonly folders?: readonly string[];
  readonly expect: Expectation;
}

export interface AgentCase {
  readonly type: "agent";
  readonly id: string;
  readonly category: "agent-api";
  readonly method: "GET" | "PUT" | "POST" | "DELETE";
  readonly url: string;
  /** The raw body, sent with content-type application/json. */
  readonly body: string;
  /** Over the TCP listener (read-only without a token) or the unix socket (takes writes). */
  readonly listener: "tcp" | "socket";
  readonly status: number;
}

export interface XdsCase {
  readonly type: "xds";
  readonly id: string;
  readonly category: "xds-api";
  readonly mode: "sotw" | "delta";
  /** Requests as proto3 JSON (encoded by the client), or raw bytes in base64 (`raw:`). */
  readonly requests: readonly (Record<string, unknown> | `raw:${string}`)[];
  /** Stream churn: this many such streams at once, opened and cut together (default 1). */
  readonly streams?: number;
  /**
   * A slow reader: the stream sends its requests and never reads, and stays
   * open while a large update (far over one HTTP/2 window) goes to every
   * client and the others are checked.
   */
  readonly reads?: false;
}

export type HostileCase = ManifestCase | AgentCase | XdsCase;

export const HOSTILE_NAMESPACE = "hostile";
export const HOSTILE_HOST = "hostile.example";

const doc = (...objects: unknown[]) => objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n");

// ---- the baseline ----

const GATEWAY_CLASS = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "GatewayClass",
  metadata: { name: "strait" },
  spec: { controllerName: "strait.dev/gateway-controller" },
};

function namespace(name: string, labels: Record<string, string> = {}) {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

function service(ns: string, name: string, port = 80, targetPort: unknown = 8080) {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: ns },
    spec: { selector: { app: name }, ports: [{ name: "http", port, targetPort, protocol: "TCP" }] },
  };
}

function endpointSlice(ns: string, service: string, addresses: unknown[], port: unknown = 8080, extra = {}) {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `${service}-1`, namespace: ns, labels: { "kubernetes.io/service-name": service } },
    addressType: "IPv4",
    ports: [{ name: "http", port, protocol: "TCP" }],
    endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
    ...extra,
  };
}

function route(ns: string, name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: ns },
    spec,
  };
}

const EDGE = { name: "edge", namespace: "infra" };

/**
 * Baseline objects carry a creationTimestamp, as objects in a cluster do: the
 * Gateway API resolves conflicts (two Gateways asking for one address) in
 * favour of the older object, and the hostile objects are the newer ones.
 */
function dated(text: string): string {
  return text.replace(/^metadata:\n/gm, "metadata:\n  creationTimestamp: 2026-01-01T00:00:00Z\n");
}

/** Good objects in namespaces infra, shop and team-b, and a network policy in shop. */
export function baselineFiles(): Record<string, string> {
  return Object.fromEntries(Object.entries(undatedBaseline()).map(([path, text]) => [path, dated(text)]));
}

function undatedBaseline(): Record<string, string> {
  return {
    "baseline/gateway.yaml": doc(GATEWAY_CLASS, namespace("infra"), {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "edge", namespace: "infra" },
      spec: {
        gatewayClassName: "strait",
        addresses: [{ type: "IPAddress", value: "127.0.1.1" }],
        listeners: [
          { name: "http", protocol: "HTTP", port: 8080, allowedRoutes: { namespaces: { from: "All" } } },
        ],
      },
    }),
    "baseline/shop.yaml": doc(
      namespace("shop"),
      service("shop", "store"),
      endpointSlice("shop", "store", ["10.1.0.11", "10.1.0.12"]),
      service("shop", "landing"),
      endpointSlice("shop", "landing", ["10.1.0.20"]),
      route("shop", "shop", {
        parentRefs: [EDGE],
        hostnames: ["shop.example.com"],
        rules: [
          {
            matches: [{ path: { type: "PathPrefix", value: "/store" } }],
            filters: [
              {
                type: "RequestHeaderModifier",
                requestHeaderModifier: { set: [{ name: "x-team", value: "shop" }] },
              },
            ],
            backendRefs: [{ name: "store", port: 80 }],
          },
          {
            matches: [{ path: { type: "RegularExpression", value: "/item/[0-9]+" } }],
            backendRefs: [{ name: "store", port: 80 }],
          },
          { backendRefs: [{ name: "landing", port: 80 }] },
        ],
      }),
      {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name: "node-a", labels: { "kubernetes.io/hostname": "node-a" } },
        status: { addresses: [{ type: "InternalIP", address: "192.0.2.1" }] },
      },
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "store-0", namespace: "shop", labels: { app: "store" } },
        spec: { nodeName: "node-a", containers: [{ name: "c", image: "x" }] },
        status: { podIP: "10.1.0.11", podIPs: [{ ip: "10.1.0.11" }], phase: "Running" },
      },
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "landing-0", namespace: "shop", labels: { app: "landing" } },
        spec: { nodeName: "node-a", containers: [{ name: "c", image: "x" }] },
        status: { podIP: "10.1.0.20", podIPs: [{ ip: "10.1.0.20" }], phase: "Running" },
      },
      {
        apiVersion: "cilium.io/v2",
        kind: "CiliumNetworkPolicy",
        metadata: { name: "store-from-landing", namespace: "shop" },
        spec: {
          endpointSelector: { matchLabels: { app: "store" } },
          ingress: [
            {
              fromEndpoints: [{ matchLabels: { app: "landing" } }],
              toPorts: [{ ports: [{ port: "8080", protocol: "TCP" }] }],
            },
          ],
        },
      },
    ),
    "baseline/team-b.yaml": doc(
      namespace("team-b"),
      service("team-b", "api"),
      endpointSlice("team-b", "api", ["10.2.0.5"]),
      route("team-b", "api", {
        parentRefs: [EDGE],
        hostnames: ["api.team-b.example"],
        rules: [
          {
            matches: [
              { path: { type: "Exact", value: "/v1" }, headers: [{ name: "x-version", value: "1" }] },
            ],
            backendRefs: [{ name: "api", port: 80, weight: 3 }],
          },
        ],
      }),
    ),
  };
}

// ---- manifest cases ----

const HOSTILE_NS = namespace(HOSTILE_NAMESPACE);
const HOSTILE_SERVICE = service(HOSTILE_NAMESPACE, "svc");
const HOSTILE_SLICE = endpointSlice(HOSTILE_NAMESPACE, "svc", ["10.9.0.1"]);

/** A hostile HTTPRoute (with its namespace, Service and endpoints) on the shared Gateway. */
function hostileRoute(spec: Record<string, unknown>, name = "r"): string {
  return doc(
    HOSTILE_NS,
    HOSTILE_SERVICE,
    HOSTILE_SLICE,
    route(HOSTILE_NAMESPACE, name, { parentRefs: [EDGE], hostnames: [HOSTILE_HOST], ...spec }),
  );
}

function ruleWith(rule: Record<string, unknown>): Record<string, unknown> {
  return { rules: [{ backendRefs: [{ name: "svc", port: 80 }], ...rule }] };
}

interface Builder {
  readonly cases: HostileCase[];
  add(
    category: string,
    name: string,
    files: Record<string, string>,
    expect: Expectation,
    extra?: object,
  ): void;
}

function builder(): Builder {
  const cases: HostileCase[] = [];
  const ids = new Set<string>();
  return {
    cases,
    add(category, name, files, expect, extra = {}) {
      let id = `${category}/${name}`.replace(/[^A-Za-z0-9/._-]+/g, "_").slice(0, 120);
      for (let n = 2; ids.has(id); n++) id = `${category}/${name}-${n}`.replace(/[^A-Za-z0-9/._-]+/g, "_");
      ids.add(id);
      cases.push({ type: "manifest", id, category, files, expect, ...extra });
    },
  };
}

const F = "hostile.yaml";

function yamlSyntax(b: Builder): void {
  const base = hostileRoute({ rules: [{ backendRefs: [{ name: "svc", port: 80 }] }] });
  const texts: [string, string][] = [
    ["tab-indent", base.replace(/\n {2}/g, "\n\t")],
    ["unclosed-quote", `${base}\n---\nkind: "HTTPRoute\n`],
    ["unclosed-flow", "apiVersion: v1\nkind: Service\nmetadata: { name: x, namespace: hostile\n"],
    ["unclosed-list", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [\n"],
    ["bad-indent", "apiVersion: v1\n kind: Service\nmetadata:\n  name: x\n"],
    [
      "duplicate-keys",
      "apiVersion: v1\nkind: Service\nkind: Secret\nmetadata: {name: x, namespace: hostile}\n",
    ],
    [
      "alias-bomb",
      `a: &a ["x","x","x","x","x","x","x","x","x"]\n${Array.from({ length: 12 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`).join("\n")}\n`,
    ],
    ["undefined-alias", "apiVersion: v1\nkind: Service\nmetadata: *nothing\n"],
    ["python-tag", "apiVersion: v1\nkind: Service\nmetadata: !!python/object:os.system {name: x}\n"],
    ["js-function-tag", "apiVersion: v1\nkind: Service\nmetadata: !!js/function 'function(){}'\n"],
    [
      "binary-tag",
      "apiVersion: v1\nkind: Secret\nmetadata: {name: b, namespace: hostile}\ndata: !!binary '%%%'\n",
    ],
    ["nul-bytes", `apiVersion: v1\nkind: Service\nmetadata: {name: "a\u0000b", namespace: hostile}\n`],
    ["control-chars", `apiVersion: v1\nkind: Service\u0007\nmetadata: {name: x}\n`],
    ["bom-middle", `${base}\n---\n\uFEFFapiVersion: v1\nkind: Namespace\nmetadata: {name: bom}\n`],
    ["only-separators", "---\n---\n---\n"],
    ["garbage-after-doc", `${base}\n...\n}}}{{{`],
    ["directive-garbage", "%YAML 9.9\n%TAG ! !foo\n---\napiVersion: v1\n"],
    ["merge-key-loop", "a: &a {<<: *a}\n"],
    [
      "huge-int",
      "apiVersion: v1\nkind: Service\nmetadata: {name: x, namespace: hostile}\nspec: {ports: [{port: 99999999999999999999999}]}\n",
    ],
    [
      "infinity-port",
      "apiVersion: v1\nkind: Service\nmetadata: {name: x, namespace: hostile}\nspec: {ports: [{port: .inf}]}\n",
    ],
    [
      "nan-port",
      "apiVersion: v1\nkind: Service\nmetadata: {name: x, namespace: hostile}\nspec: {ports: [{port: .nan}]}\n",
    ],
    [
      "octal-port",
      "apiVersion: v1\nkind: Service\nmetadata: {name: x, namespace: hostile}\nspec: {ports: [{port: 0o777777}]}\n",
    ],
    ["complex-key", "? [a, b]\n: c\n"],
    ["multiline-key", "apiVersion: v1\nkind: Service\nmetadata:\n  ? |\n    name\n  : x\n"],
    ["only-comment", "# nothing here\n"],
    ["empty", ""],
    ["whitespace", "   \n\t\n"],
    ["latin1-bytes", "apiVersion: v1\nkind: Service\nmetadata: {name: caf\u00e9, namespace: hostile}\n"],
    ["lone-surrogate", `apiVersion: v1\nkind: Service\nmetadata: {name: "\\ud800", namespace: hostile}\n`],
    [
      "very-long-line",
      `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: long, namespace: hostile}\ndata: {a: "${"x".repeat(200_000)}"}\n`,
    ],
  ];
  for (const [name, text] of texts) {
    const tolerated = [
      "only-separators",
      "only-comment",
      "empty",
      "whitespace",
      "very-long-line",
      "bom-middle",
      "huge-int",
    ].includes(name);
    b.add("yaml-syntax", name, { [F]: text }, tolerated ? "tolerated" : "refused");
  }
  const jsonTexts: [string, string][] = [
    ["json-truncated", '{"apiVersion": "v1", "kind": "Service", "metadata": {'],
    ["json-trailing-comma", '{"apiVersion": "v1", "kind": "Service",}'],
    ["json-comments", '// c\n{"apiVersion": "v1"}'],
    ["json-nan", '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": NaN}}'],
    ["json-array-of-garbage", "[1, 2, 3]"],
    ["json-string", '"just a string"'],
    ["json-null", "null"],
    ["json-number", "42"],
    ["json-duplicate-keys", '{"apiVersion":"v1","kind":"Namespace","kind":"Secret","metadata":{"name":"x"}}'],
    [
      "json-proto-pollution",
      '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"pp","__proto__":{"polluted":true}}}',
    ],
  ];
  for (const [name, text] of jsonTexts)
    b.add(
      "yaml-syntax",
      name,
      { "hostile.json": text },
      // JSON allows repeated names (the last one counts, as for kubectl): tolerated.
      name === "json-proto-pollution" || name === "json-duplicate-keys" ? "tolerated" : "refused",
    );
}

const ALL_KINDS = [
  ["gateway.networking.k8s.io/v1", "GatewayClass"],
  ["gateway.networking.k8s.io/v1", "Gateway"],
  ["gateway.networking.k8s.io/v1", "HTTPRoute"],
  ["gateway.networking.k8s.io/v1", "GRPCRoute"],
  ["gateway.networking.k8s.io/v1", "ReferenceGrant"],
  ["gateway.networking.k8s.io/v1", "BackendTLSPolicy"],
  ["gateway.networking.k8s.io/v1", "ListenerSet"],
  ["v1", "Service"],
  ["discovery.k8s.io/v1", "EndpointSlice"],
  ["v1", "Secret"],
  ["v1", "ConfigMap"],
  ["v1", "Namespace"],
  ["v1", "Pod"],
  ["v1", "Node"],
  ["cilium.io/v2", "CiliumNetworkPolicy"],
  ["networking.k8s.io/v1", "Ingress"],
] as const;

function structure(b: Builder): void {
  const values: [string, unknown][] = [
    ["list", [1, 2]],
    ["string", "text"],
    ["number", 7],
    ["bool", true],
    ["null-metadata", { apiVersion: "v1", kind: "Service", metadata: null }],
    ["no-apiversion", { kind: "Service", metadata: { name: "x", namespace: "hostile" } }],
    ["no-kind", { apiVersion: "v1", metadata: { name: "x", namespace: "hostile" } }],
    ["empty-kind", { apiVersion: "v1", kind: "", metadata: { name: "x" } }],
    ["kind-list", { apiVersion: "v1", kind: ["Service"], metadata: { name: "x" } }],
    ["apiversion-number", { apiVersion: 1, kind: "Service", metadata: { name: "x" } }],
    ["no-name", { apiVersion: "v1", kind: "Service", metadata: { namespace: "hostile" } }],
    ["empty-name", { apiVersion: "v1", kind: "Service", metadata: { name: "", namespace: "hostile" } }],
    ["metadata-list", { apiVersion: "v1", kind: "Service", metadata: ["name", "x"] }],
    ["metadata-string", { apiVersion: "v1", kind: "Service", metadata: "x" }],
    ["list-of-garbage", { apiVersion: "v1", kind: "List", items: [1, "x", null, { kind: "Service" }] }],
    ["list-items-not-list", { apiVersion: "v1", kind: "List", items: { a: 1 } }],
    [
      "spec-string",
      { apiVersion: "v1", kind: "Service", metadata: { name: "x", namespace: "hostile" }, spec: "x" },
    ],
    [
      "spec-list",
      { apiVersion: "v1", kind: "Service", metadata: { name: "x", namespace: "hostile" }, spec: [] },
    ],
    [
      "route-rules-map",
      route(HOSTILE_NAMESPACE, "r", { parentRefs: [EDGE], hostnames: [HOSTILE_HOST], rules: { a: 1 } }),
    ],
    [
      "cluster-scoped-namespace",
      { ...namespace("hostile-2"), metadata: { name: "hostile-2", namespace: "shop" } },
    ],
    [
      "version-unserved",
      {
        ...route(HOSTILE_NAMESPACE, "r", { parentRefs: [EDGE] }),
        apiVersion: "gateway.networking.k8s.io/v9",
      },
    ],
  ];
  for (const [name, value] of values) {
    const tolerated = name === "cluster-scoped-namespace";
    b.add("structure", name, { [F]: doc(HOSTILE_NS, value) }, tolerated ? "tolerated" : "refused");
  }
  // Miswritten kinds, known kinds of other groups, unknown kinds of read groups: each a warning.
  for (const [apiVersion, kind] of ALL_KINDS) {
    const obj = (k: string, v: string) => ({
      apiVersion: v,
      kind: k,
      metadata: { name: "x", namespace: "hostile" },
    });
    b.add(
      "structure",
      `lowercase-${kind}`,
      { [F]: doc(HOSTILE_NS, obj(kind.toLowerCase(), apiVersion)) },
      "refused",
    );
    b.add(
      "structure",
      `uppercase-${kind}`,
      { [F]: doc(HOSTILE_NS, obj(kind.toUpperCase(), apiVersion)) },
      "refused",
    );
    b.add(
      "structure",
      `other-group-${kind}`,
      { [F]: doc(HOSTILE_NS, obj(kind, "example.com/v1")) },
      "refused",
    );
    const group = apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
    if (group !== "" && group !== "networking.k8s.io")
      b.add(
        "structure",
        `unknown-kind-in-${kind}-group`,
        { [F]: doc(HOSTILE_NS, obj(`${kind}Typo`, apiVersion)) },
        "refused",
      );
  }
}

function types(b: Builder): void {
  const wrong: [string, unknown][] = [
    ["number", 7],
    ["negative", -1],
    ["float", 1.5],
    ["bool", true],
    ["null", null],
    ["list", ["a"]],
    ["map", { a: 1 }],
    ["empty-string", ""],
    ["huge-string", "x".repeat(70_000)],
  ];
  const fields: [string, (v: unknown) => string][] = [
    [
      "metadata.namespace",
      (v) => doc(HOSTILE_NS, { ...HOSTILE_SERVICE, metadata: { name: "typed", namespace: v } }),
    ],
    [
      "metadata.name",
      (v) => doc(HOSTILE_NS, { ...HOSTILE_SERVICE, metadata: { name: v, namespace: "hostile" } }),
    ],
    [
      "metadata.labels",
      (v) =>
        doc(HOSTILE_NS, {
          ...HOSTILE_SERVICE,
          metadata: { name: "typed", namespace: "hostile", labels: { a: v } },
        }),
    ],
    ["spec.parentRefs", (v) => hostileRoute({ parentRefs: v, rules: [] })],
    ["spec.parentRefs[0].name", (v) => hostileRoute({ parentRefs: [{ name: v }], rules: [] })],
    ["spec.hostnames", (v) => hostileRoute({ hostnames: v, rules: [] })],
    ["spec.rules", (v) => hostileRoute({ rules: v })],
    [
      "matches[0].path.value",
      (v) => hostileRoute(ruleWith({ matches: [{ path: { type: "PathPrefix", value: v } }] })),
    ],
    [
      "matches[0].path.type",
      (v) => hostileRoute(ruleWith({ matches: [{ path: { type: v, value: "/x" } }] })),
    ],
    [
      "matches[0].headers[0].name",
      (v) => hostileRoute(ruleWith({ matches: [{ headers: [{ name: v, value: "x" }] }] })),
    ],
    ["matches[0].method", (v) => hostileRoute(ruleWith({ matches: [{ method: v }] }))],
    ["backendRefs[0].name", (v) => hostileRoute({ rules: [{ backendRefs: [{ name: v, port: 80 }] }] })],
    ["backendRefs[0].port", (v) => hostileRoute({ rules: [{ backendRefs: [{ name: "svc", port: v }] }] })],
    [
      "backendRefs[0].weight",
      (v) => hostileRoute({ rules: [{ backendRefs: [{ name: "svc", port: 80, weight: v }] }] }),
    ],
    ["timeouts.request", (v) => hostileRoute(ruleWith({ timeouts: { request: v } }))],
    ["service.spec.ports", (v) => doc(HOSTILE_NS, { ...HOSTILE_SERVICE, spec: { ports: v } })],
    [
      "service.spec.ports[0].port",
      (v) => doc(HOSTILE_NS, { ...HOSTILE_SERVICE, spec: { ports: [{ port: v }] } }),
    ],
    ["endpointslice.endpoints", (v) => doc(HOSTILE_NS, HOSTILE_SERVICE, { ...HOSTILE_SLICE, endpoints: v })],
    [
      "endpointslice.addresses",
      (v) => doc(HOSTILE_NS, HOSTILE_SERVICE, { ...HOSTILE_SLICE, endpoints: [{ addresses: v }] }),
    ],
    [
      "configmap.data",
      (v) =>
        doc(HOSTILE_NS, {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "cm", namespace: "hostile" },
          data: v,
        }),
    ],
    [
      "secret.data",
      (v) =>
        doc(HOSTILE_NS, {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "s", namespace: "hostile" },
          data: { k: v },
        }),
    ],
  ];
  for (const [field, make] of fields)
    for (const [what, value] of wrong) {
      // A few combinations are valid values of the field (a string name, an empty list): tolerated, still checked for damage.
      const validString = typeof value === "string" && value !== "" && value.length < 64;
      const tolerated =
        (what === "empty-string" && ["configmap.data", "metadata.labels"].includes(field)) ||
        (what === "list" &&
          ["spec.hostnames", "spec.parentRefs", "endpointslice.addresses"].includes(field)) ||
        (what === "null" &&
          [
            "spec.hostnames",
            "spec.parentRefs",
            "spec.rules",
            "service.spec.ports",
            "endpointslice.endpoints",
            "configmap.data",
          ].includes(field)) ||
        (what === "empty-string" && field === "secret.data") ||
        // 70,000 x's are valid base64, and any string is a valid ConfigMap value or label... value here.
        (what === "huge-string" && ["configmap.data", "metadata.labels", "secret.data"].includes(field)) ||
        // null is "unset" to Kubernetes (defaults apply), "" is the default namespace to kubectl.
        (what === "null" &&
          ["metadata.namespace", "matches[0].path.value", "backendRefs[0].weight"].includes(field)) ||
        (what === "empty-string" && field === "metadata.namespace") ||
        // 7 is a valid port and a valid weight.
        (what === "number" &&
          ["backendRefs[0].weight", "service.spec.ports[0].port", "backendRefs[0].port"].includes(field)) ||
        validString;
      b.add("types", `${field}=${what}`, { [F]: make(value) }, tolerated ? "tolerated" : "refused");
    }
}

function regexes(b: Builder): void {
  const bad = [
    "(",
    ")",
    "[",
    "[z-a]",
    "a{2,1}",
    "a{1001}",
    "(?<name>x)",
    "(?=a)",
    "(?!a)",
    "(?<=a)b",
    "\\1",
    "(a)\\1",
    "*a",
    "a**",
    "\\",
    "(?i",
    "\\p{NotAClass}",
    "[[:nope:]]",
    "x{99999}",
    "(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((",
    "(a|b|c|d|e|f|g|h|i|j){1000}",
    `${"(x+x+)+".repeat(200)}y`,
    `(${"a|".repeat(5000)}b)`,
  ];
  const odd = ["", ".*", "/", "^/a$", "/\\d+", "/(a|b)", "\u0000", "/é+", "[\\x00-\\x{10FFFF}]", "/x\ny"];
  const places: [string, (p: string) => Record<string, unknown>][] = [
    ["path", (p) => ruleWith({ matches: [{ path: { type: "RegularExpression", value: p } }] })],
    [
      "header",
      (p) => ruleWith({ matches: [{ headers: [{ type: "RegularExpression", name: "x-a", value: p }] }] }),
    ],
    [
      "query",
      (p) => ruleWith({ matches: [{ queryParams: [{ type: "RegularExpression", name: "q", value: p }] }] }),
    ],
  ];
  for (const [place, make] of places) {
    // Refused exactly when RE2 (Envoy's engine) or the schema's length limit refuses it; RE2 takes named groups and large repeats.
    for (const [i, p] of bad.entries())
      b.add(
        "regexes",
        `${place}-bad-${i}`,
        { [F]: hostileRoute(make(p)) },
        re2Error(p) !== undefined || p.length > (place === "path" ? 1024 : 4096) ? "refused" : "tolerated",
      );
    odd.forEach((p, i) => {
      // An empty pattern is refused; the others (NUL and newline included) are valid RE2 and served.
      const refused = p === "";
      b.add(
        "regexes",
        `${place}-odd-${i}`,
        { [F]: hostileRoute(make(p)) },
        refused ? "refused" : "tolerated",
      );
    });
  }
}

function hostnames(b: Builder): void {
  const bad = [
    "",
    "*",
    "**.example",
    "*.*.example",
    "a.*.example",
    "a..b",
    ".a.example",
    "a.example.",
    "-a.example",
    "a-.example",
    "A.EXAMPLE",
    "ex ample.com",
    "ex_ample.com",
    "a.example:80",
    "1.2.3.4",
    "[::1]",
    "例え.jp",
    "a\nb.example",
    "a\rb.example",
    `${"a".repeat(64)}.example`,
    `${"a.".repeat(130)}example`,
    "a/b.example",
    "a@b.example",
    "localhost",
    "xn--",
  ];
  const tolerated = new Set(["localhost", "xn--"]);
  bad.forEach((h, i) => {
    b.add(
      "hostnames",
      `route-${i}`,
      { [F]: hostileRoute({ hostnames: [h], rules: [] }) },
      tolerated.has(h) ? "tolerated" : "refused",
    );
    b.add(
      "hostnames",
      `listener-${i}`,
      {
        [F]: doc(HOSTILE_NS, {
          apiVersion: "gateway.networking.k8s.io/v1",
          kind: "Gateway",
          metadata: { name: "gw", namespace: "hostile" },
          spec: {
            gatewayClassName: "strait",
            listeners: [{ name: "l", protocol: "HTTP", port: 9000, hostname: h }],
          },
        }),
      },
      tolerated.has(h) ? "tolerated" : "refused",
    );
    b.add(
      "hostnames",
      `rewrite-${i}`,
      { [F]: hostileRoute(ruleWith({ filters: [{ type: "URLRewrite", urlRewrite: { hostname: h } }] })) },
      // A rewritten Host may be an IP address, and the schema does not bound its labels.
      tolerated.has(h) || h === "1.2.3.4" || h.startsWith("a".repeat(64)) ? "tolerated" : "refused",
    );
  });
  // Many hostnames on one route, and a route claiming a baseline team's hostname (a takeover attempt).
  b.add(
    "hostnames",
    "route-17-hostnames",
    { [F]: hostileRoute({ hostnames: Array.from({ length: 17 }, (_, i) => `h${i}.example`), rules: [] }) },
    "refused",
  );
}

function portsAndWeights(b: Builder): void {
  const ports: unknown[] = [0, -1, 65536, 70000, 1.5, "80", "http", null, 2 ** 31, -(2 ** 31)];
  ports.forEach((p, i) => {
    b.add(
      "ports",
      `backend-port-${i}`,
      { [F]: hostileRoute({ rules: [{ backendRefs: [{ name: "svc", port: p }] }] }) },
      "refused",
    );
    b.add(
      "ports",
      `service-port-${i}`,
      {
        [F]: doc(HOSTILE_NS, {
          ...HOSTILE_SERVICE,
          spec: { ports: [{ name: "http", port: p, targetPort: 8080 }] },
        }),
      },
      "refused",
    );
    b.add(
      "ports",
      `target-port-${i}`,
      {
        [F]: doc(HOSTILE_NS, {
          ...HOSTILE_SERVICE,
          spec: { ports: [{ name: "http", port: 80, targetPort: p }] },
        }),
      },
      p === "http" || p === "80" ? "tolerated" : "refused",
    );
    b.add(
      "ports",
      `endpoint-port-${i}`,
      { [F]: doc(HOSTILE_NS, HOSTILE_SERVICE, { ...HOSTILE_SLICE, ports: [{ name: "http", port: p }] }) },
      p === null ? "tolerated" : "refused",
    );
    b.add(
      "ports",
      `listener-port-${i}`,
      {
        [F]: doc(HOSTILE_NS, {
          apiVersion: "gateway.networking.k8s.io/v1",
          kind: "Gateway",
          metadata: { name: "gw", namespace: "hostile" },
          spec: { gatewayClassName: "strait", listeners: [{ name: "l", protocol: "HTTP", port: p }] },
        }),
      },
      "refused",
    );
    b.add(
      "ports",
      `redirect-port-${i}`,
      {
        [F]: hostileRoute({
          rules: [{ filters: [{ type: "RequestRedirect", requestRedirect: { port: p } }] }],
        }),
      },
      "refused",
    );
  });
  // The shared Gateway's own port claimed by another Gateway with another protocol.
  b.add(
    "ports",
    "same-address-port-https",
    {
      [F]: doc(HOSTILE_NS, {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "Gateway",
        metadata: { name: "gw", namespace: "hostile" },
        spec: {
          gatewayClassName: "strait",
          addresses: [{ type: "IPAddress", value: "127.0.1.1" }],
          listeners: [
            { name: "l", protocol: "HTTPS", port: 8080, tls: { certificateRefs: [{ name: "nope" }] } },
          ],
        },
      }),
    },
    "refused",
  );
  const weights: unknown[] = [-1, 1_000_001, 2 ** 32, 1.5, "3", null, true, 1e308];
  weights.forEach((w, i) => {
    b.add(
      "weights",
      `weight-${i}`,
      { [F]: hostileRoute({ rules: [{ backendRefs: [{ name: "svc", port: 80, weight: w }] }] }) },
      w === null ? "tolerated" : "refused", // null: unset, the default weight 1
    );
    b.add(
      "weights",
      `weight-pair-${i}`,
      {
        [F]: hostileRoute({
          rules: [
            {
              backendRefs: [
                { name: "svc", port: 80, weight: w },
                { name: "svc", port: 80, weight: 1 },
              ],
            },
          ],
        }),
      },
      w === null ? "tolerated" : "refused",
    );
  });
  b.add(
    "weights",
    "all-zero",
    { [F]: hostileRoute({ rules: [{ backendRefs: [{ name: "svc", port: 80, weight: 0 }] }] }) },
    "tolerated",
  );
  b.add(
    "weights",
    "many-backends",
    {
      [F]: hostileRoute({
        rules: [{ backendRefs: Array.from({ length: 17 }, () => ({ name: "svc", port: 80 })) }],
      }),
    },
    "refused",
  );
  const mirrors: unknown[] = [
    { fraction: { numerator: 5, denominator: 0 } },
    { fraction: { numerator: -1 } },
    { percent: 101 },
    { percent: -5 },
    { fraction: { numerator: 10, denominator: 5 } },
  ];
  for (const [i, m] of mirrors.entries()) {
    b.add(
      "weights",
      `mirror-fraction-${i}`,
      {
        [F]: hostileRoute(
          ruleWith({
            filters: [
              {
                type: "RequestMirror",
                requestMirror: { backendRef: { name: "svc", port: 80 }, ...(m as object) },
              },
            ],
          }),
        ),
      },
      "refused",
    );
  }
}

function references(b: Builder): void {
  const refs: [string, Record<string, unknown>, Expectation][] = [
    ["missing-service", { rules: [{ backendRefs: [{ name: "nope", port: 80 }] }] }, "refused"],
    [
      "other-namespace-no-grant",
      { rules: [{ backendRefs: [{ name: "store", namespace: "shop", port: 80 }] }] },
      "refused",
    ],
    ["kind-pod", { rules: [{ backendRefs: [{ kind: "Pod", name: "store-0", port: 80 }] }] }, "refused"],
    [
      "group-weird",
      { rules: [{ backendRefs: [{ group: "example.com", kind: "Thing", name: "x", port: 80 }] }] },
      "refused",
    ],
    ["missing-port", { rules: [{ backendRefs: [{ name: "svc" }] }] }, "refused"],
    ["port-not-on-service", { rules: [{ backendRefs: [{ name: "svc", port: 81 }] }] }, "refused"],
    ["parent-missing", { parentRefs: [{ name: "nope", namespace: "infra" }], rules: [] }, "tolerated"],
    ["parent-section-missing", { parentRefs: [{ ...EDGE, sectionName: "nope" }], rules: [] }, "refused"],
    ["parent-port-missing", { parentRefs: [{ ...EDGE, port: 9999 }], rules: [] }, "refused"],
    [
      "parent-kind-service",
      { parentRefs: [{ kind: "Service", group: "", name: "store", namespace: "shop" }], rules: [] },
      "tolerated",
    ],
    [
      "parent-self",
      { parentRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "r" }], rules: [] },
      "tolerated",
    ],
    [
      "mirror-missing",
      ruleWith({
        filters: [{ type: "RequestMirror", requestMirror: { backendRef: { name: "nope", port: 80 } } }],
      }),
      "refused",
    ],
    [
      "mirror-other-namespace",
      ruleWith({
        filters: [
          {
            type: "RequestMirror",
            requestMirror: { backendRef: { name: "store", namespace: "shop", port: 80 } },
          },
        ],
      }),
      "refused",
    ],
    [
      "extension-ref",
      ruleWith({
        filters: [
          { type: "ExtensionRef", extensionRef: { group: "example.com", kind: "Filter", name: "x" } },
        ],
      }),
      "refused",
    ],
    ["filter-type-unknown", ruleWith({ filters: [{ type: "Teleport" }] }), "refused"],
    ["filter-missing-config", ruleWith({ filters: [{ type: "RequestHeaderModifier" }] }), "refused"],
    [
      "filter-two-configs",
      ruleWith({
        filters: [
          {
            type: "RequestHeaderModifier",
            requestHeaderModifier: { set: [] },
            urlRewrite: { hostname: "a" },
          },
        ],
      }),
      "refused",
    ],
    [
      "redirect-and-rewrite",
      ruleWith({
        filters: [
          { type: "RequestRedirect", requestRedirect: { scheme: "https" } },
          { type: "URLRewrite", urlRewrite: { hostname: "a.example" } },
        ],
      }),
      "refused",
    ],
    [
      "two-redirects",
      ruleWith({
        filters: [
          { type: "RequestRedirect", requestRedirect: {} },
          { type: "RequestRedirect", requestRedirect: {} },
        ],
      }),
      "refused",
    ],
  ];
  for (const [name, spec, expect] of refs) b.add("references", name, { [F]: hostileRoute(spec) }, expect);
  // A ReferenceGrant in the victim's namespace is the victim's to write: a grant the hostile team writes in its own namespace grants nothing.
  b.add(
    "references",
    "self-granted-cross-namespace",
    {
      [F]: `${hostileRoute({ rules: [{ backendRefs: [{ name: "store", namespace: "shop", port: 80 }] }] })}---\n${doc(
        {
          apiVersion: "gateway.networking.k8s.io/v1beta1",
          kind: "ReferenceGrant",
          metadata: { name: "g", namespace: "hostile" },
          spec: {
            from: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: "hostile" }],
            to: [{ group: "", kind: "Service" }],
          },
        },
      )}`,
    },
    "refused",
  );
  const grants: unknown[] = [
    { from: [], to: [] },
    { from: "x" },
    { from: [{ kind: "HTTPRoute" }], to: [{ kind: "Service" }] },
    { to: [{ group: "", kind: "Secret", name: 7 }] },
  ];
  for (const [i, spec] of grants.entries()) {
    b.add(
      "references",
      `grant-${i}`,
      {
        [F]: doc(HOSTILE_NS, {
          apiVersion: "gateway.networking.k8s.io/v1beta1",
          kind: "ReferenceGrant",
          metadata: { name: "g", namespace: "hostile" },
          spec,
        }),
      },
      "refused",
    );
  }
}

function headerValues(b: Builder): void {
  const values = [
    "a\r\nb",
    "a\nb",
    "a\rb",
    "a\u0000b",
    "\u0007",
    "x".repeat(70_000),
    " leading",
    "trailing ",
    "日本",
    "a\tb",
  ];
  const names = [
    "x a",
    "x:a",
    ":authority",
    "",
    "x\r\ny",
    "Host",
    "host",
    "content-length",
    "X".repeat(300),
    "x\u0000",
    "connection",
    "transfer-encoding",
    "te",
    "upgrade",
  ];
  // Valid header names Envoy accepts in these places (hop-by-hop ones included): tolerated.
  const plain = new Set(["content-length", "connection", "transfer-encoding", "te", "upgrade"]);
  // Envoy's header-value rule refuses NUL, CR and LF only; other values (a BEL included) are accepted and served.
  const tolerated = (v: string) =>
    v === " leading" || v === "trailing " || v === "日本" || v === "a\tb" || v === "\u0007";
  // A header or query match value may be anything up to 4,096 characters (it just never matches): only longer is refused.
  const matchable = (v: string) => v.length <= 4096;
  values.forEach((v, i) => {
    for (const filter of ["RequestHeaderModifier", "ResponseHeaderModifier"] as const) {
      const key = filter === "RequestHeaderModifier" ? "requestHeaderModifier" : "responseHeaderModifier";
      for (const op of ["set", "add"] as const)
        b.add(
          "header-values",
          `${filter}-${op}-value-${i}`,
          {
            [F]: hostileRoute(
              ruleWith({ filters: [{ type: filter, [key]: { [op]: [{ name: "x-a", value: v }] } }] }),
            ),
          },
          tolerated(v) ? "tolerated" : "refused",
        );
      b.add(
        "header-values",
        `${filter}-backend-${i}`,
        {
          [F]: hostileRoute({
            rules: [
              {
                backendRefs: [
                  {
                    name: "svc",
                    port: 80,
                    filters: [{ type: filter, [key]: { set: [{ name: "x-a", value: v }] } }],
                  },
                ],
              },
            ],
          }),
        },
        tolerated(v) ? "tolerated" : "refused",
      );
    }
    b.add(
      "header-values",
      `match-value-${i}`,
      { [F]: hostileRoute(ruleWith({ matches: [{ headers: [{ name: "x-a", value: v }] }] })) },
      matchable(v) ? "tolerated" : "refused",
    );
    b.add(
      "header-values",
      `query-value-${i}`,
      { [F]: hostileRoute(ruleWith({ matches: [{ queryParams: [{ name: "q", value: v }] }] })) },
      matchable(v) ? "tolerated" : "refused",
    );
    b.add(
      "header-values",
      `prefix-rewrite-${i}`,
      {
        [F]: hostileRoute(
          ruleWith({
            matches: [{ path: { type: "PathPrefix", value: "/p" } }],
            filters: [
              {
                type: "URLRewrite",
                urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: `/${v}` } },
              },
            ],
          }),
        ),
      },
      "refused",
    );
    b.add(
      "header-values",
      `full-rewrite-${i}`,
      {
        [F]: hostileRoute(
          ruleWith({
            filters: [
              {
                type: "URLRewrite",
                urlRewrite: { path: { type: "ReplaceFullPath", replaceFullPath: `/${v}` } },
              },
            ],
          }),
        ),
      },
      "refused",
    );
    b.add(
      "header-values",
      `path-value-${i}`,
      { [F]: hostileRoute(ruleWith({ matches: [{ path: { type: "PathPrefix", value: `/${v}` } }] })) },
      "refused",
    );
  });
  names.forEach((n, i) => {
    b.add(
      "header-names",
      `set-${i}`,
      {
        [F]: hostileRoute(
          ruleWith({
            filters: [
              { type: "RequestHeaderModifier", requestHeaderModifier: { set: [{ name: n, value: "v" }] } },
            ],
          }),
        ),
      },
      n === "Host" || n === "host" || plain.has(n) ? "tolerated" : "refused",
    );
    b.add(
      "header-names",
      `remove-${i}`,
      {
        [F]: hostileRoute(
          ruleWith({ filters: [{ type: "RequestHeaderModifier", requestHeaderModifier: { remove: [n] } }] }),
        ),
      },
      plain.has(n) ? "tolerated" : "refused",
    );
    b.add(
      "header-names",
      `match-${i}`,
      { [F]: hostileRoute(ruleWith({ matches: [{ headers: [{ name: n, value: "v" }] }] })) },
      n === "Host" || n === "host" || plain.has(n) ? "tolerated" : "refused",
    );
  });
  const redirects: [string, Record<string, unknown>][] = [
    ["status-999", { statusCode: 999 }],
    ["status-200", { statusCode: 200 }],
    ["scheme-javascript", { scheme: "javascript" }],
    ["scheme-crlf", { scheme: "http\r\n" }],
    ["hostname-crlf", { hostname: "a\r\nb" }],
    ["path-crlf", { path: { type: "ReplaceFullPath", replaceFullPath: "/a\r\nLocation: evil" } }],
    ["path-no-slash", { path: { type: "ReplaceFullPath", replaceFullPath: "evil.example" } }],
    ["path-type-unknown", { path: { type: "Teleport" } }],
  ];
  for (const [name, r] of redirects)
    b.add(
      "header-values",
      `redirect-${name}`,
      { [F]: hostileRoute({ rules: [{ filters: [{ type: "RequestRedirect", requestRedirect: r }] }] }) },
      "refused",
    );
}

function endpoints(b: Builder): void {
  const addresses: unknown[] = [
    "",
    " ",
    "999.1.1.1",
    "10.0.0",
    "10.0.0.1.2",
    "::1",
    "localhost",
    "10.0.0.1/24",
    "0x0a000001",
    "010.000.000.001",
    "10.0.0.1\n",
    7,
    null,
    "1.2.3.4:80",
  ];
  addresses.forEach((a, i) => {
    b.add(
      "endpoints",
      `address-${i}`,
      { [F]: doc(HOSTILE_NS, HOSTILE_SERVICE, endpointSlice("hostile", "svc", [a])) },
      "refused",
    );
    // The same bad address beside a good one, with a route using the Service: the good endpoint is still served.
    b.add(
      "endpoints",
      `address-beside-good-${i}`,
      {
        [F]: `${hostileRoute({ rules: [{ backendRefs: [{ name: "svc", port: 80 }] }] }).replace(/---\n[\s\S]*?kind: EndpointSlice[\s\S]*?(?=---)/, "")}---\n${doc(endpointSlice("hostile", "svc", [a, "10.9.0.2"]))}`,
      },
      "refused",
    );
  });
  b.add(
    "endpoints",
    "address-type-fqdn",
    {
      [F]: doc(HOSTILE_NS, HOSTILE_SERVICE, {
        ...HOSTILE_SLICE,
        addressType: "FQDN",
        endpoints: [{ addresses: ["not a name!"] }],
      }),
    },
    "refused",
  );
  b.add(
    "endpoints",
    "address-type-ipv6-mismatch",
    {
      [F]: doc(HOSTILE_NS, HOSTILE_SERVICE, {
        ...HOSTILE_SLICE,
        addressType: "IPv6",
        endpoints: [{ addresses: ["10.0.0.1"] }],
      }),
    },
    "refused",
  );
  b.add(
    "endpoints",
    "address-type-unknown",
    { [F]: doc(HOSTILE_NS, HOSTILE_SERVICE, { ...HOSTILE_SLICE, addressType: "IPv5" }) },
    "refused",
  );
  b.add(
    "endpoints",
    "no-service-label",
    {
      [F]: doc(HOSTILE_NS, HOSTILE_SERVICE, {
        ...HOSTILE_SLICE,
        metadata: { name: "s", namespace: "hostile" },
      }),
    },
    "tolerated",
  );
  b.add(
    "endpoints",
    "claims-baseline-service",
    {
      [F]: doc(HOSTILE_NS, {
        ...HOSTILE_SLICE,
        metadata: { name: "s", namespace: "hostile", labels: { "kubernetes.io/service-name": "store" } },
      }),
    },
    "tolerated",
  );
  b.add(
    "endpoints",
    "many-addresses",
    {
      [F]: doc(
        HOSTILE_NS,
        HOSTILE_SERVICE,
        endpointSlice(
          "hostile",
          "svc",
          Array.from({ length: 1001 }, (_, i) => `10.8.${i >> 8}.${i & 255}`),
        ),
      ),
    },
    "refused",
  );
  b.add(
    "endpoints",
    "conditions-typed",
    {
      [F]: doc(HOSTILE_NS, HOSTILE_SERVICE, {
        ...HOSTILE_SLICE,
        endpoints: [{ addresses: ["10.9.0.3"], conditions: { ready: "yes" } }],
      }),
    },
    "refused",
  );
}

const GARBAGE_PEM = Buffer.from(
  "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n",
).toString("base64");

function secrets(b: Builder): void {
  const gateway = (certificateRefs: unknown, extra: Record<string, unknown> = {}) =>
    doc(HOSTILE_NS, {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "gw", namespace: "hostile" },
      spec: {
        gatewayClassName: "strait",
        listeners: [
          {
            name: "l",
            protocol: "HTTPS",
            port: 8443,
            hostname: HOSTILE_HOST,
            tls: { certificateRefs, ...extra },
          },
        ],
      },
    });
  const secret = (data: Record<string, unknown>, type = "kubernetes.io/tls") =>
    doc({ apiVersion: "v1", kind: "Secret", metadata: { name: "cert", namespace: "hostile" }, type, data });
  const cases: [string, string][] = [
    ["missing-secret", gateway([{ name: "nope" }])],
    ["secret-other-namespace", gateway([{ name: "cert", namespace: "shop" }])],
    ["secret-kind-configmap", gateway([{ kind: "ConfigMap", group: "", name: "cert" }])],
    ["no-certificate-refs", gateway([])],
    ["mode-passthrough", gateway([{ name: "cert" }], { mode: "Passthrough" })],
    [
      "garbage-pem",
      `${gateway([{ name: "cert" }])}---\n${secret({ "tls.crt": GARBAGE_PEM, "tls.key": GARBAGE_PEM })}`,
    ],
    ["not-base64", `${gateway([{ name: "cert" }])}---\n${secret({ "tls.crt": "%%%", "tls.key": "%%%" })}`],
    ["empty-key", `${gateway([{ name: "cert" }])}---\n${secret({ "tls.crt": GARBAGE_PEM, "tls.key": "" })}`],
    ["missing-key", `${gateway([{ name: "cert" }])}---\n${secret({ "tls.crt": GARBAGE_PEM })}`],
    [
      "opaque-type",
      `${gateway([{ name: "cert" }])}---\n${secret({ "tls.crt": GARBAGE_PEM, "tls.key": GARBAGE_PEM }, "Opaque")}`,
    ],
    [
      "binary-junk",
      `${gateway([{ name: "cert" }])}---\n${secret({ "tls.crt": Buffer.from([0, 1, 2, 255, 254]).toString("base64"), "tls.key": "AA==" })}`,
    ],
    [
      "huge-chain",
      `${gateway([{ name: "cert" }])}---\n${secret({ "tls.crt": Buffer.from(`-----BEGIN CERTIFICATE-----\n${"A".repeat(500_000)}\n-----END CERTIFICATE-----\n`).toString("base64"), "tls.key": GARBAGE_PEM })}`,
    ],
    [
      "backend-tls-garbage-ca",
      `${hostileRoute({ rules: [{ backendRefs: [{ name: "svc", port: 80 }] }] })}---\n${doc(
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "ca", namespace: "hostile" },
          data: { "ca.crt": "garbage" },
        },
        {
          apiVersion: "gateway.networking.k8s.io/v1",
          kind: "BackendTLSPolicy",
          metadata: { name: "p", namespace: "hostile" },
          spec: {
            targetRefs: [{ group: "", kind: "Service", name: "svc" }],
            validation: {
              caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "ca" }],
              hostname: "svc.example",
            },
          },
        },
      )}`,
    ],
    [
      "backend-tls-crlf-hostname",
      `${hostileRoute({ rules: [{ backendRefs: [{ name: "svc", port: 80 }] }] })}---\n${doc({
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "BackendTLSPolicy",
        metadata: { name: "p", namespace: "hostile" },
        spec: {
          targetRefs: [{ group: "", kind: "Service", name: "svc" }],
          validation: { wellKnownCACertificates: "System", hostname: "a\r\nb" },
        },
      })}`,
    ],
    [
      "backend-tls-targets-baseline",
      doc(HOSTILE_NS, {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "BackendTLSPolicy",
        metadata: { name: "p", namespace: "hostile" },
        spec: {
          targetRefs: [{ group: "", kind: "Service", name: "store" }],
          validation: { wellKnownCACertificates: "System", hostname: "store.example" },
        },
      }),
    ],
  ];
  for (const [name, text] of cases)
    b.add("secrets", name, { [F]: text }, name === "backend-tls-targets-baseline" ? "tolerated" : "refused");
}

/**
 * A real certificate and keys for the certificate cases, made once with
 * openssl for this corpus (test material, no secret): a self-signed P-384
 * certificate for hostile.example, its key, another P-256 key, that key
 * encrypted (passphrase `secret`), and its public key.
 */
export const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIB4zCCAWqgAwIBAgIUDhDwV2pK5z/7EAN8TB2kW5QLiqIwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPaG9zdGlsZS5leGFtcGxlMCAXDTI2MTIwNDAwNTczMVoYDzIx
MjYxMTEwMDA1NzMxWjAaMRgwFgYDVQQDDA9ob3N0aWxlLmV4YW1wbGUwdjAQBgcq
hkjOPQIBBgUrgQQAIgNiAAS8BPaotUc5lxTaLd2DRMr2m/wH5+TQq6iEb1SIRnUr
CpjvexBzm9JgtFB5RtFbNA14qQ5jCQGpFCB61hOSge9qSZ/FvbY4HmHRaGDoDzUo
7DKVfyzEvFYkXeNW/hJC5xmjbzBtMB0GA1UdDgQWBBQU+H1uxQYVCJ26VBiqvFAY
4x4rvTAfBgNVHSMEGDAWgBQU+H1uxQYVCJ26VBiqvFAY4x4rvTAPBgNVHRMBAf8E
BTADAQH/MBoGA1UdEQQTMBGCD2hvc3RpbGUuZXhhbXBsZTAKBggqhkjOPQQDAgNn
ADBkAjA7S4AqkGGDgIC2TNWbZOgOUo26ysjsrLH8dvKlNS3hCMZbQ1Zk/CCjEtGM
XYfORHQCMFJdSHgPgpgWAQFta3ZTYw5u1J8ypJQf1dFn4jkXEiCjzNirWnvFStuM
dhhtrtnk0A==
-----END CERTIFICATE-----
`;
export const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDDInYMnwU3klmVp4BHq
fHLuXxzlzvZ8oPf4vrO0ogmiTzjb3ptrY+WAZsDchhZe6duhZANiAAS8BPaotUc5
lxTaLd2DRMr2m/wH5+TQq6iEb1SIRnUrCpjvexBzm9JgtFB5RtFbNA14qQ5jCQGp
FCB61hOSge9qSZ/FvbY4HmHRaGDoDzUo7DKVfyzEvFYkXeNW/hJC5xk=
-----END PRIVATE KEY-----
`;
export const OTHER_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgOG76R4rEowbcke7b
8yPIxx10sPpGMvAdX7/ia44T5U6hRANCAASmx1fQdQSMONuv1oJ00UBkCg5nNh1g
XcD27Pwrw+7JeWBP6b06+dxX96N8UMhFLha7h6w8OaU68yWpoSxtM2/5
-----END PRIVATE KEY-----
`;
export const ENCRYPTED_KEY = `-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAjrVXq4wgV5QAICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEChk2T5SoRlt7UctjlU8Ye8EgZCz
q6lJxaWB9k7Q6R7Q2JSTqul24SAXOSJPmUKi1HZ2pnsiJI1kfvJ+o5GgSdqq5mvQ
fEgM4nizsOB6Int0/YuHYj5gfrOJTC9bE2gFd4dJfNzyr6+PhC0PiHWb3OG+xq24
6au/uGXUSGCW6wvymRP2j4vh+Va03bm4pBXzHeNMDMEpT4D6mkst6yIENWLPY5k=
-----END ENCRYPTED PRIVATE KEY-----
`;
export const PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEpsdX0HUEjDjbr9aCdNFAZAoOZzYd
YF3A9uz8K8PuyXlgT+m9OvncV/ejfFDIRS4Wu4esPDmlOvMlqaEsbTNv+Q==
-----END PUBLIC KEY-----
`;
/** Base64 of text whose characters are bytes (PEM is ASCII; `pemBody` gives DER bytes as latin1). */
const b64 = (text: string) => Buffer.from(text, "latin1").toString("base64");

/** Real certificates and keys that do not fit together, or fit oddly. */
function certificates(b: Builder): void {
  /** The hostile Gateway's HTTPS listener; `tls` is the Gateway's own (frontend client validation). */
  const gateway = (tls: Record<string, unknown> | undefined = undefined, hostname = HOSTILE_HOST) => ({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name: "gw", namespace: "hostile" },
    spec: {
      gatewayClassName: "strait",
      ...(tls === undefined ? {} : { tls }),
      listeners: [
        {
          name: "l",
          protocol: "HTTPS",
          port: 8443,
          hostname,
          tls: { certificateRefs: [{ name: "cert" }] },
        },
      ],
    },
  });
  const secret = (crt: string, key: string) => ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "cert", namespace: "hostile" },
    type: "kubernetes.io/tls",
    data: { "tls.crt": b64(crt), "tls.key": b64(key) },
  });
  const caMap = (ca: string) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "ca", namespace: "hostile" },
    data: { "ca.crt": ca },
  });
  const validation = {
    frontend: {
      default: { validation: { caCertificateRefs: [{ kind: "ConfigMap", group: "", name: "ca" }] } },
    },
  };
  const backendTls = (ca: string) =>
    `${hostileRoute({ rules: [{ backendRefs: [{ name: "svc", port: 80 }] }] })}---\n${doc(caMap(ca), {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "BackendTLSPolicy",
      metadata: { name: "p", namespace: "hostile" },
      spec: {
        targetRefs: [{ group: "", kind: "Service", name: "svc" }],
        validation: {
          caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "ca" }],
          hostname: "svc.example",
        },
      },
    })}`;
  const cases: [string, string, Expectation][] = [
    ["valid", doc(HOSTILE_NS, gateway(), secret(TEST_CERT, TEST_KEY)), "tolerated"],
    // A certificate for another name than the listener's: served (clients decide), as Envoy does.
    [
      "valid-other-hostname",
      doc(HOSTILE_NS, gateway(undefined, "other.example"), secret(TEST_CERT, TEST_KEY)),
      "tolerated",
    ],
    ["key-of-another-certificate", doc(HOSTILE_NS, gateway(), secret(TEST_CERT, OTHER_KEY)), "refused"],
    ["encrypted-key", doc(HOSTILE_NS, gateway(), secret(TEST_CERT, ENCRYPTED_KEY)), "refused"],
    ["public-key-as-key", doc(HOSTILE_NS, gateway(), secret(TEST_CERT, PUBLIC_KEY)), "refused"],
    ["certificate-and-key-swapped", doc(HOSTILE_NS, gateway(), secret(TEST_KEY, TEST_CERT)), "refused"],
    ["key-as-certificate", doc(HOSTILE_NS, gateway(), secret(TEST_KEY, TEST_KEY)), "refused"],
    ["certificate-as-key", doc(HOSTILE_NS, gateway(), secret(TEST_CERT, TEST_CERT)), "refused"],
    [
      "chain-with-a-broken-second-certificate",
      doc(
        HOSTILE_NS,
        gateway(),
        secret(`${TEST_CERT}${Buffer.from(GARBAGE_PEM, "base64").toString()}`, TEST_KEY),
      ),
      "refused",
    ],
    [
      "certificate-cut-in-half",
      doc(HOSTILE_NS, gateway(), secret(TEST_CERT.slice(0, TEST_CERT.length / 2), TEST_KEY)),
      "refused",
    ],
    [
      "key-cut-in-half",
      doc(HOSTILE_NS, gateway(), secret(TEST_CERT, TEST_KEY.slice(0, TEST_KEY.length / 2))),
      "refused",
    ],
    ["certificate-der-not-pem", doc(HOSTILE_NS, gateway(), secret(pemBody(TEST_CERT), TEST_KEY)), "refused"],
    ["empty-certificate", doc(HOSTILE_NS, gateway(), secret("", TEST_KEY)), "refused"],
    // (Frontend validation is the Gateway's spec.tls.frontend, not the listener's.)
    [
      "frontend-ca-missing",
      doc(
        HOSTILE_NS,
        gateway({
          frontend: {
            default: { validation: { caCertificateRefs: [{ kind: "ConfigMap", group: "", name: "nope" }] } },
          },
        }),
        secret(TEST_CERT, TEST_KEY),
      ),
      "refused",
    ],
    [
      "frontend-ca-valid",
      doc(HOSTILE_NS, gateway(validation), secret(TEST_CERT, TEST_KEY), caMap(TEST_CERT)),
      "tolerated",
    ],
    [
      "frontend-ca-is-a-key",
      doc(HOSTILE_NS, gateway(validation), secret(TEST_CERT, TEST_KEY), caMap(TEST_KEY)),
      "refused",
    ],
    [
      "frontend-ca-empty",
      doc(HOSTILE_NS, gateway(validation), secret(TEST_CERT, TEST_KEY), caMap("")),
      "refused",
    ],
    [
      "frontend-ca-cut-in-half",
      doc(HOSTILE_NS, gateway(validation), secret(TEST_CERT, TEST_KEY), caMap(TEST_CERT.slice(0, 300))),
      "refused",
    ],
    ["backend-ca-valid", backendTls(TEST_CERT), "tolerated"],
    ["backend-ca-is-a-key", backendTls(TEST_KEY), "refused"],
    ["backend-ca-empty", backendTls(""), "refused"],
    ["backend-ca-cut-in-half", backendTls(TEST_CERT.slice(0, 300)), "refused"],
  ];
  for (const [name, text, expect] of cases) b.add("certificates", name, { [F]: text }, expect);
}

/** A PEM block's base64 body, decoded: the DER bytes as text. */
function pemBody(pemText: string): string {
  return Buffer.from(pemText.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64").toString(
    "latin1",
  );
}

function policies(b: Builder): void {
  const cnp = (spec: unknown) =>
    doc(HOSTILE_NS, {
      apiVersion: "cilium.io/v2",
      kind: "CiliumNetworkPolicy",
      metadata: { name: "p", namespace: "hostile" },
      spec,
    });
  const specs: [string, unknown][] = [
    ["no-selector", { ingress: [{}] }],
    ["selector-typed", { endpointSelector: "all", ingress: [] }],
    ["bad-port", { endpointSelector: {}, ingress: [{ toPorts: [{ ports: [{ port: "99999" }] }] }] }],
    [
      "bad-protocol",
      { endpointSelector: {}, ingress: [{ toPorts: [{ ports: [{ port: "80", protocol: "XTP" }] }] }] },
    ],
    ["bad-cidr", { endpointSelector: {}, egress: [{ toCIDR: ["10.0.0.0/33"] }] }],
    [
      "bad-http-regex",
      {
        endpointSelector: {},
        ingress: [{ toPorts: [{ ports: [{ port: "80" }], rules: { http: [{ path: "(" }] } }] }],
      },
    ],
    ["bad-entity", { endpointSelector: {}, ingress: [{ fromEntities: ["galaxy"] }] }],
    [
      "bad-match-expression",
      { endpointSelector: { matchExpressions: [{ key: "a", operator: "Sometimes" }] } },
    ],
  ];
  for (const [name, spec] of specs) b.add("policy", name, { [F]: cnp(spec) }, "refused");
}

function sizes(b: Builder): void {
  const depth = (n: number) => {
    let v: unknown = "x";
    for (let i = 0; i < n; i++) v = { a: v };
    return v;
  };
  b.add(
    "sizes",
    "yaml-flow-depth-5000",
    {
      [F]: `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d, namespace: hostile}\ndata: ${"[".repeat(5000)}${"]".repeat(5000)}\n`,
    },
    "refused",
  );
  b.add(
    "sizes",
    "yaml-block-depth-300",
    {
      [F]: `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d, namespace: hostile}\nx:\n${Array.from({ length: 300 }, (_, i) => `${"  ".repeat(i + 1)}a:`).join("\n")} 1\n`,
    },
    "refused",
  );
  b.add(
    "sizes",
    "json-depth-10000",
    {
      "hostile.json": `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d","namespace":"hostile"},"x":${"[".repeat(10000)}${"]".repeat(10000)}}`,
    },
    "refused",
  );
  b.add(
    "sizes",
    "json-depth-150",
    {
      "hostile.json": JSON.stringify({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "d", namespace: "hostile" },
        x: depth(150),
      }),
    },
    "refused",
  );
  b.add(
    "sizes",
    "document-4MiB",
    {
      [F]: `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big, namespace: hostile}\ndata: {a: "${"x".repeat(4 * 1024 * 1024)}"}\n`,
    },
    "refused",
  );
  b.add("sizes", "file-33MiB", { [F]: `# ${"x".repeat(33 * 1024 * 1024)}\n` }, "refused");
  b.add(
    "sizes",
    "rules-1000",
    {
      [F]: hostileRoute({
        rules: Array.from({ length: 1000 }, (_, i) => ({
          matches: [{ path: { type: "Exact", value: `/r${i}` } }],
          backendRefs: [{ name: "svc", port: 80 }],
        })),
      }),
    },
    "refused",
  );
  b.add(
    "sizes",
    "matches-1000",
    {
      [F]: hostileRoute(
        ruleWith({
          matches: Array.from({ length: 1000 }, (_, i) => ({ path: { type: "Exact", value: `/m${i}` } })),
        }),
      ),
    },
    "refused",
  );
  b.add(
    "sizes",
    "documents-2000",
    {
      [F]: Array.from({ length: 2000 }, (_, i) =>
        doc({
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: `c${i}`, namespace: "hostile" },
          data: { a: "b" },
        }),
      ).join("---\n"),
    },
    "tolerated",
  );
  b.add(
    "sizes",
    "name-254",
    {
      [F]: doc(HOSTILE_NS, { ...HOSTILE_SERVICE, metadata: { name: "a".repeat(254), namespace: "hostile" } }),
    },
    "refused",
  );
  b.add(
    "sizes",
    "labels-10000",
    {
      [F]: doc(HOSTILE_NS, {
        ...HOSTILE_SERVICE,
        metadata: {
          name: "l",
          namespace: "hostile",
          labels: Object.fromEntries(Array.from({ length: 10000 }, (_, i) => [`k${i}`, "v"])),
        },
      }),
    },
    "tolerated",
  );
}

function fileSystem(b: Builder): void {
  const ok = doc(namespace("hostile-fs"));
  const add = (
    name: string,
    extra: Pick<ManifestCase, "symlinks" | "folders">,
    files: Record<string, string> = {},
    expect: Expectation = "refused",
  ) => b.add("file-system", name, files, expect, extra);
  add("self-loop", { symlinks: { "loop.yaml": "loop.yaml" } });
  add("two-link-loop", { symlinks: { "a.yaml": "b.yaml", "b.yaml": "a.yaml" } });
  add("dir-to-self", { symlinks: { sub: "." } }, { "fs.yaml": ok });
  add("dir-to-parent", { symlinks: { "deep/up": ".." }, folders: ["deep"] }, { "fs.yaml": ok });
  add("dangling", { symlinks: { "gone.yaml": "/nonexistent/gone.yaml" } });
  add("link-to-baseline-file", { symlinks: { "again.yaml": "baseline/shop.yaml" } });
  add("link-to-etc-passwd", { symlinks: { "passwd.yaml": "/etc/passwd" } });
  add("link-to-dev-zero", { symlinks: { "zero.yaml": "/dev/zero" } }, {}, "tolerated");
  add("link-to-proc", { symlinks: { proc: "/proc/self" } }, {}, "tolerated");
  add("folder-named-yaml", { folders: ["dir.yaml"] }, {}, "tolerated");
  add("hidden-file", { folders: [] }, { ".hidden.yaml": "garbage: [" }, "tolerated");
  add(
    "deep-folders-40",
    { folders: [] },
    { [`${Array.from({ length: 40 }, (_, i) => `d${i}`).join("/")}/deep.yaml`]: ok },
  );
  add("newline-in-name", { folders: [] }, { "new\nline.yaml": ok }, "tolerated");
  add(
    "many-empty-files",
    { folders: [] },
    Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`empty/e${i}.yaml`, ""])),
    "tolerated",
  );
}

/** Every manifest case. */
export function manifestCases(): ManifestCase[] {
  const b = builder();
  yamlSyntax(b);
  structure(b);
  types(b);
  regexes(b);
  hostnames(b);
  portsAndWeights(b);
  references(b);
  headerValues(b);
  endpoints(b);
  secrets(b);
  certificates(b);
  policies(b);
  sizes(b);
  fileSystem(b);
  return b.cases as ManifestCase[];
}

// ---- agent API cases ----

export function agentCases(): AgentCase[] {
  const cases: AgentCase[] = [];
  const add = (
    name: string,
    method: AgentCase["method"],
    url: string,
    body: string,
    listener: AgentCase["listener"],
    status: number,
  ) =>
    cases.push({
      type: "agent",
      id: `agent-api/${listener}-${name}`,
      category: "agent-api",
      method,
      url,
      body,
      listener,
      status,
    });
  let deep = '"x"';
  for (let i = 0; i < 2000; i++) deep = `{"a":${deep}}`;
  const bodies: [string, string][] = [
    ["null", "null"],
    ["number", "7"],
    ["string", '"x"'],
    ["list", "[]"],
    ["empty-object", "{}"],
    ["truncated", '{"a": ['],
    ["deep", deep],
    ["unknown-field", '{"bogus": 1}'],
    ["proto", '{"__proto__": {"x": 1}}'],
    ["huge-list", `{"valid": [${Array.from({ length: 5000 }, () => '{"containerId": 1}').join(",")}]}`],
  ];
  const writes: [string, AgentCase["method"], string][] = [
    ["desired", "PUT", "/api/v1/desired-state"],
    ["auth", "POST", "/api/v1/auth"],
    ["cni-add", "POST", "/api/v1/cni/add"],
    ["cni-del", "POST", "/api/v1/cni/del"],
    ["cni-check", "POST", "/api/v1/cni/check"],
    ["cni-gc", "POST", "/api/v1/cni/gc"],
  ];
  for (const [what, method, url] of writes)
    for (const [name, body] of bodies) {
      // The empty object is a valid desired state (nothing enforced): 200. Everything else is refused.
      const valid = what === "desired" && name === "empty-object";
      add(`${what}-${name}`, method, url, body, "socket", valid ? 200 : 400);
      add(`${what}-${name}`, method, url, body, "tcp", 403);
    }
  const desiredFields: [string, unknown][] = [
    ["endpoints-typed", { endpoints: "all" }],
    ["endpoint-id-0", { endpoints: [{ id: 0, identity: 1001, addresses: ["10.0.0.1"] }] }],
    ["endpoint-id-huge", { endpoints: [{ id: 70000, identity: 1001, addresses: ["10.0.0.1"] }] }],
    ["endpoint-address", { endpoints: [{ id: 1, identity: 1001, addresses: ["10.0.0.300"] }] }],
    [
      "endpoint-iface",
      { endpoints: [{ id: 1, identity: 1001, hostInterface: "a-name-far-too-long-for-linux" }] },
    ],
    [
      "endpoint-sources-deep",
      {
        endpoints: [
          { id: 1, identity: 1001, addresses: ["10.0.0.1"], sources: [{ kind: { a: { b: 1 } }, name: "x" }] },
        ],
      },
    ],
    [
      "endpoint-sources-extra",
      {
        endpoints: [
          {
            id: 1,
            identity: 1001,
            addresses: ["10.0.0.1"],
            sources: [{ kind: "Pod", name: "x", extra: [1] }],
          },
        ],
      },
    ],
    [
      "policy-no-endpoint",
      { policies: [{ endpointId: 9, ingressEnforced: true, egressEnforced: false, entries: [] }] },
    ],
    [
      "policy-entry-port",
      {
        endpoints: [{ id: 1, identity: 1001, addresses: ["10.0.0.1"] }],
        policies: [
          {
            endpointId: 1,
            ingressEnforced: true,
            egressEnforced: false,
            entries: [{ direction: "ingress", remoteIdentity: 1, port: 0, verdict: "allow" }],
          },
        ],
      },
    ],
    [
      "policy-entry-verdict",
      {
        endpoints: [{ id: 1, identity: 1001, addresses: ["10.0.0.1"] }],
        policies: [
          {
            endpointId: 1,
            ingressEnforced: true,
            egressEnforced: false,
            entries: [{ direction: "sideways", remoteIdentity: 1, verdict: "maybe" }],
          },
        ],
      },
    ],
    ["ipcache-prefix", { ipcache: [{ prefix: "10.0.0.0/33", identity: 2 }] }],
    ["ipcache-node", { ipcache: [{ prefix: "10.0.0.0/24", identity: 2, node: "node-a" }] }],
  ];
  for (const [name, body] of desiredFields) {
    add(`desired-${name}`, "PUT", "/api/v1/desired-state", JSON.stringify(body), "socket", 400);
    add(`desired-${name}`, "PUT", "/api/v1/desired-state", JSON.stringify(body), "tcp", 403);
  }
  return cases;
}

// ---- xDS API cases ----

export function xdsCases(): XdsCase[] {
  const cases: XdsCase[] = [];
  const node = { id: "hostile-node", cluster: "hostile" };
  const typeUrls = [
    "",
    "type.googleapis.com/",
    "type.googleapis.com/envoy.config.listener.v3.Nope",
    "type.googleapis.com/google.protobuf.Empty",
    "x".repeat(10_000),
    "type.googleapis.com/envoy.config.cluster.v3.Cluster\u0000",
  ];
  const many = Array.from({ length: 200_000 }, (_, i) => `n${i}`);
  for (const mode of ["sotw", "delta"] as const) {
    const names = mode === "sotw" ? "resource_names" : "resource_names_subscribe";
    const subscribe = { node, type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster" };
    for (const streams of [50, 200])
      cases.push({
        type: "xds",
        id: `xds-api/${mode}-churn-${streams}-streams`,
        category: "xds-api",
        mode,
        requests: [subscribe],
        streams,
      });
    cases.push({
      type: "xds",
      id: `xds-api/${mode}-slow-reader`,
      category: "xds-api",
      mode,
      requests: [subscribe],
      reads: false,
    });
    cases.push({
      type: "xds",
      id: `xds-api/${mode}-slow-readers-20`,
      category: "xds-api",
      mode,
      requests: [subscribe],
      reads: false,
      streams: 20,
    });
    for (const [i, t] of typeUrls.entries()) {
      cases.push({
        type: "xds",
        id: `xds-api/${mode}-type-url-${i}`,
        category: "xds-api",
        mode,
        requests: [{ node, type_url: t }],
      });
    }
    cases.push({
      type: "xds",
      id: `xds-api/${mode}-huge-name-list`,
      category: "xds-api",
      mode,
      requests: [{ node, type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster", [names]: many }],
    });
    cases.push({
      type: "xds",
      id: `xds-api/${mode}-huge-name`,
      category: "xds-api",
      mode,
      requests: [
        {
          node,
          type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
          [names]: ["x".repeat(1_000_000)],
        },
      ],
    });
    cases.push({
      type: "xds",
      id: `xds-api/${mode}-garbage-bytes`,
      category: "xds-api",
      mode,
      requests: ["raw://///wAAAP8="],
    });
    cases.push({
      type: "xds",
      id: `xds-api/${mode}-empty-message`,
      category: "xds-api",
      mode,
      requests: ["raw:"],
    });
    cases.push({
      type: "xds",
      id: `xds-api/${mode}-no-node`,
      category: "xds-api",
      mode,
      requests: [{ type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster" }],
    });
    cases.push({
      type: "xds",
      id: `xds-api/${mode}-unknown-nonce`,
      category: "xds-api",
      mode,
      requests: [
        {
          node,
          type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
          response_nonce: "never-sent",
        },
      ],
    });
    cases.push({
      type: "xds",
      id: `xds-api/${mode}-nack-storm`,
      category: "xds-api",
      mode,
      requests: Array.from({ length: 200 }, (_, i) => ({
        node,
        type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        response_nonce: `n${i}`,
        error_detail: { code: 3, message: "x".repeat(1000) },
      })),
    });
    cases.push({
      type: "xds",
      id: `xds-api/${mode}-metadata-deep`,
      category: "xds-api",
      mode,
      requests: [
        {
          node: { id: "deep", metadata: { a: { b: { c: { d: { e: { f: "x".repeat(100_000) } } } } } } },
          type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        },
      ],
    });
  }
  return cases;
}

export function hostileCorpus(): HostileCase[] {
  return [...manifestCases(), ...agentCases(), ...xdsCases()];
}

/** Counts by category, for the test summary and bench/RESULTS.md. */
export function corpusCounts(cases: readonly HostileCase[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const c of cases) counts[c.category] = (counts[c.category] ?? 0) + 1;
  return counts;
}

/** Writes one case's files (the baseline beside them) into `dir`. */
export function writeManifestCase(dir: string, c: ManifestCase, baseline = baselineFiles()): void {
  for (const [path, text] of Object.entries({ ...baseline, ...c.files })) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  for (const folder of c.folders ?? []) mkdirSync(join(dir, folder), { recursive: true });
  for (const [link, target] of Object.entries(c.symlinks ?? {})) {
    mkdirSync(join(dir, link, ".."), { recursive: true });
    symlinkSync(target, join(dir, link));
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: "string" } } });
  const cases = hostileCorpus();
  if (values.out !== undefined) {
    rmSync(values.out, { recursive: true, force: true });
    for (const c of cases) {
      const dir = join(values.out, c.id);
      mkdirSync(dir, { recursive: true });
      if (c.type === "manifest") writeManifestCase(dir, c);
      else writeFileSync(join(dir, "case.json"), JSON.stringify(c, null, 2));
    }
  }
  console.log(JSON.stringify({ total: cases.length, byCategory: corpusCounts(cases) }, null, 2));
}
