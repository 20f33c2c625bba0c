/**
 * The ConformanceReport in the Gateway API project's format
 * (conformance/apis/v1: ConformanceReport, ProfileReport, ExtendedStatus):
 * per profile, core and extended results with statistics, failed and
 * skipped tests, and the supported and unsupported extended features.
 */
import type { ProfileData, TestData } from "./catalogue.ts";

export interface TestOutcome {
  readonly test: TestData;
  readonly result: "passed" | "failed" | "skipped";
}

interface Status {
  result: "success" | "partial" | "failure";
  statistics: { Passed: number; Skipped: number; Failed: number };
  skippedTests?: string[];
  failedTests?: string[];
}

export interface ProfileReport {
  name: string;
  summary: string;
  core: Status;
  extended?: Status & { supportedFeatures?: string[]; unsupportedFeatures?: string[] };
}

export interface ConformanceReport {
  apiVersion: "gateway.networking.k8s.io/v1";
  kind: "ConformanceReport";
  implementation: { organization: string; project: string; url: string; version: string; contact: string[] };
  date: string;
  gatewayAPIVersion: string;
  gatewayAPIChannel: "standard" | "experimental";
  mode: string;
  profiles: ProfileReport[];
  succeededProvisionalTests?: string[];
}

function status(outcomes: readonly TestOutcome[]): Status {
  const passed = outcomes.filter((o) => o.result === "passed").map((o) => o.test.name);
  const failed = outcomes.filter((o) => o.result === "failed").map((o) => o.test.name);
  const skipped = outcomes.filter((o) => o.result === "skipped").map((o) => o.test.name);
  return {
    result: failed.length > 0 ? "failure" : skipped.length > 0 ? "partial" : "success",
    statistics: { Passed: passed.length, Skipped: skipped.length, Failed: failed.length },
    ...(skipped.length > 0 ? { skippedTests: skipped.sort() } : {}),
    ...(failed.length > 0 ? { failedTests: failed.sort() } : {}),
  };
}

/** A test is core in a profile when every feature it needs is a core feature of that profile. */
export function isCoreTest(profile: ProfileData, test: TestData): boolean {
  return test.features.every((f) => profile.coreFeatures.includes(f));
}

export function profileReport(
  profile: ProfileData,
  outcomes: readonly TestOutcome[],
  supported: ReadonlySet<string>,
): ProfileReport {
  const inProfile = outcomes.filter((o) => o.test.profiles.includes(profile.name));
  const core = status(inProfile.filter((o) => isCoreTest(profile, o.test)));
  const extendedOutcomes = inProfile.filter((o) => !isCoreTest(profile, o.test));
  const extended = status(extendedOutcomes);
  const supportedFeatures = profile.extendedFeatures.filter((f) => supported.has(f)).sort();
  const unsupportedFeatures = profile.extendedFeatures.filter((f) => !supported.has(f)).sort();
  const totals = {
    passed: core.statistics.Passed + extended.statistics.Passed,
    failed: core.statistics.Failed + extended.statistics.Failed,
    skipped: core.statistics.Skipped + extended.statistics.Skipped,
  };
  return {
    name: profile.name,
    summary: `Core tests ${core.result === "success" ? "succeeded" : core.result}. Extended tests ${extended.result === "success" ? "succeeded" : extended.result}: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped.`,
    core,
    extended: {
      ...extended,
      ...(supportedFeatures.length > 0 ? { supportedFeatures } : {}),
      ...(unsupportedFeatures.length > 0 ? { unsupportedFeatures } : {}),
    },
  };
}
