/**
 * The agent's core: joins the desired state with what strait-cni reported,
 * and drives the datapath. Every change goes through `reconcile`, which
 * detaches endpoints that left, installs the TPROXY rules of new proxy
 * ports (the policy's L7 ports and the mesh listeners'), writes the maps
 * (src/datapath/datapath.ts explains the order), attaches endpoints that
 * arrived, and removes the rules of ports no longer in use. A rejected update leaves the
 * previous state enforced.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Datapath } from "../datapath/datapath.ts";
import type { ProgrammedEndpoint } from "../datapath/map-entries.ts";
import type { MapWriteError } from "../datapath/map-sync.ts";
import { addon } from "../datapath/native.ts";
import { installTproxy } from "../datapath/tproxy.ts";
import { messageOf } from "../errors.ts";
import type { EncryptEntry } from "../model/encryption.ts";
import { type EndpointPolicy, type LocalEndpoint, RESERVED_IDENTITIES } from "../model/endpoint-policy.ts";
import type { MeshService } from "../model/mesh-service.ts";
import { err, ok, type Result } from "../model/result.ts";
import { parseIpv4, parseIpv4Prefix, prefixContainsAddress } from "../net/ipv4.ts";
import { type CniAttachment, CniRegistry } from "./cni-registry.ts";
import { type DesiredState, EMPTY_DESIRED_STATE, type FieldError } from "./desired-state.ts";
import { proxyPortsOf } from "./proxy-ports.ts";
import { validateDesiredState } from "./validate.ts";

export interface EndpointStatus {
  readonly id: number;
  readonly identity: number;
  readonly pod?: string;
  readonly hostInterface: string;
  readonly addresses: readonly string[];
  readonly state: "programmed" | "pending";
  readonly reason?: string;
}

export interface AgentStatus {
  readonly endpoints: readonly EndpointStatus[];
  readonly cniAttachments: number;
  readonly proxyPorts: readonly number[];
  /** The Service ports whose new flows the datapath redirects to the mesh listener. */
  readonly meshServices: readonly MeshService[];
  /** The flows to pods of other nodes the datapath sends to the node Envoy's encryption listener. */
  readonly encrypt: readonly EncryptEntry[];
  readonly lastError?: {
    readonly time: string;
    readonly origin: string;
    readonly errors: readonly unknown[];
  };
  readonly maps: Readonly<Record<string, { readonly entries: number; readonly capacity: number }>>;
}

export interface AgentEvents {
  onRejected?(origin: string, errors: readonly FieldError[]): void;
  onMapFull?(error: MapWriteError): void;
  /** A desired state is now enforced (the auth manager follows it). */
  onApplied?(state: DesiredState): void;
}

/** Where an endpoint's interface and addresses come from: the desired state, else strait-cni. */
function resolveEndpoint(
  ep: LocalEndpoint,
  attachments: readonly CniAttachment[],
): { hostInterface: string; addresses: readonly string[] } | undefined {
  const match =
    (ep.pod === undefined ? undefined : attachments.find((a) => a.pod === ep.pod)) ??
    attachments.find((a) => a.addresses.some((addr) => ep.addresses.includes(addr)));
  const hostInterface = ep.hostInterface !== "" ? ep.hostInterface : match?.hostInterface;
  const addresses = ep.addresses.length > 0 ? ep.addresses : (match?.addresses ?? []);
  if (hostInterface === undefined || hostInterface === "" || addresses.length === 0) return undefined;
  return { hostInterface, addresses };
}

export class Agent {
  readonly datapath: Datapath;
  readonly cni: CniRegistry;
  readonly #logger: Logger;
  readonly #stateDir: string | undefined;
  readonly #events: AgentEvents;
  #desired: DesiredState = EMPTY_DESIRED_STATE;
  #status: EndpointStatus[] = [];
  /** ifindex by endpoint id, of the endpoints whose programs are attached. */
  #attached = new Map<number, number>();
  #proxyPorts: number[] = [];
  /** The mesh services of the last reconciled state: in the datapath's map. */
  #meshServices: readonly MeshService[] = [];
  #encrypt: readonly EncryptEntry[] = [];
  #tproxyInstalled = false;
  #lastError: AgentStatus["lastError"];
  #chain: Promise<unknown> = Promise.resolve();

