/**
 * The conformance catalogue (`conformance-catalogue.yaml` beside the official
 * manifests): every conformance test of the targeted Gateway API version, its
 * features, profiles, manifests and checks, as data. Read at run time; the
 * runner never copies it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

export interface ObjectRefData {
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

export interface ConditionData {
  readonly type: string;
  readonly status: string;
  /** `(any)` matches every reason. */
  readonly reason: string;
}

/** One check of a test; its fields depend on `check` (see the catalogue's `conventions.checkTypes`). */
export interface CheckData {
  readonly check: string;
  readonly subtest?: string;
  readonly [field: string]: unknown;
}

export interface TestData {
  readonly name: string;
  readonly description: string;
  readonly features: readonly string[];
  readonly profiles: readonly string[];
  readonly manifests: readonly string[];
  readonly baseManifests: readonly string[];
  readonly checks: readonly CheckData[];
  readonly notes?: readonly string[];
  readonly provisional?: boolean;
  readonly source: string;
}

export interface FeatureData {
  readonly name: string;
  readonly level: "core" | "extended";
  readonly channel: string;
}

export interface ProgrammaticObjectData {
  readonly kind: "Secret" | "ConfigMap";
  readonly namespace: string;
  readonly name: string;
  readonly cert?: string;
  readonly hosts?: readonly string[];
  readonly holds?: string;
  readonly type?: string;
}

export interface ProfileData {
  readonly name: string;
  readonly coreFeatures: readonly string[];
  readonly extendedFeatures: readonly string[];
}

export interface Catalogue {
  readonly version: string;
  readonly profiles: readonly ProfileData[];
  readonly tests: readonly TestData[];
  readonly features: readonly FeatureData[];
  readonly programmaticObjects: readonly ProgrammaticObjectData[];
}

interface RawCatalogue {
  gatewayApi: { tag: string };
  features: {
    groups: Record<string, { level: "core" | "extended"; features: { name: string; channel: string }[] }>;
    byProfile: Record<string, { coreFeatures: string[]; extendedFeatures: string[] }>;
  };
  tests: (Omit<TestData, "profiles" | "features" | "baseManifests"> & {
    profiles?: string[] | null;
    features?: string[] | null;
    baseManifests?: string[] | null;
  })[];
  suiteSetup: { programmaticObjects: ProgrammaticObjectData[] };
}

export function loadCatalogue(gatewayApiDir: string): Catalogue {
  const raw = parse(readFileSync(join(gatewayApiDir, "conformance-catalogue.yaml"), "utf8")) as RawCatalogue;
  const features: FeatureData[] = [];
  for (const group of Object.values(raw.features.groups)) {
    for (const f of group.features) features.push({ name: f.name, level: group.level, channel: f.channel });
  }
  return {
    version: raw.gatewayApi.tag,
    profiles: Object.entries(raw.features.byProfile).map(([name, p]) => ({ name, ...p })),
    features,
    programmaticObjects: raw.suiteSetup.programmaticObjects,
    tests: raw.tests.map((t) => ({
      ...t,
      profiles: t.profiles ?? [],
      features: t.features ?? [],
      baseManifests: t.baseManifests ?? [],
    })),
  };
}
