/**
 * What the data plane refuses, from the ACKs and NACKs of every xDS client:
 * per Envoy resource and per client node, the version it NACKed and Envoy's
 * error. A NACK blames the resources of the rejected response that Envoy's
 * error names (Envoy names the listener or cluster it failed on), or all of
 * them when it names none. A rejection ends when that node ACKs another
 * version of the resource, when its stream ends, or when strait stops
 * serving the resource.
 *
 * Resources the xDS cache itself withholds (they fail strict encoding: a
 * translator bug, so Envoy never even sees them) are listed here too, so the
 * same status path marks what produced them: never reported Programmed while
 * what is served is not what the status describes.
 */
import type { DataPlaneRejection, DataPlaneResource } from "../model/rejection.ts";
import type { InvalidResource } from "../xds/cache/index.ts";
import { TYPE_URLS } from "../xds/proto/index.ts";
import type { XdsAnswer } from "../xds/server/index.ts";
import type { EnvoyResourceSet } from "../xds/translate/resource-set.ts";

const RESOURCE_OF: Readonly<Record<string, DataPlaneResource>> = {
  [TYPE_URLS.listener]: "listener",
  [TYPE_URLS.routeConfiguration]: "route",
  [TYPE_URLS.cluster]: "cluster",
  [TYPE_URLS.clusterLoadAssignment]: "endpoints",
  [TYPE_URLS.secret]: "secret",
};

interface Rejected {
  readonly version: string;
  readonly error: string;
  readonly stream: number;
}

export class DataPlaneRejections {
  /** `typeUrl name` → node → what it refused. */
  readonly #rejected = new Map<string, Map<string, Rejected>>();
  readonly #onChange: () => void;
  /** `typeUrl name` → the encoding error, for what the cache withholds. */
  #withheld = new Map<string, string>();

  constructor(onChange: () => void) {
    this.#onChange = onChange;
  }

  answer(answer: XdsAnswer): void {
    if (RESOURCE_OF[answer.typeUrl] === undefined) return;
    let changed = false;
    if (answer.accepted) {
      for (const r of answer.resources) {
        const nodes = this.#rejected.get(`${answer.typeUrl} ${r.name}`);
        const mine = nodes?.get(answer.node);
        if (nodes === undefined || mine === undefined || mine.version === r.version) continue;
        nodes.delete(answer.node);
        if (nodes.size === 0) this.#rejected.delete(`${answer.typeUrl} ${r.name}`);
        changed = true;
      }
    } else {
      const error = answer.error ?? "";
      const named = answer.resources.filter((r) => error.includes(r.name));
      for (const r of named.length > 0 ? named : answer.resources) {
        const key = `${answer.typeUrl} ${r.name}`;
        const nodes = this.#rejected.get(key) ?? new Map<string, Rejected>();
        nodes.set(answer.node, { version: r.version, error, stream: answer.stream });
        this.#rejected.set(key, nodes);
        changed = true;
      }
    }
    if (changed) this.#onChange();
  }

  /** A stream ended: what its client refused no longer matters (it reconnects and is sent everything anew). */
  streamClosed(stream: number, node: string): void {
    let changed = false;
    for (const [key, nodes] of this.#rejected) {
      if (nodes.get(node)?.stream !== stream) continue;
      nodes.delete(node);
      if (nodes.size === 0) this.#rejected.delete(key);
      changed = true;
    }
    if (changed) this.#onChange();
  }

  /** Forgets resources strait no longer serves. */
  prune(resources: EnvoyResourceSet): void {
    let changed = false;
    for (const key of this.#rejected.keys()) {
      const space = key.indexOf(" ");
      const typeUrl = key.slice(0, space) as keyof EnvoyResourceSet;
      if (resources[typeUrl]?.has(key.slice(space + 1)) === true) continue;
      this.#rejected.delete(key);
      changed = true;
    }
    if (changed) this.#onChange();
  }

  /** What the cache withholds after a publish (replacing the previous list); notifies only on change. */
  setWithheld(invalid: readonly InvalidResource[]): void {
    const next = new Map<string, string>();
    for (const bad of invalid) {
      if (RESOURCE_OF[bad.typeUrl] !== undefined) next.set(`${bad.typeUrl} ${bad.name}`, bad.error);
    }
    const same =
      next.size === this.#withheld.size && [...next].every(([k, v]) => this.#withheld.get(k) === v);
    if (same) return;
    this.#withheld = next;
    this.#onChange();
  }

  /** Every refused resource, with the error of one node that refused it (and how many did). */
  list(): DataPlaneRejection[] {
    const out: DataPlaneRejection[] = [];
    for (const [key, error] of [...this.#withheld].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const space = key.indexOf(" ");
      const resource = RESOURCE_OF[key.slice(0, space)];
      if (resource === undefined) continue;
      out.push({
        resource,
        name: key.slice(space + 1),
        message: `withheld by strait, not sent to any node: it fails strict encoding (a translator bug): ${error}`,
        withheld: true,
      });
    }
    for (const [key, nodes] of [...this.#rejected].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const space = key.indexOf(" ");
      const resource = RESOURCE_OF[key.slice(0, space)];
      const [[node, first] = ["", undefined]] = [...nodes].sort(([a], [b]) => (a < b ? -1 : 1));
      if (resource === undefined || first === undefined) continue;
      const others = nodes.size > 1 ? ` (and ${nodes.size - 1} more nodes)` : "";
      out.push({ resource, name: key.slice(space + 1), message: `${first.error} [node ${node}${others}]` });
    }
    return out;
  }
}
