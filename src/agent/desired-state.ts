/**
 * The agent's one input interface: the desired state of this node's
 * datapath, in strait's model. The controller pushes it over xDS with
 * strait's own resource types (xds-source.ts, the normal source); a file or
 * the agent's local API provide it when the agent runs on its own.
 */

import type { EncryptEntry } from "../model/encryption.ts";
import type { EndpointPolicy, IpcacheEntry, LocalEndpoint } from "../model/endpoint-policy.ts";
import type { MeshService } from "../model/mesh-service.ts";

export interface DesiredState {
  /**
   * This node's endpoints. `hostInterface` may be "" when strait-cni reports
   * the interface (matched by `pod`, else by address); then `addresses` may
   * be empty too and come from the CNI result.
   */
  readonly endpoints: readonly LocalEndpoint[];
  readonly policies: readonly EndpointPolicy[];
  readonly ipcache: readonly IpcacheEntry[];
  /**
   * Service ports (ClusterIP:port) whose new flows from this node's pods go
   * to the node Envoy's mesh listener (GAMMA). Optional in the file and API
   * form (absent = none).
   */
  readonly meshServices: readonly MeshService[];
  /**
   * Flows from local identities to pods of other nodes that the node Envoy
   * carries encrypted (src/model/encryption.ts): the datapath's encrypt map.
   * Optional in the file and API form (absent = none).
   */
  readonly encrypt: readonly EncryptEntry[];
}

export const EMPTY_DESIRED_STATE: DesiredState = {
  endpoints: [],
  policies: [],
  ipcache: [],
  meshServices: [],
  encrypt: [],
};

/** An update the source could not turn into a DesiredState: rejected, the previous state stays. */
export interface FieldError {
  /** Path of the offending field, e.g. `policies[0].entries[2].port`. */
  readonly field: string;
  readonly message: string;
}

/** What became of a state handed to the agent: applied, or refused with the errors (the old state stays). */
export type ApplyOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly errors: readonly unknown[] };

export type DesiredStateSink = (state: DesiredState, origin: string) => Promise<ApplyOutcome>;
export type RejectSink = (errors: readonly FieldError[], origin: string) => void;

/**
 * A provider of desired state. It validates what it reads (validateDesiredState),
 * hands valid states to `accept` and invalid ones to `reject`.
 */
export interface DesiredStateSource {
  readonly name: string;
  start(accept: DesiredStateSink, reject: RejectSink): Promise<void>;
  stop(): Promise<void>;
}
