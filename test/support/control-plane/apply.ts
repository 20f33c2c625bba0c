/**
 * `kubectl apply --server-side` for the tests: each object of a YAML stream
 * goes to its REST path (found through the API server's discovery, so CRDs
 * work once established) as an apply patch, optionally as a dry run.
 */
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import type { KubeClient } from "../../../src/sources/kubernetes/kube-client.ts";

export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly [field: string]: unknown;
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((d) => d.toJSON() as Manifest | null)
    .filter((m): m is Manifest => m !== null && typeof m === "object" && typeof m.kind === "string");
}

export function readManifests(file: string): Manifest[] {
  return parseManifests(readFileSync(file, "utf8"));
}

interface ApiResource {
  readonly name: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

export class Applier {
  readonly #client: KubeClient;
  readonly #discovery = new Map<string, readonly ApiResource[]>();

  constructor(client: KubeClient) {
    this.#client = client;
  }

  async #resource(apiVersion: string, kind: string): Promise<ApiResource> {
    const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    for (let attempt = 0; ; attempt++) {
      let resources = this.#discovery.get(base);
      if (resources === undefined) {
        const res = await this.#client.request("GET", base);
        if (res.ok) {
          resources = (res.body as { resources: ApiResource[] }).resources.filter(
            (r) => !r.name.includes("/"),
          );
          this.#discovery.set(base, resources);
        }
      }
      const found = resources?.find((r) => r.kind === kind);
      if (found !== undefined) return found;
      // A CRD just created is served a moment later.
      this.#discovery.delete(base);
      if (attempt > 100) throw new Error(`the API server serves no ${kind} in ${apiVersion}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async path(m: Pick<Manifest, "apiVersion" | "kind" | "metadata">, namespace = "default"): Promise<string> {
    const r = await this.#resource(m.apiVersion, m.kind);
    const base = m.apiVersion.includes("/") ? `/apis/${m.apiVersion}` : `/api/${m.apiVersion}`;
    const ns = r.namespaced ? `/namespaces/${m.metadata.namespace ?? namespace}` : "";
    return `${base}${ns}/${r.name}/${m.metadata.name}`;
  }

  /** Server-side applies every manifest in order; throws with the server's message on a refusal. */
  async apply(
    manifests: readonly Manifest[],
    options: { readonly dryRun?: boolean; readonly namespace?: string; readonly fieldManager?: string } = {},
  ): Promise<void> {
    for (const m of manifests) {
      const res = await this.#client.request("PATCH", await this.path(m, options.namespace), {
        contentType: "application/apply-patch+yaml",
        body: m,
        query: {
          fieldManager: options.fieldManager ?? "strait-tests",
          force: true,
          ...(options.dryRun === true ? { dryRun: "All" } : {}),
        },
      });
      if (!res.ok)
        throw new Error(`apply ${m.kind} ${m.metadata.namespace ?? ""}/${m.metadata.name}: ${res.message}`);
    }
  }

  /** Waits until every CustomResourceDefinition among `manifests` is Established. */
  async waitEstablished(manifests: readonly Manifest[]): Promise<void> {
    for (const m of manifests.filter((x) => x.kind === "CustomResourceDefinition")) {
      for (let i = 0; ; i++) {
        const res = await this.#client.request("GET", await this.path(m));
        const conditions = res.ok
          ? ((res.body as { status?: { conditions?: { type: string; status: string }[] } }).status
              ?.conditions ?? [])
          : [];
        if (conditions.some((c) => c.type === "Established" && c.status === "True")) break;
        if (i > 300) throw new Error(`CRD ${m.metadata.name} not established`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}
