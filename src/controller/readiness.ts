/**
 * Readiness as named checks, the way kube-apiserver's `/readyz` works:
 * `/readyz` runs every check, `/readyz?verbose` lists each one (`[+]name ok`,
 * `[-]name failed: why`), `/readyz?exclude=name` (repeatable) leaves checks
 * out, and `/readyz/<name>` runs one.
 *
 * Two sorts of checks. A failing check means "this replica must not take
 * traffic" (it has not synced, serves no snapshot yet, its managed Envoy is not
 * connected). An informational check reports a problem that every replica
 * shares because it comes from the input (a resource withheld because it does
 * not encode, a proxyless target that does not resolve): it shows in the
 * verbose body, never in the status code, because failing the probe for it
 * would take every replica out of the xDS Service at once and leave every node
 * without a control plane, the very blast radius readiness must not have.
 */

/**
 * The readiness probe of controller replicas behind one xDS Service (the
 * chart's). It leaves out the checks that fail on every replica at once for
 * the same input, where taking replicas out protects nobody and leaves every
 * node without a control plane:
 * - `xds-current` (the last pass could not be published): every replica runs the
 *   same code on the same objects, and each still serves its last snapshot,
 *   which is better than no xDS server at all.
 * It keeps `sources-synced`, `reconciled` and `xds-snapshot`: a replica that has
 * not read the cluster yet or serves no snapshot at all must not get clients.
 */
export const FLEET_READINESS_PATH = "/readyz?exclude=xds-current";

/** One named check; `check` answers why it fails, or undefined when it passes. */
export interface ReadinessCheck {
  /** kube-style name: lower case words joined by `-` (what `?exclude=` and `/readyz/<name>` take). */
  readonly name: string;
  readonly check: () => string | undefined;
  /** Reported, never failing readiness (see the header). */
  readonly informational?: boolean;
}

export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly informational: boolean;
  readonly reason?: string;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly results: readonly CheckResult[];
  /** `?exclude=` names that match no check (kube-apiserver warns about them the same way). */
  readonly unknownExcludes: readonly string[];
}

const NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** The checks of one process, in the order they were added (the order of the verbose body). */
export class ReadinessChecks {
  readonly #checks: ReadinessCheck[] = [];

  add(check: ReadinessCheck): void {
    if (!NAME.test(check.name)) throw new Error(`readiness check name "${check.name}" is not kube-style`);
    if (this.#checks.some((c) => c.name === check.name)) {
      throw new Error(`readiness check "${check.name}" added twice`);
    }
    this.#checks.push(check);
  }

  names(): readonly string[] {
    return this.#checks.map((c) => c.name);
  }

  has(name: string): boolean {
    return this.#checks.some((c) => c.name === name);
  }

  /** Runs every check but the excluded ones; ready when no failing (non-informational) check fails. */
  run(exclude: readonly string[] = []): ReadinessReport {
    const excluded = new Set(exclude);
    const results: CheckResult[] = [];
    for (const c of this.#checks) {
      if (excluded.has(c.name)) continue;
      let reason: string | undefined;
      try {
        reason = c.check();
      } catch (error) {
        // A check that throws is a bug; it must not pass silently, nor take the endpoint down.
        reason = `check failed to run: ${(error as Error).message}`;
      }
      const informational = c.informational === true;
      results.push(
        reason === undefined
          ? { name: c.name, ok: true, informational }
          : { name: c.name, ok: false, informational, reason },
      );
    }
    return {
      ready: results.every((r) => r.ok || r.informational),
      results,
      unknownExcludes: exclude.filter((name) => !this.has(name)),
    };
  }
}

/** The verbose body, kube-apiserver's format plus `[!]` for an informational check that reports a problem. */
export function formatVerbose(report: ReadinessReport): string {
  const lines = report.results.map((r) => {
    if (r.ok) return `[+]${r.name} ok`;
    if (r.informational) return `[!]${r.name} (informational, does not fail readiness): ${r.reason}`;
    return `[-]${r.name} failed: ${r.reason}`;
  });
  if (report.unknownExcludes.length > 0) {
    lines.push(`warn: some checks cannot be excluded: no matches for ${report.unknownExcludes.join(", ")}`);
  }
  lines.push(report.ready ? "readyz check passed" : "readyz check failed");
  return `${lines.join("\n")}\n`;
}

/** The non-verbose JSON body: `{status}` when ready, else the first failing check's reason and every failing name. */
export function readinessBody(report: ReadinessReport): {
  status: "ready" | "not ready";
  reason?: string;
  failed?: string[];
} {
  if (report.ready) return { status: "ready" };
  const failing = report.results.filter((r) => !r.ok && !r.informational);
  return {
    status: "not ready",
    reason: failing[0]?.reason ?? "",
    failed: failing.map((r) => r.name),
  };
}

/** `?exclude=a&exclude=b` as Fastify parses it (a string, or an array when repeated). */
export function excludesOf(query: unknown): string[] {
  const raw = (query as { exclude?: unknown } | undefined)?.exclude;
  if (typeof raw === "string") return [raw];
  if (Array.isArray(raw)) return raw.filter((v): v is string => typeof v === "string");
  return [];
}

/** `?verbose` is present (kube-apiserver takes it with or without a value). */
export function isVerbose(query: unknown): boolean {
  const raw = (query as { verbose?: unknown } | undefined)?.verbose;
  return raw !== undefined && raw !== "false" && raw !== "0";
}
