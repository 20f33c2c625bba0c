/**
 * Status writers: where the statuses the pipeline computes go. Kubernetes
 * mode writes them through the `/status` subresource; standalone mode keeps
 * them in the store (as the API server would) and serves them on the local API.
 */
import type { ObjectStatus } from "../../model/status.ts";

export interface StatusWriter {
  /** Writes each status that differs from the object's current one; returns how many were written. */
  write(statuses: readonly ObjectStatus[]): Promise<number>;
}
