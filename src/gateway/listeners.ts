/**
 * Gateway listeners: protocol support, conflicts, allowed route kinds, TLS
 * certificates and client-certificate validation, each with the spec's
 * condition reasons.
 *
 * Conflicts are decided in precedence order (the Gateway's own listeners in
 * spec order, then ListenerSets by age and name): the first listener on a
 * port fixes the port's protocol and owns its hostname; a later listener that
 * disagrees is Conflicted and is not programmed, while the first keeps
 * serving. This keeps a newly added listener from breaking running traffic.
 */
import type { ResourceRef } from "../model/resource-ref.ts";
import type { ObjectOf } from "../resources/objects.ts";
import type { ResourceView } from "../resources/view.ts";
import { type ConditionInput, cond } from "./conditions.ts";
import { type NamespacePolicy, type NamespacesSpec, namespacePolicyOf } from "./namespace-policy.ts";
import { referenceAllowed } from "./reference-grant.ts";
import { type TlsMaterial, validateCaBundle, validateTlsSecret } from "./tls-certificate.ts";

const GROUP = "gateway.networking.k8s.io";

type ListenerSpec = ObjectOf<"Gateway">["spec"]["listeners"][number];

export interface RouteKind {
  readonly group: string;
  readonly kind: string;
}

/** Route kinds each listener protocol can carry. */
const KINDS_BY_PROTOCOL: Readonly<Record<string, readonly RouteKind[]>> = {
  HTTP: [
    { group: GROUP, kind: "HTTPRoute" },
    { group: GROUP, kind: "GRPCRoute" },
  ],
  HTTPS: [
    { group: GROUP, kind: "HTTPRoute" },
    { group: GROUP, kind: "GRPCRoute" },
  ],
  TLS: [{ group: GROUP, kind: "TLSRoute" }],
};

/**
 * Protocols that can share a port: HTTPS and TLS listeners are both told
 * apart by SNI, so one port can carry HTTPS listeners and TLS listeners in
 * Passthrough or Terminate mode (TLSRouteModeMixed); HTTP cannot share a port
 * with either.
 */
function portFamily(protocol: string): string {
  return protocol === "HTTPS" || protocol === "TLS" ? "TLS" : protocol;
}

export interface ListenerOwner {
  readonly kind: "Gateway" | "ListenerSet";
  readonly namespace: string;
  readonly name: string;
  readonly ref: ResourceRef;
}

export interface ListenerState {
  readonly owner: ListenerOwner;
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
  readonly hostname?: string;
  /** TLS listeners: whether the Gateway terminates TLS or passes it through to the backend. */
  readonly tlsMode?: "Terminate" | "Passthrough";
  readonly supportedKinds: readonly RouteKind[];
  readonly namespaces: NamespacePolicy;
  /** Routes can attach (Accepted=True). */
  readonly accepted: boolean;
  /** Traffic can be served (accepted, not conflicted, with valid TLS when HTTPS). */
  readonly programmed: boolean;
  readonly conditions: readonly ConditionInput[];
  /** Valid certificates, as `namespace/name` with their material. */
  readonly certificates: readonly {
    readonly name: string;
    readonly material: TlsMaterial;
    readonly source: ResourceRef;
  }[];
  readonly clientValidation?: {
    readonly caBundle: string;
    readonly pem: string;
    readonly optional: boolean;
    readonly source: ResourceRef;
  };
  /** Filled in by route attachment. */
  attachedRoutes: number;
}

interface CertificateRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
}

interface FrontendValidation {
  caCertificateRefs?: CertificateRef[];
  mode?: string;
}

interface GatewayTls {
  frontend?: {
    default?: { validation?: FrontendValidation };
    perPort?: { port: number; tls?: { validation?: FrontendValidation } }[];
  };
}

function namespacePolicy(listener: ListenerSpec): NamespacePolicy {
  return namespacePolicyOf(
    listener.allowedRoutes?.namespaces as NamespacesSpec | undefined,
    "Same",
    "allowedRoutes.namespaces",
  );
}