  constructor(options: {
    readonly datapath: Datapath;
    readonly logger: Logger;
    readonly stateDir?: string;
    readonly events?: AgentEvents;
  }) {
    this.datapath = options.datapath;
    this.#logger = options.logger;
    this.#stateDir = options.stateDir;
    this.#events = options.events ?? {};
    if (this.#stateDir !== undefined) mkdirSync(this.#stateDir, { recursive: true });
    this.cni = new CniRegistry(this.#stateDir);
  }

  get desired(): DesiredState {
    return this.#desired;
  }

  /** The desired state the previous agent last applied (state folder), if any. */
  loadPersistedState(): DesiredState | undefined {
    if (this.#stateDir === undefined) return undefined;
    let text: string;
    try {
      text = readFileSync(join(this.#stateDir, "desired-state.json"), "utf8");
    } catch {
      return undefined;
    }
    const parsed = validateDesiredState(JSON.parse(text));
    return parsed.ok ? parsed.value : undefined;
  }

  #persist(state: DesiredState): void {
    if (this.#stateDir === undefined) return;
    const file = join(this.#stateDir, "desired-state.json");
    writeFileSync(`${file}.tmp`, JSON.stringify(state));
    renameSync(`${file}.tmp`, file);
  }

  /** Runs reconciles one at a time, in arrival order. */
  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(fn, fn);
    this.#chain = next.catch(() => undefined);
    return next;
  }

  /** Applies a new desired state; on any error the previous one stays enforced. */
  applyDesired(state: DesiredState, origin: string): Promise<Result<AgentStatus, readonly unknown[]>> {
    return this.#serialize(async () => {
      const result = await this.#reconcile(state);
      if (!result.ok) {
        this.#lastError = { time: new Date().toISOString(), origin, errors: result.error };
        this.#logger.error(
          { origin, errors: result.error },
          "desired state not applied; the previous state stays enforced",
        );
        return result;
      }
      this.#desired = state;
      this.#persist(state);
      this.#events.onApplied?.(state);
      this.#logger.info(
        {
          origin,
          endpoints: state.endpoints.length,
          policies: state.policies.length,
          ipcache: state.ipcache.length,
          meshServices: state.meshServices.length,
          encrypt: state.encrypt.length,
        },
        "desired state applied",
      );
      return ok(this.status());
    });
  }

  /** A rejected update (invalid fields): logged, counted, the previous state stays. */
  reject(errors: readonly FieldError[], origin: string): void {
    this.#lastError = { time: new Date().toISOString(), origin, errors };
    this.#logger.error(
      { origin, errors },
      "invalid desired state rejected; the previous state stays enforced",
    );
    this.#events.onRejected?.(origin, errors);
  }

