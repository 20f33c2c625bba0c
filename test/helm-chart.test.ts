/**
 * The Helm chart (charts/strait/), checked without helm, which cannot be
 * installed here: every template parses as YAML once its template actions are
 * taken out, every `.Values` reference exists, and the parts that must agree
 * with the code do: RBAC against the kinds strait reads and the statuses it
 * writes, the controller's environment against its settings, the Envoy
 * bootstrap against the real Envoy protos, the class names against the
 * controller's. Not checked: that helm renders the templates (Go template
 * semantics, `toYaml`/`nindent` output), and that a cluster accepts the result.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { RUN_SETTINGS } from "../src/controller/config.ts";
import { FLEET_READINESS_PATH } from "../src/controller/readiness.ts";
import { parseGatewayDuration } from "../src/gateway/duration.ts";
import { CONTROLLER_NAME } from "../src/gateway/index.ts";
import { KINDS } from "../src/resources/kinds.ts";
import { IDENTITY_KIND } from "../src/sources/kubernetes/identity-writer.ts";
import { OWNED_KINDS } from "../src/sources/kubernetes/owned-object.ts";
import { STATUS_KINDS } from "../src/sources/status/status-kinds.ts";
import { nodeKey } from "../src/xds/cache/node.ts";
import { encodeJson, findType, TYPE_URLS, validateResource } from "../src/xds/proto/index.ts";
import { REPO } from "./support/strait-process.ts";

const CHART = join(REPO, "charts/strait");
const TEMPLATES = join(CHART, "templates");
const values = parse(readFileSync(join(CHART, "values.yaml"), "utf8")) as Record<string, unknown>;

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
};

/**
 * Drops lines that hold only a template action (`{{- if }}`, `{{- end }}`,
 * `{{- include ... | nindent 4 }}`) and replaces inline actions with a value
 * from `known` (keyed by the action's text) or the word TEMPLATE.
 */
function strip(text: string, known: Readonly<Record<string, string>> = {}): string {
  return text
    .split("\n")
    .filter((line) => !/^\s*\{\{.*\}\}\s*$/.test(line))
    .map((line) =>
      line.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_m, action: string) => known[action] ?? "TEMPLATE"),
    )
    .join("\n");
}

const templateFiles = readdirSync(TEMPLATES).filter((f) => f.endsWith(".yaml"));

