/**
 * Gateway: addresses, infrastructure parameters and listeners of one Gateway,
 * and its Accepted/Programmed conditions.
 */

import type { ResourceRef } from "../model/resource-ref.ts";
import type { ObjectOf } from "../resources/objects.ts";
import type { ResourceView } from "../resources/view.ts";
import { type AddressPool, allocateAddress, isIPv4, poolContains } from "./addresses.ts";
import { type ConditionInput, cond } from "./conditions.ts";
import { type ListenerInput, type ListenerState, validateListeners } from "./listeners.ts";
import { type ListenerSetState, listenerSetAccepted, listenerSetsOf } from "./listenerset.ts";
import { referenceAllowed } from "./reference-grant.ts";
import type { AttachedRoute, AttachedTlsRoute } from "./route-tables.ts";
import { type TlsMaterial, validateTlsSecret } from "./tls-certificate.ts";
import { markOverlappingTls } from "./tls-overlap.ts";

export interface GatewayState {
  readonly gateway: ObjectOf<"Gateway">;
  readonly namespace: string;
  readonly name: string;
  /** Every listener of the Gateway's ports: its own, then those of accepted ListenerSets. */
  readonly listeners: readonly ListenerState[];
  readonly listenerSets: readonly ListenerSetState[];
  readonly address?: string;
  readonly accepted: ConditionInput;
  /** References of the Gateway itself (spec.tls.backend.clientCertificateRef). */
  readonly resolvedRefs: ConditionInput;
  /** The client certificate presented to TLS backends, when configured and valid. */
  readonly backendClientCertificate?: {
    readonly name: string;
    readonly material: TlsMaterial;
    readonly source: ResourceRef;
  };
  readonly programmed: ConditionInput;
  readonly insecureFallback: boolean;
  routes: AttachedRoute[];
  tlsRoutes: AttachedTlsRoute[];
}

interface AddressDecision {
  readonly address?: string;
  readonly unsupported?: string;
  readonly notUsable?: string;
}

function decideAddress(
  gw: ObjectOf<"Gateway">,
  pool: AddressPool,
  taken: Set<string>,
  previous: string | undefined,
): AddressDecision {
  const key = `${gw.metadata.namespace}/${gw.metadata.name}`;
  const asked = (gw.spec.addresses ?? []) as { type?: string; value?: string }[];
  for (const a of asked) {
    const type = a.type ?? "IPAddress";
    if (type !== "IPAddress")
      return { unsupported: `address type ${type} is not supported; strait assigns IP addresses` };
    if (a.value !== undefined && a.value !== "" && !isIPv4(a.value))
      return { unsupported: `address ${a.value} is not an IPv4 address` };
  }
  const values = asked.map((a) => a.value).filter((v): v is string => v !== undefined && v !== "");
  for (const value of values) {
    if (!poolContains(pool, value)) return { notUsable: `address ${value} is not in the address pool` };
    if (taken.has(value)) return { notUsable: `address ${value} is already used by another Gateway` };
  }
  if (values[0] !== undefined) {
    for (const v of values) taken.add(v);
    return { address: values[0] };
  }
  const address = allocateAddress(pool, key, previous, taken);
  return address === undefined ? { notUsable: "the address pool is exhausted" } : { address };
}

function infrastructureProblem(view: ResourceView, gw: ObjectOf<"Gateway">): string | undefined {
  const ref = gw.spec.infrastructure?.parametersRef;
  if (ref === undefined) return undefined;
  if ((ref.group ?? "") !== "" || ref.kind !== "ConfigMap")
    return `infrastructure.parametersRef ${ref.group}/${ref.kind} is not supported (use a ConfigMap)`;
  if (view.get("ConfigMap", gw.metadata.namespace ?? "", ref.name) === undefined)
    return `ConfigMap ${ref.name} not found`;
  return undefined;
}

/** Gateways in a stable order: oldest first, so address allocation does not move old Gateways. */

interface ClientCertificateRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
}

/** spec.tls.backend.clientCertificateRef: the certificate the Gateway presents to TLS backends. */
function resolveBackendClientCertificate(
  view: ResourceView,
  gw: ObjectOf<"Gateway">,
): { condition: ConditionInput; certificate?: NonNullable<GatewayState["backendClientCertificate"]> } {
  const ref = (gw.spec.tls as { backend?: { clientCertificateRef?: ClientCertificateRef } } | undefined)
    ?.backend?.clientCertificateRef;
  if (ref === undefined)
    return { condition: cond("ResolvedRefs", true, "ResolvedRefs", "all references resolved") };
  const gwNs = gw.metadata.namespace ?? "";
  const ns = ref.namespace ?? gwNs;
  const invalid = (reason: string, message: string) => ({
    condition: cond("ResolvedRefs", false, reason, message),
  });
  if ((ref.group ?? "") !== "" || (ref.kind ?? "Secret") !== "Secret") {
    return invalid(
      "InvalidClientCertificateRef",
      `clientCertificateRef ${ref.group ?? ""}/${ref.kind ?? ""} ${ref.name} is not a Secret`,
    );
  }
  if (
    !referenceAllowed(
      view,
      { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: gwNs },
      { group: "", kind: "Secret", namespace: ns, name: ref.name },
    )
  ) {
    return invalid(
      "RefNotPermitted",
      `Secret ${ns}/${ref.name} is in another namespace and no ReferenceGrant allows the reference`,
    );
  }
  const secret = view.get("Secret", ns, ref.name);
  if (secret === undefined)
    return invalid("InvalidClientCertificateRef", `Secret ${ns}/${ref.name} not found`);
  const material = validateTlsSecret(secret);
  if (!material.ok)
    return invalid("InvalidClientCertificateRef", `Secret ${ns}/${ref.name}: ${material.error}`);
  return {
    condition: cond("ResolvedRefs", true, "ResolvedRefs", "all references resolved"),
    certificate: {
      name: `${ns}/${ref.name}`,
      material: material.value,
      source: { group: "", kind: "Secret", namespace: ns, name: ref.name },
    },
  };
}