  /** strait-cni ADD: remember the attachment, program the pod when the desired state knows it. */
  cniAdd(a: CniAttachment): Promise<Result<EndpointStatus | undefined, string>> {
    return this.#serialize(async () => {
      const previous = this.cni.get(a.containerId, a.ifName);
      this.cni.set(a);
      const result = await this.#reconcile(this.#desired);
      if (!result.ok) {
        // Undo: no half-attached interface, the registry as before.
        if (previous === undefined) this.cni.delete(a.containerId, a.ifName);
        else this.cni.set(previous);
        const index = addon().ifIndex(a.hostInterface);
        if (index > 0) this.datapath.detach(index);
        await this.#reconcile(this.#desired);
        return err(
          result.error
            .map((e) =>
              typeof e === "object" && e !== null && "message" in e ? String(e.message) : String(e),
            )
            .join("; "),
        );
      }
      return ok(this.#status.find((s) => s.hostInterface === a.hostInterface));
    });
  }

  cniDel(containerId: string, ifName: string): Promise<void> {
    return this.#serialize(async () => {
      const a = this.cni.get(containerId, ifName);
      if (a === undefined) return;
      this.cni.delete(containerId, ifName);
      const index = addon().ifIndex(a.hostInterface);
      if (index > 0) this.datapath.detach(index);
      await this.#reconcile(this.#desired);
    });
  }

  /** strait-cni CHECK: the attachment is known and, when programmed, its programs are attached. */
  cniCheck(containerId: string, ifName: string): Result<EndpointStatus | undefined, string> {
    const a = this.cni.get(containerId, ifName);
    if (a === undefined) return err(`no attachment ${containerId}/${ifName}`);
    const ep = this.#status.find((s) => s.hostInterface === a.hostInterface);
    if (ep?.state === "programmed") {
      const index = addon().ifIndex(a.hostInterface);
      if (index === 0 || !this.datapath.attached(index)) {
        return err(`programs are not attached to ${a.hostInterface}`);
      }
    }
    return ok(ep);
  }

  async #reconcile(state: DesiredState): Promise<Result<void, readonly unknown[]>> {
    const attachments = this.cni.all();
    const status: EndpointStatus[] = [];
    const programmed: ProgrammedEndpoint[] = [];
    const policies = new Map<number, EndpointPolicy>(state.policies.map((p) => [p.endpointId, p]));
    for (const ep of state.endpoints) {
      const base = { id: ep.id, identity: ep.identity, ...(ep.pod === undefined ? {} : { pod: ep.pod }) };
      const where = resolveEndpoint(ep, attachments);
      if (where === undefined) {
        status.push({
          ...base,
          hostInterface: ep.hostInterface,
          addresses: ep.addresses,
          state: "pending",
          reason: "no interface reported by strait-cni yet",
        });
        continue;
      }
      const ifindex = addon().ifIndex(where.hostInterface);
      if (ifindex === 0) {
        status.push({
          ...base,
          ...where,
          state: "pending",
          reason: `interface ${where.hostInterface} does not exist`,
        });
        continue;
      }
      const policy = policies.get(ep.id);
      programmed.push({
        id: ep.id,
        identity: ep.identity,
        addresses: where.addresses,
        ifindex,
        ingressEnforced: policy?.ingressEnforced ?? false,
        egressEnforced: policy?.egressEnforced ?? false,
      });
      status.push({ ...base, ...where, state: "programmed" });
    }

    // Endpoints that left (or moved to another interface): detach first, so their
    // programs never run against pruned map entries.
    const wanted = new Map(programmed.map((p) => [p.id, p.ifindex]));
    for (const [id, ifindex] of this.#attached) {
      if (wanted.get(id) !== ifindex) {
        this.datapath.detach(ifindex);
        this.#attached.delete(id);
      }
    }

    // A new proxy port's TPROXY rule goes in before the map entries that mark flows for it: a
    // marked packet without its rule would be delivered to the node itself and refused.
    const ports = proxyPortsOf(state);
    const during = this.#tproxyInstalled ? [...new Set([...this.#proxyPorts, ...ports])] : ports;
    const early = await this.#installTproxy(during.sort((a, b) => a - b));
    if (!early.ok) return early;

    const applied = this.datapath.apply({
      endpoints: programmed,
      policies: state.policies.filter((p) => wanted.has(p.endpointId)),
      ipcache: state.ipcache,
      meshServices: state.meshServices,
      encrypt: state.encrypt,
    });
    if (!applied.ok) {
      for (const e of applied.error) if (e.kind === "full") this.#events.onMapFull?.(e);
      return err(applied.error);
    }

    // Attach after the maps hold the endpoint, or its first packets would be dropped as unknown.
    const attachErrors: string[] = [];
    for (const p of programmed) {
      if (this.#attached.get(p.id) === p.ifindex && this.datapath.attached(p.ifindex)) continue;
      const r = this.datapath.attach(p.ifindex);
      if (r.ok) this.#attached.set(p.id, p.ifindex);
      else attachErrors.push(r.error);
    }
    if (attachErrors.length > 0) return err(attachErrors);

    // Then the rules of the ports no longer in use go.
    const tproxied = await this.#installTproxy(ports);
    if (!tproxied.ok) return tproxied;
    this.#status = status;
    this.#meshServices = state.meshServices;
    this.#encrypt = state.encrypt;
    return ok(undefined);
  }

  /** Replaces the TPROXY rules when the set of ports changes. */
  async #installTproxy(ports: readonly number[]): Promise<Result<void, readonly unknown[]>> {
    if (this.#tproxyInstalled && ports.join() === this.#proxyPorts.join()) return ok(undefined);
    try {
      await installTproxy(ports);
    } catch (error) {
      return err([messageOf(error)]);
    }
    this.#proxyPorts = [...ports];
    this.#tproxyInstalled = true;
    return ok(undefined);
  }

  /** Reconciles to the current state again (interfaces may have appeared). */
  resync(): Promise<Result<void, readonly unknown[]>> {
    return this.#serialize(() => this.#reconcile(this.#desired));
  }

  /** The identity the datapath resolves an address to (the ipcache's longest prefix; world when none). */
  identityOf(ip: string): number {
    const address = parseIpv4(ip);
    if (!address.ok) return RESERVED_IDENTITIES.world;
    let best = -1;
    let identity: number = RESERVED_IDENTITIES.world;
    for (const e of this.#desired.ipcache) {
      const p = parseIpv4Prefix(e.prefix);
      if (p.ok && p.value.length > best && prefixContainsAddress(p.value, address.value)) {
        best = p.value.length;
        identity = e.identity;
      }
    }
    return identity;
  }

  podOf(ip: string): string | undefined {
    const ep = this.#status.find((s) => s.addresses.includes(ip));
    return ep?.pod;
  }

  status(): AgentStatus {
    const maps: Record<string, { entries: number; capacity: number }> = {};
    for (const [name, entries] of Object.entries(this.datapath.entryCounts())) {
      maps[name] = { entries, capacity: this.datapath.map(name as "strait_policy").info.maxEntries };
    }
    return {
      endpoints: this.#status,
      cniAttachments: this.cni.all().length,
      proxyPorts: this.#proxyPorts,
      meshServices: this.#meshServices,
      encrypt: this.#encrypt,
      ...(this.#lastError === undefined ? {} : { lastError: this.#lastError }),
      maps,
    };
  }
}
