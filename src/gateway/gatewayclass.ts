/**
 * GatewayClass: strait accepts the classes whose controllerName is its own
 * and ignores every other class (and the Gateways of those classes) entirely,
 * writing no status for them, as the spec asks.
 */
import type { ObjectStatus } from "../model/status.ts";
import type { ObjectOf } from "../resources/objects.ts";
import type { ResourceView } from "../resources/view.ts";
import { buildConditions, type ConditionInput, cond } from "./conditions.ts";
import { SUPPORTED_FEATURES } from "./features.ts";

export const CONTROLLER_NAME = "strait.dev/gateway-controller";
export const GATEWAY_API_VERSION = "v1.6.1";

export interface ClassDecision {
  readonly name: string;
  readonly accepted: boolean;
  readonly conditions: readonly ConditionInput[];
}

function parametersProblem(view: ResourceView, cls: ObjectOf<"GatewayClass">): string | undefined {
  const ref = cls.spec.parametersRef;
  if (ref === undefined) return undefined;
  // strait reads no parameters of its own; a ConfigMap reference is allowed (for tools that annotate it) when it exists.
  if ((ref.group ?? "") !== "" || ref.kind !== "ConfigMap") {
    return `parametersRef ${ref.group ?? ""}/${ref.kind} is not supported; strait takes no GatewayClass parameters (a ConfigMap reference is accepted)`;
  }
  if (ref.namespace === undefined) return "parametersRef to a ConfigMap needs a namespace";
  if (view.get("ConfigMap", ref.namespace, ref.name) === undefined)
    return `ConfigMap ${ref.namespace}/${ref.name} not found`;
  return undefined;
}

/** The classes strait owns, with their Accepted/SupportedVersion conditions. */
export function decideClasses(view: ResourceView, controllerName: string): Map<string, ClassDecision> {
  const out = new Map<string, ClassDecision>();
  for (const cls of view.list("GatewayClass")) {
    if (cls.spec?.controllerName !== controllerName) continue;
    const problem = parametersProblem(view, cls);
    out.set(cls.metadata.name, {
      name: cls.metadata.name,
      accepted: problem === undefined,
      conditions: [
        problem === undefined
          ? cond("Accepted", true, "Accepted", "GatewayClass is accepted by strait")
          : cond("Accepted", false, "InvalidParameters", problem),
        cond(
          "SupportedVersion",
          true,
          "SupportedVersion",
          `strait implements Gateway API ${GATEWAY_API_VERSION}`,
        ),
      ],
    });
  }
  return out;
}

export function gatewayClassStatuses(
  view: ResourceView,
  decisions: ReadonlyMap<string, ClassDecision>,
  now: Date,
): ObjectStatus[] {
  const out: ObjectStatus[] = [];
  for (const decision of decisions.values()) {
    const cls = view.get("GatewayClass", "", decision.name);
    if (cls === undefined) continue;
    out.push({
      ref: { group: "gateway.networking.k8s.io", kind: "GatewayClass", namespace: "", name: decision.name },
      status: {
        conditions: buildConditions(decision.conditions, cls.metadata.generation, now),
        supportedFeatures: SUPPORTED_FEATURES.map((name) => ({ name })),
      },
    });
  }
  return out;
}