function manifests(file: string, known?: Readonly<Record<string, string>>): Manifest[] {
  const docs = parseAllDocuments(strip(readFileSync(join(TEMPLATES, file), "utf8"), known));
  for (const d of docs) if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]?.message}`);
  return docs.map((d) => d.toJSON() as Manifest | null).filter((m): m is Manifest => m !== null);
}

const all = templateFiles.flatMap((f) => manifests(f));
function find(kind: string, name: string): Manifest {
  const m = all.find((x) => x.kind === kind && x.metadata.name === name);
  if (m === undefined) throw new Error(`no ${kind} ${name} in the chart`);
  return m;
}

function valueAt(path: string): unknown {
  return path.split(".").reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], values);
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

function grants(rules: readonly Rule[]): Set<string> {
  const out = new Set<string>();
  for (const r of rules) {
    for (const g of r.apiGroups)
      for (const res of r.resources) for (const v of r.verbs) out.add(`${g}|${res}|${v}`);
  }
  return out;
}

describe("Helm chart", () => {
  it("has a v2 Chart.yaml, values, and templates that parse as YAML with apiVersion, kind and name", () => {
    const chart = parse(readFileSync(join(CHART, "Chart.yaml"), "utf8")) as Record<string, string>;
    expect(chart).toMatchObject({ apiVersion: "v2", name: "strait", type: "application" });
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(templateFiles.length).toBeGreaterThanOrEqual(8);
    for (const m of all) {
      expect(typeof m.apiVersion).toBe("string");
      expect(typeof m.kind).toBe("string");
      expect(m.metadata.name).toBeTruthy();
    }
  });

  it("references only values that exist and templates that are defined", () => {
    const helpers = readFileSync(join(TEMPLATES, "_helpers.tpl"), "utf8");
    const defined = new Set([...helpers.matchAll(/define "([^"]+)"/g)].map((m) => m[1]));
    const texts = [...templateFiles.map((f) => readFileSync(join(TEMPLATES, f), "utf8")), helpers];
    const refs = texts.flatMap((t) => [...t.matchAll(/\.Values\.([A-Za-z0-9_.]+)/g)].map((m) => m[1] ?? ""));
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(valueAt(ref), `.Values.${ref}`).not.toBeUndefined();
    const includes = texts.flatMap((t) => [...t.matchAll(/include "([^"]+)"/g)].map((m) => m[1]));
    for (const name of includes) expect(defined, `include "${name}"`).toContain(name);
  });

  it("grants exactly list+watch on every kind strait reads, patch on the /status of every kind whose status it writes, create+patch+delete on the kinds it owns and the CiliumIdentity records, and create+patch on Events", () => {
    const role = find("ClusterRole", "strait-controller") as Manifest & { rules: Rule[] };
    const expected = new Set<string>();
    for (const k of KINDS) {
      expected.add(`${k.group}|${k.plural}|list`);
      expected.add(`${k.group}|${k.plural}|watch`);
    }
    for (const kind of STATUS_KINDS) {
      const k = KINDS.find((x) => x.kind === kind);
      expect(k, kind).toBeDefined();
      expected.add(`${k?.group}|${k?.plural}/status|patch`);
    }
    // Server-side apply needs patch, and create when the apply creates the object; delete removes
    // an owned object that is no longer wanted, and an identity garbage-collected.
    for (const kind of [...OWNED_KINDS, IDENTITY_KIND]) {
      const k = KINDS.find((x) => x.kind === kind);
      expect(k, kind).toBeDefined();
      for (const verb of ["create", "patch", "delete"]) expected.add(`${k?.group}|${k?.plural}|${verb}`);
    }
    // The leader's Warning Events (invalid endpoints): created, and patched when they recur.
    expected.add("events.k8s.io|events|create");
    expected.add("events.k8s.io|events|patch");
    expect([...grants(role.rules)].sort()).toEqual([...expected].sort());

    const binding = find("ClusterRoleBinding", "strait-controller") as Manifest & {
      roleRef: { name: string };
      subjects: { kind: string; name: string }[];
    };
    expect(binding.roleRef.name).toBe("strait-controller");
    expect(binding.subjects).toEqual([
      expect.objectContaining({ kind: "ServiceAccount", name: "strait-controller" }),
    ]);
    find("ServiceAccount", "strait-controller");
  });

  it("covers every kind the golden tests show a status for", () => {
    const root = join(REPO, "testdata/gateway");
    const kinds = new Set<string>();
    for (const d of readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory())) {
      const statuses = parse(readFileSync(join(root, d.name, "statuses.yaml"), "utf8")) as {
        ref: { kind: string };
      }[];
      for (const s of statuses) kinds.add(s.ref.kind);
    }
    expect(kinds.size).toBeGreaterThanOrEqual(3);
    for (const kind of kinds) expect(STATUS_KINDS as readonly string[]).toContain(kind);
  });

  it("lets the controller create its Lease and read and update only that one, in its namespace", () => {
    const role = find("Role", "strait-controller-leader-election") as Manifest & { rules: Rule[] };
    expect(grants(role.rules)).toEqual(
      new Set([
        "coordination.k8s.io|leases|create",
        "coordination.k8s.io|leases|get",
        "coordination.k8s.io|leases|update",
      ]),
    );
    const named = role.rules.find((r) => r.verbs.includes("update"));
    expect(named?.resourceNames).toHaveLength(1);
    expect(readFileSync(join(TEMPLATES, "role.yaml"), "utf8")).toContain(
      "resourceNames: [{{ .Values.controller.leaderElection.leaseName | quote }}]",
    );
    expect(find("RoleBinding", "strait-controller-leader-election")).toMatchObject({
      roleRef: { kind: "Role", name: "strait-controller-leader-election" },
    });
  });

  it("runs two controller replicas whose environment names real settings, with a valid leader-election timing", () => {
    expect(valueAt("controller.replicas")).toBe(2);
    const deployment = find("Deployment", "strait-controller") as Manifest & {
      spec: { template: { spec: { serviceAccountName: string; containers: Container[] } } };
    };
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe("strait-controller");
    const controller = pod.containers[0];
    expect(controller?.args).toEqual(["run"]);
    const env = new Map((controller?.env ?? []).map((e) => [e.name, e]));
    expect(env.get("STRAIT_NAMESPACE")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.namespace");
    expect(env.get("STRAIT_IDENTITY")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name");
    // STRAIT_XDS_ADDRESS belongs to the xDS server, whose settings land on another branch.
    // GLIBC_TUNABLES is glibc's, not a setting: the same mmap threshold bin/strait sets for `strait run`.
    const known = new Set([...RUN_SETTINGS.map((s) => s.env), "STRAIT_XDS_ADDRESS", "GLIBC_TUNABLES"]);
    for (const name of env.keys()) expect(known, name).toContain(name);
    const launcher = readFileSync(join(REPO, "bin/strait"), "utf8");
    expect(launcher).toContain(`GLIBC_TUNABLES=${env.get("GLIBC_TUNABLES")?.value}`);
    const seconds = ["leaseDuration", "renewDeadline", "retryPeriod"].map((k) =>
      parseGatewayDuration(String(valueAt(`controller.leaderElection.${k}`))),
    );
    const [lease, renew, retry] = seconds as [number, number, number];
    expect(retry).toBeLessThan(renew);
    expect(renew).toBeLessThan(lease);
    const ports = new Map((controller?.ports ?? []).map((p) => [p.name, p.containerPort]));
    // builtin-ca only with auth.provider builtin-ca (this view keeps every branch; the helm test renders each).
    expect([...ports.keys()].sort()).toEqual(["builtin-ca", "ops", "xds"]);
    // The probe that protects the fleet (one bad object must not make every replica unready), on the ops port.
    expect(controller?.readinessProbe?.httpGet).toEqual({ path: FLEET_READINESS_PATH, port: "ops" });
    expect(controller?.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "ops" });
  });

  it("exposes xDS on 18000 and the ops port on 9090 through the controller Service", () => {
    expect(valueAt("xds.port")).toBe(18000);
    expect(valueAt("ops.port")).toBe(9090);
    const service = find("Service", "strait-controller") as Manifest & {
      spec: { ports: { name: string; targetPort: string }[] };
    };
    expect(service.spec.ports.map((p) => p.targetPort).sort()).toEqual(["builtin-ca", "ops", "xds"]);
    const text = readFileSync(join(TEMPLATES, "controller-service.yaml"), "utf8");
    expect(text).toContain("port: {{ .Values.xds.port }}");
    expect(text).toContain("port: {{ .Values.ops.port }}");
  });

  it("runs the privileged agent with /sys/fs/bpf and Envoy with the bootstrap, on every node", () => {
    const ds = find("DaemonSet", "strait-agent") as Manifest & {
      spec: { template: { spec: { hostNetwork: boolean; containers: Container[]; volumes: Volume[] } } };
    };
    const pod = ds.spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    const agent = pod.containers.find((c) => c.name === "agent");
    const envoy = pod.containers.find((c) => c.name === "envoy");
    expect(agent?.args).toEqual(["agent"]);
    expect(agent?.securityContext?.privileged).toBe(true);
    const bpf = agent?.volumeMounts?.find((m) => m.mountPath === "/sys/fs/bpf");
    expect(pod.volumes.find((v) => v.name === bpf?.name)?.hostPath?.path).toBe("/sys/fs/bpf");
    expect(envoy?.args?.slice(0, 2)).toEqual(["-c", "/etc/envoy/bootstrap.yaml"]);
    // The node it announces (Kubernetes expands $(NODE_NAME)): its key for the per-node layer
    // and the mesh listener, as nodeKey() reads it.
    const overlay = envoy?.args?.[(envoy?.args?.indexOf("--config-yaml") ?? -2) + 1];
    const announced = JSON.parse(overlay ?? "{}") as { node?: { metadata?: Record<string, unknown> } };
    const node = {
      id: "n",
      cluster: "strait-envoy",
      metadata: announced.node?.metadata ?? {},
      userAgent: "envoy",
    };
    expect(nodeKey(node)).toBe("node/$(NODE_NAME)");
    expect(envoy?.env?.find((e) => e.name === "NODE_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe(
      "spec.nodeName",
    );
    const mount = envoy?.volumeMounts?.find((m) => m.mountPath === "/etc/envoy");
    expect(pod.volumes.find((v) => v.name === mount?.name)?.configMap?.name).toBe("strait-envoy-bootstrap");
  });

  it("bootstraps Envoy with ADS from the controller's xDS Service, valid against the Envoy protos", () => {
    const known = {
      ".Release.Namespace": "strait-system",
      'include "strait.xdsHost" .': "strait-controller.strait-system.svc.cluster.local",
      ".Values.xds.port": String(valueAt("xds.port")),
      ".Values.envoy.adminPort": String(valueAt("envoy.adminPort")),
    };
    const configMap = manifests("envoy-bootstrap.yaml", known)[0] as Manifest & {
      data: Record<string, string>;
    };
    const bootstrap = parse(configMap.data["bootstrap.yaml"] ?? "") as {
      dynamic_resources: { ads_config: unknown; lds_config: unknown; cds_config: unknown };
      static_resources: { clusters: unknown[] };
    };
    const xds = bootstrap.static_resources.clusters[0] as {
      name: string;
      load_assignment: {
        endpoints: { lb_endpoints: { endpoint: { address: { socket_address: unknown } } }[] }[];
      };
    };
    expect(validateResource(TYPE_URLS.cluster, xds)).toEqual([]);
    expect(xds.load_assignment.endpoints[0]?.lb_endpoints[0]?.endpoint.address.socket_address).toEqual({
      address: "strait-controller.strait-system.svc.cluster.local",
      port_value: 18000,
    });
    const apiConfigSource = findType("envoy.config.core.v3.ApiConfigSource");
    const configSource = findType("envoy.config.core.v3.ConfigSource");
    if (apiConfigSource === undefined || configSource === undefined) throw new Error("Envoy protos missing");
    const ads = bootstrap.dynamic_resources.ads_config as {
      grpc_services: { envoy_grpc: { cluster_name: string } }[];
    };
    expect(encodeJson(apiConfigSource, ads).issues).toEqual([]);
    expect(ads.grpc_services[0]?.envoy_grpc.cluster_name).toBe(xds.name);
    expect(encodeJson(configSource, bootstrap.dynamic_resources.lds_config).issues).toEqual([]);
    expect(encodeJson(configSource, bootstrap.dynamic_resources.cds_config).issues).toEqual([]);
  });

  it("installs the strait GatewayClass for strait's controllerName and the strait IngressClass", () => {
    const classes = manifests("classes.yaml", {
      ".Values.gatewayClass.name": String(valueAt("gatewayClass.name")),
      ".Values.ingressClass.name": String(valueAt("ingressClass.name")),
    });
    expect(classes.find((m) => m.kind === "GatewayClass")).toMatchObject({
      metadata: { name: "strait" },
      spec: { controllerName: CONTROLLER_NAME },
    });
    expect(classes.find((m) => m.kind === "IngressClass")?.metadata.name).toBe("strait");
  });
});

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name: string; containerPort: unknown }[];
  readinessProbe?: { httpGet?: { path: string; port: string } };
  livenessProbe?: { httpGet?: { path: string; port: string } };
  securityContext?: { privileged?: boolean };
  volumeMounts?: { name: string; mountPath: string }[];
}

interface Volume {
  name: string;
  hostPath?: { path: string };
  configMap?: { name: string };
}
