/**
 * The Gateway API's own rules on a rule's filter list (the CRD's CEL
 * validations, which a watched folder has no API server to enforce): each
 * filter carries exactly the configuration of its type, the filters that may
 * appear once appear once, a redirect and a rewrite do not mix, a mirror's
 * fraction is a fraction, and paths written by a filter are paths. A list that
 * breaks one refuses its rule, with the reason, instead of being half applied.
 */

type PathSpec = { replaceFullPath?: string | undefined; replacePrefixMatch?: string | undefined } | undefined;

/** The parts of a filter (route-filters.ts FilterSpec) these rules read. */
interface FilterSpec {
  readonly type: string;
  readonly requestHeaderModifier?: unknown;
  readonly responseHeaderModifier?: unknown;
  readonly requestRedirect?: { readonly path?: PathSpec } | undefined;
  readonly urlRewrite?: { readonly path?: PathSpec } | undefined;
  readonly requestMirror?:
    | {
        readonly fraction?:
          | { readonly numerator: number; readonly denominator?: number | undefined }
          | undefined;
      }
    | undefined;
}

const CONFIG_FIELD: Readonly<Record<string, string>> = {
  RequestHeaderModifier: "requestHeaderModifier",
  ResponseHeaderModifier: "responseHeaderModifier",
  RequestRedirect: "requestRedirect",
  URLRewrite: "urlRewrite",
  RequestMirror: "requestMirror",
  CORS: "cors",
  ExtensionRef: "extensionRef",
};

const ONCE = ["RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite", "CORS"];

/** The Gateway API's HTTPHeaderName (its `set`/`add` names are checked by the schema; `remove` entries are not). */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}$/;

/** Characters a path may hold (the CRD's rule for path match values): no spaces, controls or raw non-ASCII. */
export const PATH_CHARACTERS = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+$/;

function pathProblem(what: string, path: PathSpec) {
  for (const value of [path?.replaceFullPath, path?.replacePrefixMatch]) {
    if (value === undefined || value === "") continue;
    if (!value.startsWith("/") || !PATH_CHARACTERS.test(value))
      return `${what} path ${JSON.stringify(value)} is not a path (it must start with / and hold no spaces, control or raw non-ASCII characters)`;
  }
  return undefined;
}

/** The first rule the filter list breaks, or undefined. */
export function filterListProblem(filters: readonly FilterSpec[]): string | undefined {
  const seen = new Set<string>();
  for (const [i, f] of filters.entries()) {
    const own = CONFIG_FIELD[f.type];
    if (own !== undefined) {
      const fields = f as unknown as Readonly<Record<string, unknown>>;
      if (fields[own] === undefined || fields[own] === null)
        return `filters[${i}]: a ${f.type} filter needs ${own}`;
      const others = Object.values(CONFIG_FIELD).filter((k) => k !== own && fields[k] !== undefined);
      if (others.length > 0)
        return `filters[${i}]: a ${f.type} filter takes only ${own}, not ${others.join(", ")}`;
    }
    if (ONCE.includes(f.type) && seen.has(f.type))
      return `filters[${i}]: ${f.type} may appear only once in a rule`;
    seen.add(f.type);
    const fraction = f.requestMirror?.fraction;
    if (fraction !== undefined) {
      const denominator = fraction.denominator ?? 100;
      if (!(denominator >= 1) || !(fraction.numerator >= 0) || fraction.numerator > denominator)
        return `filters[${i}]: mirror fraction ${fraction.numerator}/${denominator} must have 0 <= numerator <= denominator and denominator >= 1`;
    }
    for (const modifier of [f.requestHeaderModifier, f.responseHeaderModifier] as (
      | { remove?: unknown }
      | undefined
    )[])
      for (const name of Array.isArray(modifier?.remove) ? modifier.remove : [])
        if (typeof name !== "string" || !HEADER_NAME.test(name))
          return `filters[${i}]: ${JSON.stringify(name)} is not a header name (1-256 of A-Z a-z 0-9 !#$%&'*+-.^_\`|~) and cannot be removed`;
    const path = pathProblem(f.type, f.requestRedirect?.path ?? f.urlRewrite?.path);
    if (path !== undefined) return `filters[${i}]: ${path}`;
  }
  if (seen.has("RequestRedirect") && seen.has("URLRewrite"))
    return "a rule may not have both a RequestRedirect and a URLRewrite filter";
  return undefined;
}
