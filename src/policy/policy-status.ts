/**
 * The status strait writes on a CiliumNetworkPolicy or
 * CiliumClusterwideNetworkPolicy, as Cilium does: `status.conditions` with
 * one `Valid` condition, True ("Policy validation succeeded") or False with
 * what is wrong, field by field.
 */
import { buildConditions, cond } from "../gateway/conditions.ts";
import type { ObjectStatus } from "../model/status.ts";
import type { PolicyKind } from "./parse-policy.ts";
import type { ParsedPolicy, PolicyProblem } from "./rule.ts";

export const VALID_CONDITION = "Valid";

function unsupported(problems: readonly PolicyProblem[]): boolean {
  return problems.every((p) => p.message.startsWith("not supported by strait"));
}

export function policyStatus(
  obj: { metadata: { name: string; namespace?: string; generation?: number }; status?: unknown },
  kind: PolicyKind,
  result:
    | { readonly ok: true; readonly value: ParsedPolicy }
    | { readonly ok: false; readonly error: readonly PolicyProblem[] },
  now: Date,
): ObjectStatus {
  const input = result.ok
    ? cond(
        VALID_CONDITION,
        true,
        "Valid",
        result.value.warnings.length === 0
          ? "Policy validation succeeded"
          : `Policy validation succeeded; ${result.value.warnings.join("; ")}`,
      )
    : cond(
        VALID_CONDITION,
        false,
        unsupported(result.error) ? "Unsupported" : "Invalid",
        result.error.map((p) => `${p.path}: ${p.message}`).join("; "),
      );
  return {
    ref: {
      group: "cilium.io",
      kind,
      namespace: kind === "CiliumNetworkPolicy" ? (obj.metadata.namespace ?? "default") : "",
      name: obj.metadata.name,
    },
    status: { conditions: buildConditions([input], obj.metadata.generation, now) },
  };
}
