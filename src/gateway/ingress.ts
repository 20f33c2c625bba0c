/**
 * networking.k8s.io/v1 Ingress → the same listeners and route tables as a
 * Gateway with HTTPRoutes, so host isolation, path precedence and the Envoy
 * translation are the Gateway API ones.
 *
 * Which Ingresses: `spec.ingressClassName` (or the legacy
 * `kubernetes.io/ingress.class` annotation) naming an IngressClass whose
 * `spec.controller` is `strait.dev/ingress-controller`; an Ingress naming no
 * class when one of those IngressClasses carries
 * `ingressclass.kubernetes.io/is-default-class: "true"`.
 *
 * Modes, as Cilium offers them: shared (default) puts every Ingress on one
 * address with one HTTP listener on port 80 and one HTTPS listener on 443 per
 * TLS host; `ingress.strait.dev/loadbalancer-mode: dedicated` (or Cilium's
 * `ingress.cilium.io/loadbalancer-mode`) gives the Ingress its own address
 * and listeners. Envoy names: `strait:ingress/shared/<port>` and
 * `<namespace>/ingress:<name>/<port>` (`:` never appears in a Gateway name).
 *
 * Paths (the Ingress spec): Exact is the exact path; Prefix matches whole
 * path elements (`/foo` matches `/foo` and `/foo/bar`, not `/foobar`; a
 * trailing `/` is ignored); ImplementationSpecific is strait's Prefix. Longer
 * paths take precedence, Exact before Prefix of the same length, then the
 * older Ingress. Hosts: exact names and `*.` wildcards; a wildcard host
 * matches exactly one label, as the Ingress spec says (a route-level
 * `:authority` match narrows Envoy's suffix domain). `defaultBackend` serves
 * what no rule matches (in shared mode, the oldest Ingress's).
 *
 * Backends: a Service by port number or name. A `resource` backend is not
 * supported: its path is left out and reported (`problems`, logged by the
 * controller). A Service that does not resolve answers 503.
 *
 * Status: `status.loadBalancer.ingress[].ip` is the address the Ingress is
 * served on.
 */
import type { ServiceBackend } from "../model/backend.ts";
import type { RouteMatch } from "../model/gateway.ts";
import type { ResourceRef } from "../model/resource-ref.ts";
import type { ObjectStatus } from "../model/status.ts";
import type { ObjectOf } from "../resources/objects.ts";
import type { ResourceView } from "../resources/view.ts";
import { type AddressPool, allocateAddress } from "./addresses.ts";
import { routeHostnames } from "./hostname.ts";
import type { TranslatedHttpRoute, TranslatedRule } from "./httproute.ts";
import type { ListenerOwner, ListenerState } from "./listeners.ts";
import { byAge } from "./object-order.ts";
import type { AttachedRoute } from "./route-tables.ts";
import { resolveServiceBackend } from "./service-backends.ts";
import { validateTlsSecret } from "./tls-certificate.ts";

export const INGRESS_CONTROLLER = "strait.dev/ingress-controller";
const DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class";
const MODE_ANNOTATIONS = ["ingress.strait.dev/loadbalancer-mode", "ingress.cilium.io/loadbalancer-mode"];
const NO_HEADERS = { set: [], add: [], remove: [] } as const;

/** One set of listeners: the shared one, or a dedicated Ingress's. */
export interface IngressGateway {
  readonly namespace: string;
  readonly name: string;
  readonly ref: ResourceRef;
  readonly address?: string;
  readonly listeners: readonly ListenerState[];
  readonly routes: readonly AttachedRoute[];
}

export interface IngressOutput {
  readonly gateways: readonly IngressGateway[];
  readonly statuses: readonly ObjectStatus[];
  /** Translated Ingresses: their services become clusters. */
  readonly routes: readonly TranslatedHttpRoute[];
  /** Per Ingress, what was left out and why (resource backends, bad paths, missing Secrets). */
  readonly problems: readonly { readonly ref: ResourceRef; readonly problems: readonly string[] }[];
}

interface IngressBackendSpec {
  service?: { name: string; port?: { number?: number; name?: string } };
  resource?: { apiGroup?: string; kind: string; name: string };
}

