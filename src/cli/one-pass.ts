/**
 * The input side of the one-pass commands (`translate`, `status`, `simulate`):
 * `-f PATH...` (files or folders), optional `--crds`, manifests loaded into a
 * store, and every problem reported on stderr. Commands print everything that
 * was valid and exit 1 when the input had errors.
 */
import { formatDiagnostic, loadManifests, type ManifestSet } from "../sources/manifests.ts";
import { crdSchemaCheck } from "../sources/schema.ts";
import { ResourceStore } from "../sources/store.ts";
import type { CommandIO } from "./command.ts";

export const ONE_PASS_FLAGS = {
  file: { type: "string", short: "f", multiple: true },
  crds: { type: "string", multiple: true },
  output: { type: "string", short: "o" },
} as const;

export const ONE_PASS_HELP = `  -f, --file PATH     manifest file or folder (repeatable; folders are read recursively)
      --crds PATH     validate against these CRD files instead of the bundled schemas
  -o, --output FMT    yaml (default) or json`;

export interface OnePassInput {
  readonly store: ResourceStore;
  readonly manifests: ManifestSet;
  /** True when any document was invalid: the command exits 1 after printing what was valid. */
  readonly hadErrors: boolean;
}

export function loadOnePass(
  paths: readonly string[],
  crds: readonly string[] | undefined,
  io: CommandIO,
): OnePassInput {
  const check = crds !== undefined && crds.length > 0 ? crdSchemaCheck(crds) : undefined;
  const manifests = loadManifests(paths, check === undefined ? {} : { check });
  const store = new ResourceStore();
  for (const loaded of manifests.objects) store.upsert(loaded.kind, loaded.object);
  for (const d of manifests.diagnostics) io.stderr(`${d.severity}: ${formatDiagnostic(d)}\n`);
  return { store, manifests, hadErrors: manifests.diagnostics.some((d) => d.severity === "error") };
}