function routeKinds(listener: ListenerSpec): { kinds: RouteKind[]; invalid: string[] } {
  const supported = KINDS_BY_PROTOCOL[listener.protocol] ?? [];
  const asked = listener.allowedRoutes?.kinds;
  if (asked === undefined || asked.length === 0) return { kinds: [...supported], invalid: [] };
  const kinds: RouteKind[] = [];
  const invalid: string[] = [];
  for (const k of asked) {
    const group = k.group ?? GROUP;
    if (supported.some((s) => s.group === group && s.kind === k.kind)) {
      if (!kinds.some((x) => x.group === group && x.kind === k.kind)) kinds.push({ group, kind: k.kind });
    } else {
      invalid.push(`${group}/${k.kind}`);
    }
  }
  return { kinds, invalid };
}

interface RefProblem {
  readonly reason: string;
  readonly message: string;
}

function resolveCertificates(
  view: ResourceView,
  owner: ListenerOwner,
  refs: readonly CertificateRef[],
): { certificates: ListenerState["certificates"]; problem?: RefProblem } {
  const certificates: { name: string; material: TlsMaterial; source: ResourceRef }[] = [];
  let problem: RefProblem | undefined;
  for (const ref of refs) {
    const group = ref.group ?? "";
    const kind = ref.kind ?? "Secret";
    const namespace = ref.namespace ?? owner.namespace;
    if (group !== "" || kind !== "Secret") {
      problem ??= {
        reason: "InvalidCertificateRef",
        message: `certificateRef ${group}/${kind} ${ref.name} is not a Secret`,
      };
      continue;
    }
    if (
      !referenceAllowed(
        view,
        { group: GROUP, kind: owner.kind, namespace: owner.namespace },
        { group: "", kind: "Secret", namespace, name: ref.name },
      )
    ) {
      problem ??= {
        reason: "RefNotPermitted",
        message: `Secret ${namespace}/${ref.name} is in another namespace and no ReferenceGrant allows the reference`,
      };
      continue;
    }
    const secret = view.get("Secret", namespace, ref.name);
    if (secret === undefined) {
      problem ??= { reason: "InvalidCertificateRef", message: `Secret ${namespace}/${ref.name} not found` };
      continue;
    }
    const material = validateTlsSecret(secret);
    if (!material.ok) {
      problem ??= {
        reason: "InvalidCertificateRef",
        message: `Secret ${namespace}/${ref.name}: ${material.error}`,
      };
      continue;
    }
    certificates.push({
      name: `${namespace}/${ref.name}`,
      material: material.value,
      source: { group: "", kind: "Secret", namespace, name: ref.name },
    });
  }
  return problem === undefined ? { certificates } : { certificates, problem };
}

function resolveClientValidation(
  view: ResourceView,
  owner: ListenerOwner,
  validation: FrontendValidation,
): { value?: ListenerState["clientValidation"]; problem?: RefProblem } {
  const refs = validation.caCertificateRefs ?? [];
  const optional = validation.mode === "AllowInsecureFallback";
  for (const ref of refs) {
    const group = ref.group ?? "";
    const namespace = ref.namespace ?? owner.namespace;
    if (group !== "" || ref.kind !== "ConfigMap") {
      return {
        problem: {
          reason: "InvalidCACertificateKind",
          message: `caCertificateRef ${group}/${ref.kind ?? ""} ${ref.name} is not a ConfigMap`,
        },
      };
    }
    if (
      !referenceAllowed(
        view,
        { group: GROUP, kind: owner.kind, namespace: owner.namespace },
        { group: "", kind: "ConfigMap", namespace, name: ref.name },
      )
    ) {
      return {
        problem: {
          reason: "RefNotPermitted",
          message: `ConfigMap ${namespace}/${ref.name} is in another namespace and no ReferenceGrant allows the reference`,
        },
      };
    }
    const cm = view.get("ConfigMap", namespace, ref.name);
    if (cm === undefined)
      return {
        problem: {
          reason: "InvalidCACertificateRef",
          message: `ConfigMap ${namespace}/${ref.name} not found`,
        },
      };
    const bundle = validateCaBundle(cm.data?.["ca.crt"]);
    if (!bundle.ok)
      return {
        problem: {
          reason: "InvalidCACertificateRef",
          message: `ConfigMap ${namespace}/${ref.name}: ${bundle.error}`,
        },
      };
    return {
      value: {
        caBundle: `${namespace}/${ref.name}`,
        pem: bundle.value,
        optional,
        source: { group: "", kind: "ConfigMap", namespace, name: ref.name },
      },
    };
  }
  return {};
}