/**
 * The Gateway's ResolvedRefs covers its own references and its listeners':
 * it is never True while one of its listeners reports ResolvedRefs=False
 * (ListenerSets' listeners report on the ListenerSet).
 */
function aggregateResolvedRefs(own: ConditionInput, listeners: readonly ListenerState[]): ConditionInput {
  if (own.status !== "True") return own;
  for (const l of listeners) {
    const c = l.conditions.find((x) => x.type === "ResolvedRefs");
    if (c !== undefined && c.status !== "True")
      return cond("ResolvedRefs", false, c.reason, `listener ${l.name}: ${c.message}`);
  }
  return own;
}

export function buildGatewayState(
  view: ResourceView,
  gw: ObjectOf<"Gateway">,
  pool: AddressPool,
  taken: Set<string>,
  /** The address this Gateway was given before (an input: status is never read back). */
  previousAddress: string | undefined,
): GatewayState {
  const namespace = gw.metadata.namespace ?? "";
  const ref = { group: "gateway.networking.k8s.io", kind: "Gateway", namespace, name: gw.metadata.name };
  const listenerSets = listenerSetsOf(view, gw);
  const inputs: ListenerInput[] = gw.spec.listeners.map((spec) => ({
    owner: { kind: "Gateway" as const, namespace, name: gw.metadata.name, ref },
    spec,
  }));
  for (const ls of listenerSets) {
    if (!ls.allowed) continue;
    const lsRef = {
      group: "gateway.networking.k8s.io",
      kind: "ListenerSet",
      namespace: ls.namespace,
      name: ls.name,
    };
    for (const spec of ls.listenerSet.spec.listeners) {
      inputs.push({
        owner: { kind: "ListenerSet", namespace: ls.namespace, name: ls.name, ref: lsRef },
        spec: spec as ListenerInput["spec"],
      });
    }
  }
  const all = markOverlappingTls(validateListeners(view, inputs, gw.spec.tls));
  for (const ls of listenerSets)
    ls.listeners = all.filter(
      (l) => l.owner.kind === "ListenerSet" && l.owner.namespace === ls.namespace && l.owner.name === ls.name,
    );
  // A ListenerSet with no valid listener is not accepted: its listeners serve nothing.
  const listeners = all.filter(
    (l) =>
      l.owner.kind === "Gateway" ||
      listenerSets.some((ls) => ls.listeners.includes(l) && listenerSetAccepted(ls)),
  );
  const own = all.filter((l) => l.owner.kind === "Gateway");
  const address = decideAddress(gw, pool, taken, previousAddress);
  const clientCert = resolveBackendClientCertificate(view, gw);
  const infra = infrastructureProblem(view, gw);
  const validListeners = own.filter((l) => l.accepted).length;
  let accepted: ConditionInput;
  if (address.unsupported !== undefined)
    accepted = cond("Accepted", false, "UnsupportedAddress", address.unsupported);
  else if (infra !== undefined) accepted = cond("Accepted", false, "InvalidParameters", infra);
  else if (validListeners === 0)
    accepted = cond("Accepted", false, "ListenersNotValid", "no listener is valid");
  else if (validListeners < own.length)
    accepted = cond(
      "Accepted",
      true,
      "ListenersNotValid",
      "some listeners are invalid; the valid ones are served",
    );
  else accepted = cond("Accepted", true, "Accepted", "Gateway is accepted");
  let programmed: ConditionInput;
  if (accepted.status === "False") programmed = cond("Programmed", false, "Invalid", accepted.message);
  else if (address.notUsable !== undefined)
    programmed = cond("Programmed", false, "AddressNotUsable", address.notUsable);
  else if (address.address === undefined)
    programmed = cond("Programmed", false, "AddressNotAssigned", "no address could be assigned");
  else programmed = cond("Programmed", true, "Programmed", `Gateway is programmed on ${address.address}`);
  return {
    gateway: gw,
    namespace,
    name: gw.metadata.name,
    listeners,
    listenerSets,
    ...(address.address === undefined || programmed.status === "False" ? {} : { address: address.address }),
    accepted,
    programmed,
    resolvedRefs: aggregateResolvedRefs(clientCert.condition, own),
    ...(clientCert.certificate === undefined ? {} : { backendClientCertificate: clientCert.certificate }),
    insecureFallback: listeners.some((l) => l.clientValidation?.optional === true),
    routes: [],
    tlsRoutes: [],
  };
}
