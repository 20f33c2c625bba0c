/**
 * BackendTLSPolicy: TLS from the gateway to a Service (or one port of it,
 * by sectionName), with the certificate validated against a CA bundle
 * (ConfigMap `ca.crt`) or the system trust store, and against a hostname or
 * explicit subject alternative names.
 *
 * Conflicts follow GEP-713: among policies targeting the same Service and
 * section, the oldest (then the first by name) wins; the others report
 * Accepted=False/Conflicted. A policy for a section applies to that port in
 * preference to a policy for the whole Service.
 *
 * A policy whose CA bundle cannot be used is reported (NoValidCACertificate,
 * InvalidCACertificateRef or InvalidKind) and the backends it targets are not
 * used in clear text instead: their share of requests gets HTTP 500.
 */
import type { UpstreamTls } from "../model/backend.ts";
import type { CaBundle } from "../model/gateway.ts";
import type { ObjectOf } from "../resources/objects.ts";
import type { ResourceView } from "../resources/view.ts";
import { type ConditionInput, cond } from "./conditions.ts";
import { byAge } from "./object-order.ts";
import { validateCaBundle } from "./tls-certificate.ts";

export interface PolicyDecision {
  readonly policy: ObjectOf<"BackendTLSPolicy">;
  readonly conditions: readonly ConditionInput[];
  /** Usable TLS settings, when the policy is valid. */
  readonly tls?: Omit<UpstreamTls, "clientCertificate">;
  readonly caBundle?: CaBundle;
  /** Why targeted backends cannot be used, when the policy is invalid. */
  readonly problem?: string;
  /** For a conflicted policy: the decision that won its target (it has the same ancestors). */
  readonly conflictsWith?: PolicyDecision;
}

export interface BackendTlsPolicies {
  /** Winning decision by `namespace/service/section` ("" for the whole Service). */
  readonly byTarget: ReadonlyMap<string, PolicyDecision>;
  readonly decisions: readonly PolicyDecision[];
}

interface TargetRef {
  group?: string;
  kind?: string;
  name: string;
  sectionName?: string;
}

function evaluate(view: ResourceView, policy: ObjectOf<"BackendTLSPolicy">): PolicyDecision {
  const ns = policy.metadata.namespace ?? "";
  const validation = policy.spec.validation;
  const sans = (validation.subjectAltNames ?? []).map((s) =>
    s.type === "URI"
      ? { type: "URI" as const, value: s.uri ?? "" }
      : { type: "DNS" as const, value: s.hostname ?? "" },
  );
  const ref = {
    group: "gateway.networking.k8s.io",
    kind: "BackendTLSPolicy",
    namespace: ns,
    name: policy.metadata.name,
  };
  if (validation.wellKnownCACertificates === "System") {
    return {
      policy,
      conditions: [
        cond("Accepted", true, "Accepted", "policy is accepted"),
        cond("ResolvedRefs", true, "ResolvedRefs", "uses the system trust store"),
      ],
      tls: { sni: validation.hostname, trust: { kind: "system" }, subjectAltNames: sans, sources: [ref] },
    };
  }
  const caRefs = validation.caCertificateRefs ?? [];
  const invalid = (reason: string, message: string): PolicyDecision => ({
    policy,
    conditions: [
      cond("Accepted", false, "NoValidCACertificate", message),
      cond("ResolvedRefs", false, reason, message),
    ],
    problem: `BackendTLSPolicy ${ns}/${policy.metadata.name}: ${message}`,
  });
  if (caRefs.length === 0)
    return invalid(
      "InvalidCACertificateRef",
      "validation needs caCertificateRefs or wellKnownCACertificates",
    );
  const pems: string[] = [];
  for (const caRef of caRefs) {
    if ((caRef.group ?? "") !== "" || caRef.kind !== "ConfigMap") {
      return invalid(
        "InvalidKind",
        `caCertificateRef ${caRef.group || "core"}/${caRef.kind} ${caRef.name} is not a ConfigMap`,
      );
    }
    const cm = view.get("ConfigMap", ns, caRef.name);
    if (cm === undefined)
      return invalid("InvalidCACertificateRef", `ConfigMap ${ns}/${caRef.name} not found`);
    const bundle = validateCaBundle(cm.data?.["ca.crt"]);
    if (!bundle.ok)
      return invalid("InvalidCACertificateRef", `ConfigMap ${ns}/${caRef.name}: ${bundle.error}`);
    pems.push(bundle.value);
  }
  const bundleName = caRefs.length === 1 ? `${ns}/${caRefs[0]?.name}` : `${ns}/${policy.metadata.name}`;
  return {
    policy,
    conditions: [
      cond("Accepted", true, "Accepted", "policy is accepted"),
      cond("ResolvedRefs", true, "ResolvedRefs", "all references resolved"),
    ],
    tls: {
      sni: validation.hostname,
      trust: { kind: "bundle", name: bundleName },
      subjectAltNames: sans,
      sources: [ref],
    },
    caBundle: {
      name: bundleName,
      certificates: pems.join("\n"),
      sources: caRefs.map((c) => ({ group: "", kind: "ConfigMap", namespace: ns, name: c.name })),
    },
  };
}

export function decideBackendTlsPolicies(view: ResourceView): BackendTlsPolicies {
  const byTarget = new Map<string, PolicyDecision>();
  const decisions: PolicyDecision[] = [];
  for (const policy of [...view.list("BackendTLSPolicy")].sort(byAge)) {
    const decision = evaluate(view, policy);
    let winner: PolicyDecision | undefined;
    const keys: string[] = [];
    for (const t of (policy.spec.targetRefs ?? []) as TargetRef[]) {
      if ((t.group ?? "") !== "" || (t.kind ?? "Service") !== "Service") continue;
      const key = `${policy.metadata.namespace}/${t.name}/${t.sectionName ?? ""}`;
      winner ??= byTarget.get(key);
      keys.push(key);
    }
    if (winner !== undefined) {
      decisions.push({
        policy,
        conflictsWith: winner,
        conditions: [
          cond(
            "Accepted",
            false,
            "Conflicted",
            "an older BackendTLSPolicy targets the same Service and section",
          ),
          decision.conditions[1] ?? cond("ResolvedRefs", true, "ResolvedRefs", ""),
        ],
      });
      continue;
    }
    for (const key of keys) byTarget.set(key, decision);
    decisions.push(decision);
  }
  return { byTarget, decisions };
}

/** The policy for one Service port: one naming the port's section first, else one for the whole Service. */
export function policyForPort(
  policies: BackendTlsPolicies,
  namespace: string,
  service: string,
  portName: string,
): PolicyDecision | undefined {
  return (
    (portName === "" ? undefined : policies.byTarget.get(`${namespace}/${service}/${portName}`)) ??
    policies.byTarget.get(`${namespace}/${service}/`)
  );
}