/** Validation settings for a port: `perPort` wins over `default`. */
function frontendValidationFor(tls: GatewayTls | undefined, port: number): FrontendValidation | undefined {
  const perPort = tls?.frontend?.perPort?.find((p) => p.port === port);
  return perPort?.tls?.validation ?? tls?.frontend?.default?.validation;
}

interface PortClaim {
  protocol: string;
  hostnames: Set<string>;
}

export interface ListenerInput {
  readonly owner: ListenerOwner;
  readonly spec: ListenerSpec;
}

/**
 * Validates listeners in precedence order. `gatewayTls` is the Gateway's
 * `spec.tls` (frontend client-certificate validation per port).
 */
export function validateListeners(
  view: ResourceView,
  inputs: readonly ListenerInput[],
  gatewayTls: unknown,
): ListenerState[] {
  const claims = new Map<number, PortClaim>();
  const out: ListenerState[] = [];
  for (const { owner, spec } of inputs) {
    const hostname = spec.hostname === undefined || spec.hostname === "" ? undefined : spec.hostname;
    const base = {
      owner,
      name: spec.name,
      port: spec.port,
      protocol: spec.protocol,
      ...(hostname === undefined ? {} : { hostname }),
      namespaces: namespacePolicy(spec),
      attachedRoutes: 0,
    };
    // Conflicts with listeners of higher precedence on the same port (checked for every listener,
    // as the spec's conflict reasons apply whatever the protocol). Only a listener that is otherwise
    // acceptable claims its port and hostname, below: a rejected one serves nothing there.
    const claim = claims.get(spec.port);
    const hostKey = hostname ?? "";
    let conflict: "ProtocolConflict" | "HostnameConflict" | undefined;
    if (claim !== undefined && claim.protocol !== portFamily(spec.protocol)) conflict = "ProtocolConflict";
    else if (claim?.hostnames.has(hostKey)) conflict = "HostnameConflict";

    const supported = KINDS_BY_PROTOCOL[spec.protocol] !== undefined;
    if (!supported && conflict === undefined) {
      // Route kinds are still checked: none is valid on a protocol strait does not serve.
      const asked = routeKinds(spec).invalid;
      out.push({
        ...base,
        supportedKinds: [],
        accepted: false,
        programmed: false,
        certificates: [],
        conditions: [
          cond("Accepted", false, "UnsupportedProtocol", `protocol ${spec.protocol} is not supported`),
          cond("Conflicted", false, "NoConflicts", "no conflicts"),
          cond("Programmed", false, "Invalid", `protocol ${spec.protocol} is not supported`),
          asked.length === 0
            ? cond("ResolvedRefs", true, "ResolvedRefs", "no references to resolve")
            : cond(
                "ResolvedRefs",
                false,
                "InvalidRouteKinds",
                `route kinds ${asked.join(", ")} are not supported on ${spec.protocol} listeners`,
              ),
        ],
      });
      continue;
    }

    const { kinds, invalid } = routeKinds(spec);
    const refProblems: RefProblem[] = [];
    if (invalid.length > 0)
      refProblems.push({
        reason: "InvalidRouteKinds",
        message: `route kinds ${invalid.join(", ")} are not supported on ${spec.protocol} listeners`,
      });

    let certificates: ListenerState["certificates"] = [];
    let clientValidation: ListenerState["clientValidation"];
    // An allowedRoutes that admits nothing (fails closed) makes the listener invalid, saying why.
    let acceptProblem: RefProblem | undefined =
      base.namespaces.from === "Invalid"
        ? { reason: "UnsupportedValue", message: base.namespaces.message }
        : undefined;
    const mode = spec.tls?.mode ?? "Terminate";
    const tlsMode =
      spec.protocol === "TLS" && (mode === "Terminate" || mode === "Passthrough") ? mode : undefined;
    if (spec.protocol === "TLS" && tlsMode === undefined) {
      acceptProblem ??= { reason: "UnsupportedValue", message: `TLS mode ${mode} is not supported` };
    }
    const terminates = spec.protocol === "HTTPS" || tlsMode === "Terminate";
    if (terminates) {
      if (spec.protocol === "HTTPS" && mode !== "Terminate") {
        acceptProblem ??= {
          reason: "UnsupportedValue",
          message: `TLS mode ${mode} is not valid on an HTTPS listener`,
        };
      }
      const certs = resolveCertificates(view, owner, (spec.tls?.certificateRefs ?? []) as CertificateRef[]);
      certificates = certs.certificates;
      if (certs.problem !== undefined) refProblems.push(certs.problem);
      else if (certificates.length === 0)
        refProblems.push({
          reason: "InvalidCertificateRef",
          message:
            spec.protocol === "HTTPS"
              ? "an HTTPS listener needs at least one certificateRef"
              : "a TLS listener in Terminate mode needs at least one certificateRef",
        });
    }
    if (spec.protocol === "HTTPS") {
      const validation = frontendValidationFor(gatewayTls as GatewayTls | undefined, spec.port);
      if (validation !== undefined) {
        const resolved = resolveClientValidation(view, owner, validation);
        if (resolved.problem !== undefined) {
          refProblems.push(resolved.problem);
          acceptProblem ??= { reason: "NoValidCACertificate", message: resolved.problem.message };
        }
        clientValidation = resolved.value;
      }
    }

    if (conflict === undefined && acceptProblem === undefined) {
      if (claim === undefined)
        claims.set(spec.port, { protocol: portFamily(spec.protocol), hostnames: new Set([hostKey]) });
      else claim.hostnames.add(hostKey);
    }

    const accepted = conflict === undefined && acceptProblem === undefined;
    const hasCert = !terminates || certificates.length > 0;
    const programmed = accepted && hasCert;
    const firstRef = refProblems[0];
    const conditions: ConditionInput[] = [
      conflict !== undefined
        ? cond("Accepted", false, conflict, `another listener on port ${spec.port} takes precedence`)
        : acceptProblem !== undefined
          ? cond("Accepted", false, acceptProblem.reason, acceptProblem.message)
          : cond("Accepted", true, "Accepted", "listener is accepted"),
      conflict !== undefined
        ? cond(
            "Conflicted",
            true,
            conflict,
            conflict === "ProtocolConflict"
              ? `port ${spec.port} already serves another protocol`
              : `hostname ${hostname ?? "(none)"} on port ${spec.port} is already served by another listener`,
          )
        : cond("Conflicted", false, "NoConflicts", "no conflicts"),
      conflict !== undefined
        ? cond("Programmed", false, conflict, "listener conflicts with another listener")
        : programmed
          ? cond("Programmed", true, "Programmed", "listener is programmed")
          : cond(
              "Programmed",
              false,
              "Invalid",
              firstRef?.message ?? acceptProblem?.message ?? "listener is invalid",
            ),
      firstRef === undefined
        ? cond("ResolvedRefs", true, "ResolvedRefs", "all references resolved")
        : cond("ResolvedRefs", false, firstRef.reason, firstRef.message),
    ];
    out.push({
      ...base,
      ...(tlsMode === undefined ? {} : { tlsMode }),
      supportedKinds: kinds,
      accepted,
      programmed,
      certificates,
      ...(clientValidation === undefined ? {} : { clientValidation }),
      conditions,
    });
  }
  return out;
}
