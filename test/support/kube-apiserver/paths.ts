/**
 * Request paths of the Kubernetes REST API, as the test API server parses them:
 * `/api/v1/...` for the core group, `/apis/<group>/<version>/...` otherwise,
 * then `[namespaces/<ns>/]<plural>[/<name>[/<subresource>]]`.
 */

export interface ParsedPath {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly subresource?: string;
}

export function parseApiPath(pathname: string): ParsedPath | undefined {
  const segments = pathname
    .split("/")
    .filter((s) => s !== "")
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segments[0] === "api" && segments.length >= 3) {
    group = "";
    version = segments[1] ?? "";
    rest = segments.slice(2);
  } else if (segments[0] === "apis" && segments.length >= 4) {
    group = segments[1] ?? "";
    version = segments[2] ?? "";
    rest = segments.slice(3);
  } else {
    return undefined;
  }
  // `namespaces/<ns>/<plural>...` unless it is the Namespace object itself (`namespaces/<name>[/status]`).
  if (rest[0] === "namespaces" && rest.length >= 3 && rest[2] !== "status" && rest[2] !== "finalize") {
    const [, namespace, plural, name, subresource] = rest;
    if (rest.length > 5 || plural === undefined) return undefined;
    return {
      group,
      version,
      plural,
      ...(namespace === undefined ? {} : { namespace }),
      ...(name === undefined ? {} : { name }),
      ...(subresource === undefined ? {} : { subresource }),
    };
  }
  const [plural, name, subresource] = rest;
  if (rest.length > 3 || plural === undefined) return undefined;
  return {
    group,
    version,
    plural,
    ...(name === undefined ? {} : { name }),
    ...(subresource === undefined ? {} : { subresource }),
  };
}
