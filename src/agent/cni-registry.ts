/**
 * What strait-cni told the agent about each pod's network attachment (the
 * host-side interface and addresses), persisted in the agent's state folder
 * so a restarted agent still knows every pod. Keyed by (container id, ifname),
 * the CNI spec's attachment key.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ERROR_CODES, StraitError } from "../errors.ts";

export interface CniAttachment {
  readonly containerId: string;
  readonly ifName: string;
  readonly netns: string;
  /** The pod's veth peer in the node namespace. */
  readonly hostInterface: string;
  readonly addresses: readonly string[];
  /** `namespace/name` from CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME), when given. */
  readonly pod?: string;
}

export function attachmentKey(containerId: string, ifName: string): string {
  return `${containerId}/${ifName}`;
}

export class CniRegistry {
  readonly #file: string | undefined;
  readonly #attachments = new Map<string, CniAttachment>();

  /** With a state folder, loads and persists `cni-attachments.json` there. */
  constructor(stateDir: string | undefined) {
    this.#file = stateDir === undefined ? undefined : join(stateDir, "cni-attachments.json");
    if (this.#file === undefined) return;
    let text: string;
    try {
      text = readFileSync(this.#file, "utf8");
    } catch {
      return; // first start
    }
    try {
      for (const a of JSON.parse(text) as CniAttachment[]) {
        this.#attachments.set(attachmentKey(a.containerId, a.ifName), a);
      }
    } catch (cause) {
      throw new StraitError(ERROR_CODES.IO_READ, `${this.#file} is not valid JSON`, { cause });
    }
  }

  all(): CniAttachment[] {
    return [...this.#attachments.values()];
  }

  get(containerId: string, ifName: string): CniAttachment | undefined {
    return this.#attachments.get(attachmentKey(containerId, ifName));
  }

  set(a: CniAttachment): void {
    this.#attachments.set(attachmentKey(a.containerId, a.ifName), a);
    this.#save();
  }

  delete(containerId: string, ifName: string): boolean {
    const had = this.#attachments.delete(attachmentKey(containerId, ifName));
    if (had) this.#save();
    return had;
  }

  #save(): void {
    if (this.#file === undefined) return;
    try {
      writeFileSync(`${this.#file}.tmp`, JSON.stringify(this.all(), null, 2));
      renameSync(`${this.#file}.tmp`, this.#file);
    } catch (cause) {
      throw new StraitError(ERROR_CODES.IO_WRITE, `cannot write ${this.#file}`, { cause });
    }
  }
}
