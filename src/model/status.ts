/**
 * Status output of the pure stages: the `.status` each source object should
 * have. Status writers (Kubernetes `/status` subresource, the standalone local
 * API) take these as they are.
 */
import type { ResourceRef } from "./resource-ref.ts";

/** A Kubernetes condition (metav1.Condition). */
export interface Condition {
  readonly type: string;
  readonly status: "True" | "False" | "Unknown";
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration?: number;
  /** RFC 3339; kept from the previous status while `status` does not change. */
  readonly lastTransitionTime: string;
}

export interface ObjectStatus {
  readonly ref: ResourceRef;
  /** The object's whole `.status`, as it should be written. */
  readonly status: Readonly<Record<string, unknown>>;
}
