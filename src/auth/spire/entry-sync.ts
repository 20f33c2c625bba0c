/**
 * The controller's side of SPIRE: keeps the SPIRE server's registration
 * entries in step with the set of security identities (create, update,
 * delete) through the server's Entry API (its local API socket). One entry
 * per identity N: `spiffe://<td>/identity/N`, parent `spiffe://<td>/strait-agent`
 * (the node alias every strait node's SPIRE agent joins as), selector
 * `strait:mutual-auth`, which strait's agents ask for over the Delegated
 * Identity API. Only entries under that parent with an /identity/ path are
 * strait's; nothing else on the server is touched. Optionally it also keeps
 * the delegate entry that authorizes strait's agent process itself.
 */
import * as grpc from "@grpc/grpc-js";
import { err, ok, type Result } from "../../model/result.ts";
import { identityOfSpiffeId, type SpiffeId, type TrustDomain } from "../spiffe-id.ts";
import { STRAIT_SELECTOR } from "./delegated-provider.ts";
import { spireServiceClient } from "./protos.ts";

export const AGENT_ALIAS_PATH = "/strait-agent";
export const DELEGATE_PATH = "/strait-delegate";

interface Selector {
  type: string;
  value: string;
}

interface Entry {
  id?: string;
  spiffe_id?: { trust_domain?: string; path?: string };
  parent_id?: { trust_domain?: string; path?: string };
  selectors?: Selector[];
}

export interface EntrySyncOptions {
  readonly socketPath: string;
  readonly trustDomain: TrustDomain;
  /** Selectors of strait's agent process (e.g. unix:uid:0, or k8s:sa:strait-agent): keeps the delegate entry. */
  readonly delegateSelectors?: readonly Selector[];
}

export interface SyncResult {
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
}

function sameSelectors(a: readonly Selector[] = [], b: readonly Selector[] = []): boolean {
  const key = (s: readonly Selector[]) =>
    s
      .map((x) => `${x.type}:${x.value}`)
      .sort()
      .join(",");
  return key(a) === key(b);
}

type Unary = (req: object, cb: (e: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void;

export class SpireEntrySync {
  readonly #o: EntrySyncOptions;
  readonly #client: grpc.Client;

  constructor(options: EntrySyncOptions) {
    this.#o = options;
    const Client = spireServiceClient("spire.api.server.entry.v1.Entry");
    this.#client = new Client(`unix:${options.socketPath}`, grpc.credentials.createInsecure());
  }

  close(): void {
    this.#client.close();
  }

  #call(method: string, req: object): Promise<Record<string, unknown>> {
    const fn = (this.#client as unknown as Record<string, Unary>)[method];
    if (fn === undefined) throw new TypeError(`Entry.${method} missing`);
    return new Promise((resolve, reject) =>
      fn.call(this.#client, req, (e, res) => (e === null ? resolve(res) : reject(e))),
    );
  }

  async #list(): Promise<Entry[]> {
    const out: Entry[] = [];
    let page = "";
    do {
      const res = await this.#call("ListEntries", {
        page_size: 500,
        page_token: page,
        filter: { by_parent_id: { trust_domain: this.#o.trustDomain, path: AGENT_ALIAS_PATH } },
      });
      out.push(...((res.entries as Entry[] | undefined) ?? []));
      page = String(res.next_page_token ?? "");
    } while (page !== "");
    return out;
  }

  /** Brings the server's entries to exactly `identities` (plus the delegate entry when configured). */
  async sync(identities: ReadonlySet<number>): Promise<Result<SyncResult>> {
    const td = this.#o.trustDomain;
    const parent = { trust_domain: td, path: AGENT_ALIAS_PATH };
    const wanted = new Map<string, Entry>();
    for (const n of identities) {
      wanted.set(`/identity/${n}`, {
        spiffe_id: { trust_domain: td, path: `/identity/${n}` },
        parent_id: parent,
        selectors: [{ ...STRAIT_SELECTOR }],
      });
    }
    if (this.#o.delegateSelectors !== undefined) {
      wanted.set(DELEGATE_PATH, {
        spiffe_id: { trust_domain: td, path: DELEGATE_PATH },
        parent_id: parent,
        selectors: [...this.#o.delegateSelectors],
      });
    }
    try {
      const existing = await this.#list();
      const create: Entry[] = [];
      const update: Entry[] = [];
      const remove: string[] = [];
      const seen = new Set<string>();
      for (const e of existing) {
        const path = e.spiffe_id?.path ?? "";
        const ours =
          path === DELEGATE_PATH || identityOfSpiffeId({ trustDomain: td, path } as SpiffeId, td).ok;
        if (!ours || e.spiffe_id?.trust_domain !== td) continue;
        const want = wanted.get(path);
        if (want === undefined || seen.has(path)) {
          if (e.id !== undefined) remove.push(e.id);
          continue;
        }
        seen.add(path);
        if (!sameSelectors(e.selectors, want.selectors)) update.push({ ...want, id: e.id ?? "" });
      }
      for (const [path, e] of wanted) if (!seen.has(path)) create.push(e);
      const failed: string[] = [];
      const collect = (res: Record<string, unknown>) => {
        for (const r of (res.results as { status?: { code?: number; message?: string } }[] | undefined) ??
          []) {
          if ((r.status?.code ?? 0) !== 0) failed.push(r.status?.message ?? "unknown error");
        }
      };
      if (create.length > 0) collect(await this.#call("BatchCreateEntry", { entries: create }));
      if (update.length > 0) {
        collect(await this.#call("BatchUpdateEntry", { entries: update, input_mask: { selectors: true } }));
      }
      if (remove.length > 0) collect(await this.#call("BatchDeleteEntry", { ids: remove }));
      if (failed.length > 0) return err(`SPIRE refused entries: ${failed.join("; ")}`);
      return ok({ created: create.length, updated: update.length, deleted: remove.length });
    } catch (e) {
      return err(`SPIRE entry API: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
