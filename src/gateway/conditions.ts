/**
 * Building status conditions. `lastTransitionTime` is kept from the object's
 * current status while a condition's status does not change, so a reconcile
 * that changes nothing writes nothing.
 */
import type { Condition } from "../model/status.ts";

export interface ConditionInput {
  readonly type: string;
  readonly status: "True" | "False" | "Unknown";
  readonly reason: string;
  readonly message: string;
}

interface PreviousCondition {
  type?: unknown;
  status?: unknown;
  lastTransitionTime?: unknown;
}

/** `message` maxLength of metav1.Condition in every Gateway API CRD. */
const MAX_MESSAGE = 32768;

function clipMessage(text: string): string {
  return text.length <= MAX_MESSAGE ? text : `${text.slice(0, MAX_MESSAGE - 1)}…`;
}

/** Conditions with generation and transition times, in the order given. */
export function buildConditions(
  inputs: readonly ConditionInput[],
  previous: unknown,
  generation: number | undefined,
  now: Date,
): Condition[] {
  const prev = Array.isArray(previous) ? (previous as PreviousCondition[]) : [];
  const stamp = now.toISOString().replace(/\.\d{3}Z$/, "Z");
  return inputs.map((c) => {
    const old = prev.find((p) => p?.type === c.type);
    const keep = old?.status === c.status && typeof old.lastTransitionTime === "string";
    return {
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: clipMessage(c.message),
      ...(generation === undefined ? {} : { observedGeneration: generation }),
      lastTransitionTime: keep ? (old.lastTransitionTime as string) : stamp,
    };
  });
}

export function cond(type: string, ok: boolean, reason: string, message: string): ConditionInput {
  return { type, status: ok ? "True" : "False", reason, message };
}