interface IngressSpec {
  ingressClassName?: string;
  defaultBackend?: IngressBackendSpec;
  tls?: { hosts?: string[]; secretName?: string }[];
  rules?: {
    host?: string;
    http?: { paths?: { path?: string; pathType?: string; backend: IngressBackendSpec }[] };
  }[];
}

function classOf(ing: ObjectOf<"Ingress">): string | undefined {
  const spec = ing.spec as IngressSpec | undefined;
  return spec?.ingressClassName ?? ing.metadata.annotations?.["kubernetes.io/ingress.class"];
}

/** The Ingresses strait serves, oldest first. */
export function ourIngresses(view: ResourceView): ObjectOf<"Ingress">[] {
  const classes = view.list("IngressClass").filter((c) => c.spec?.controller === INGRESS_CONTROLLER);
  const names = new Set(classes.map((c) => c.metadata.name));
  const hasDefault = classes.some((c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === "true");
  return view
    .list("Ingress")
    .filter((ing) => {
      const cls = classOf(ing);
      return cls === undefined ? hasDefault : names.has(cls);
    })
    .sort(byAge);
}

function ingressRef(ing: ObjectOf<"Ingress">): ResourceRef {
  return {
    group: "networking.k8s.io",
    kind: "Ingress",
    namespace: ing.metadata.namespace ?? "",
    name: ing.metadata.name,
  };
}

function dedicated(ing: ObjectOf<"Ingress">): boolean {
  return MODE_ANNOTATIONS.some((a) => ing.metadata.annotations?.[a] === "dedicated");
}

/** A wildcard Ingress host matches one label: the regex an `:authority` header must match. */
function singleLabelAuthority(host: string): string {
  return `[^.:]+${host.slice(1).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(:[0-9]+)?`;
}

function pathMatch(path: string | undefined, pathType: string | undefined): RouteMatch["path"] | string {
  const value = path === undefined || path === "" ? "/" : path;
  if (!value.startsWith("/")) return `path "${value}" must start with /`;
  if (pathType === "Exact") return { type: "Exact", value };
  if (pathType !== "Prefix" && pathType !== "ImplementationSpecific")
    return `pathType ${pathType ?? "(none)"} is not supported`;
  const trimmed = value.length > 1 ? value.replace(/\/+$/, "") : value;
  return { type: "PathPrefix", value: trimmed === "" ? "/" : trimmed };
}

interface Translated {
  readonly routes: TranslatedHttpRoute[];
  readonly services: ServiceBackend[];
  readonly problems: string[];
}

function backendOf(
  view: ResourceView,
  namespace: string,
  spec: IngressBackendSpec,
  where: string,
  out: Translated,
): Pick<TranslatedRule, "backends" | "directStatus"> | undefined {
  if (spec.resource !== undefined) {
    out.problems.push(
      `${where}: resource backend ${spec.resource.apiGroup ?? ""}/${spec.resource.kind} ${spec.resource.name} is not supported; the path is not served`,
    );
    return undefined;
  }
  const svc = spec.service;
  if (svc === undefined) {
    out.problems.push(`${where}: the backend names no Service`);
    return undefined;
  }
  let port = svc.port?.number;
  if (port === undefined && svc.port?.name !== undefined) {
    const named = (view.get("Service", namespace, svc.name)?.spec?.ports ?? []).find(
      (p) => p.name === svc.port?.name,
    );
    port = named?.port;
  }
  const resolved = port === undefined ? undefined : resolveServiceBackend(view, namespace, svc.name, port);
  if (resolved === undefined || !resolved.ok) {
    out.problems.push(
      `${where}: ${resolved === undefined ? `Service ${namespace}/${svc.name} has no port ${svc.port?.name ?? ""}` : resolved.error.message}; answered with 503`,
    );
    return { backends: [], directStatus: 503 };
  }
  out.services.push(resolved.value);
  return { backends: [{ cluster: resolved.value.clusterName, weight: 1 }] };
}

function rule(
  name: string,
  index: number,
  match: RouteMatch,
  backend: Pick<TranslatedRule, "backends" | "directStatus">,
): TranslatedRule {
  return {
    index,
    name,
    matches: [match],
    requestHeaders: NO_HEADERS,
    responseHeaders: NO_HEADERS,
    backends: backend.backends,
    mirrors: [],
    ...(backend.directStatus === undefined ? {} : { directStatus: backend.directStatus }),
  };
}

/** One Ingress → one translated route per host (`*` for rules without a host and the default backend). */
export function translateIngress(
  view: ResourceView,
  ing: ObjectOf<"Ingress">,
  withDefault: boolean,
): Translated {
  const namespace = ing.metadata.namespace ?? "";
  const spec = (ing.spec ?? {}) as IngressSpec;
  const out: Translated = { routes: [], services: [], problems: [] };
  const byHost = new Map<string, TranslatedRule[]>();
  let index = 0;
  (spec.rules ?? []).forEach((r, ri) => {
    const host = r.host === undefined || r.host === "" ? "*" : r.host;
    const rules = byHost.get(host) ?? [];
    byHost.set(host, rules);
    (r.http?.paths ?? []).forEach((p, pi) => {
      const where = `rules[${ri}].http.paths[${pi}]`;
      const path = pathMatch(p.path, p.pathType);
      if (typeof path === "string") {
        out.problems.push(`${where}: ${path}`);
        return;
      }
      const backend = backendOf(view, namespace, p.backend, where, out);
      if (backend === undefined) return;
      const headers = host.startsWith("*.")
        ? [{ name: ":authority", type: "RegularExpression" as const, value: singleLabelAuthority(host) }]
        : [];
      rules.push(rule(`rule-${ri}-path-${pi}`, index++, { path, headers, queryParams: [] }, backend));
    });
  });
  if (withDefault && spec.defaultBackend !== undefined) {
    const backend = backendOf(view, namespace, spec.defaultBackend, "defaultBackend", out);
    if (backend !== undefined) {
      const rules = byHost.get("*") ?? [];
      byHost.set("*", rules);
      rules.push(
        rule(
          "default-backend",
          index++,
          { path: { type: "PathPrefix", value: "/" }, headers: [], queryParams: [] },
          backend,
        ),
      );
    }
  }
  const ref = ingressRef(ing);
  for (const [host, rules] of byHost) {
    out.routes.push({
      ref,
      namespace,
      name: ing.metadata.name,
      creationTimestamp: ing.metadata.creationTimestamp ?? "",
      generation: ing.metadata.generation,
      hostnames: host === "*" ? [] : [host],
      rules,
      invalidRules: [],
      refProblems: [],
      services: out.services,
      policies: [],
    });
  }
  return out;
}

function listener(
  owner: ListenerOwner,
  name: string,
  port: number,
  protocol: "HTTP" | "HTTPS",
  hostname: string | undefined,
  certificates: ListenerState["certificates"],
): ListenerState {
  return {
    owner,
    name,
    port,
    protocol,
    ...(hostname === undefined ? {} : { hostname }),
    supportedKinds: [],
    namespaces: { from: "All" },
    accepted: true,
    programmed: true,
    conditions: [],
    certificates,
    attachedRoutes: 0,
  };
}

function previousAddress(ing: ObjectOf<"Ingress">): string | undefined {
  return (ing.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined)?.loadBalancer
    ?.ingress?.[0]?.ip;
}

/** The addresses strait's Ingresses were given before (their status): kept for them. */
export function ingressPreviousAddresses(view: ResourceView): Set<string> {
  const out = new Set<string>();
  for (const ing of ourIngresses(view)) {
    const a = previousAddress(ing);
    if (a !== undefined) out.add(a);
  }
  return out;
}

/** Listeners and routes for a group of Ingresses served together. */
function buildIngressGateway(
  view: ResourceView,
  base: { namespace: string; name: string },
  ingresses: readonly ObjectOf<"Ingress">[],
  address: string | undefined,
  translated: Map<ObjectOf<"Ingress">, Translated>,
): IngressGateway {
  const ref = { group: "networking.k8s.io", kind: "Ingress", namespace: base.namespace, name: base.name };
  const owner: ListenerOwner = { kind: "Gateway", namespace: base.namespace, name: base.name, ref };
  const listeners: ListenerState[] = [listener(owner, "http", 80, "HTTP", undefined, [])];
  const tlsHosts = new Set<string>();
  for (const ing of ingresses) {
    const namespace = ing.metadata.namespace ?? "";
    for (const tls of ((ing.spec ?? {}) as IngressSpec).tls ?? []) {
      if (tls.secretName === undefined) continue;
      const secret = view.get("Secret", namespace, tls.secretName);
      const material = secret === undefined ? undefined : validateTlsSecret(secret);
      if (material === undefined || !material.ok) {
        translated
          .get(ing)
          ?.problems.push(
            `tls: Secret ${namespace}/${tls.secretName} ${material === undefined ? "not found" : material.error}; its hosts are not served over HTTPS`,
          );
        continue;
      }
      const cert = {
        name: `${namespace}/${tls.secretName}`,
        material: material.value,
        source: { group: "", kind: "Secret", namespace, name: tls.secretName },
      };
      const hosts = tls.hosts === undefined || tls.hosts.length === 0 ? ["*"] : tls.hosts;
      for (const host of hosts) {
        // The first Ingress (oldest) to name a TLS host gives its certificate.
        if (tlsHosts.has(host)) continue;
        tlsHosts.add(host);
        listeners.push(
          listener(owner, `https-${host}`, 443, "HTTPS", host === "*" ? undefined : host, [cert]),
        );
      }
    }
  }
  const routes: AttachedRoute[] = [];
  for (const ing of ingresses) {
    for (const route of translated.get(ing)?.routes ?? []) {
      for (const l of listeners) {
        const hostnames = routeHostnames(l.hostname, route.hostnames);
        // An HTTPS listener serves the hosts its TLS entry names, not every host under a wildcard rule.
        if (
          hostnames.length === 0 ||
          (l.protocol === "HTTPS" && l.hostname !== undefined && !hostnames.includes(l.hostname))
        )
          continue;
        l.attachedRoutes++;
        routes.push({ route, attachment: { listener: l, hostnames } });
      }
    }
  }
  return {
    namespace: base.namespace,
    name: base.name,
    ref,
    ...(address === undefined ? {} : { address }),
    listeners,
    routes,
  };
}

export function translateIngresses(view: ResourceView, pool: AddressPool, taken: Set<string>): IngressOutput {
  const ingresses = ourIngresses(view);
  const translated = new Map<ObjectOf<"Ingress">, Translated>();
  let sharedDefault = false;
  for (const ing of ingresses) {
    // Shared mode: one defaultBackend for the address, the oldest Ingress's.
    const own = dedicated(ing);
    const hasDefault = ((ing.spec ?? {}) as IngressSpec).defaultBackend !== undefined;
    translated.set(ing, translateIngress(view, ing, own || !sharedDefault));
    if (!own && hasDefault) sharedDefault = true;
  }
  const gateways: IngressGateway[] = [];
  const addressOf = new Map<ObjectOf<"Ingress">, string | undefined>();
  const shared = ingresses.filter((i) => !dedicated(i));
  if (shared.length > 0) {
    const previous = shared.map(previousAddress).find((a) => a !== undefined);
    const address = allocateAddress(pool, "strait:ingress/shared", previous, taken);
    if (address !== undefined) taken.add(address);
    gateways.push(
      buildIngressGateway(view, { namespace: "strait:ingress", name: "shared" }, shared, address, translated),
    );
    for (const i of shared) addressOf.set(i, address);
  }
  for (const ing of ingresses.filter(dedicated)) {
    const namespace = ing.metadata.namespace ?? "";
    const address = allocateAddress(
      pool,
      `${namespace}/ingress:${ing.metadata.name}`,
      previousAddress(ing),
      taken,
    );
    if (address !== undefined) taken.add(address);
    gateways.push(
      buildIngressGateway(
        view,
        { namespace, name: `ingress:${ing.metadata.name}` },
        [ing],
        address,
        translated,
      ),
    );
    addressOf.set(ing, address);
  }
  const statuses: ObjectStatus[] = ingresses.map((ing) => {
    const address = addressOf.get(ing);
    return {
      ref: ingressRef(ing),
      status: { loadBalancer: address === undefined ? {} : { ingress: [{ ip: address }] } },
    };
  });
  return {
    gateways,
    statuses,
    routes: [...translated.values()].flatMap((t) => t.routes),
    problems: ingresses
      .map((ing) => ({
        ref: ingressRef(ing),
        problems: translated.get(ing)?.problems ?? [],
      }))
      .filter((p) => p.problems.length > 0),
  };
}
