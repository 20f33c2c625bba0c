/**
 * HTTPRoute rule filters → what the model needs: header mutations, redirect,
 * URL rewrite, mirrors, CORS. Filters apply in the order given, so mutations
 * of several filters of a type are concatenated in order.
 */

import type { ServiceBackend } from "../model/backend.ts";
import type { Cors, HeaderMutation } from "../model/gateway.ts";
import { headerValueProblem } from "../net/http-header.ts";
import type { ResourceView } from "../resources/view.ts";
import { type RefProblem, resolveBackendRef } from "./backend-refs.ts";
import type { BackendTlsPolicies, PolicyDecision } from "./backend-tls-policy.ts";
import { filterListProblem } from "./filter-rules.ts";
import {
  headerMutation,
  mergeMutations,
  mutationProblem,
  NO_HEADER_CHANGES,
  responseHostProblem,
  withoutHostHeader,
} from "./header-mutation.ts";

interface PathModifierSpec {
  type: string;
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}

export interface FilterSpec {
  type: string;
  requestHeaderModifier?: unknown;
  responseHeaderModifier?: unknown;
  requestRedirect?: {
    scheme?: string;
    hostname?: string;
    port?: number;
    path?: PathModifierSpec;
    statusCode?: number;
  };
  urlRewrite?: { hostname?: string; path?: PathModifierSpec };
  requestMirror?: {
    backendRef: { group?: string; kind?: string; name: string; namespace?: string; port?: number };
    percent?: number;
    fraction?: { numerator: number; denominator?: number };
  };
  cors?: {
    allowOrigins?: string[];
    allowMethods?: string[];
    allowHeaders?: string[];
    exposeHeaders?: string[];
    allowCredentials?: boolean;
    maxAge?: number;
  };
  extensionRef?: { group: string; kind: string; name: string };
}

export type PathModifier =
  | { readonly type: "ReplaceFullPath"; readonly value: string }
  | { readonly type: "ReplacePrefixMatch"; readonly value: string };

export interface RedirectSpec {
  readonly scheme?: string;
  readonly hostname?: string;
  readonly port?: number;
  readonly path?: PathModifier;
  readonly statusCode: 301 | 302 | 303 | 307 | 308;
}

export interface RuleFilters {
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
  readonly redirect?: RedirectSpec;
  readonly hostRewrite?: string;
  readonly pathRewrite?: PathModifier;
  readonly mirrors: readonly { readonly backend: ServiceBackend; readonly fraction: number }[];
  readonly cors?: Cors;
  /** References that did not resolve (ResolvedRefs=False); the rule still serves. */
  readonly refProblems: readonly RefProblem[];
  /** A filter strait cannot apply: the rule must answer 500 rather than skip it. */
  readonly unsupported?: string;
  /** A filter whose values cannot be programmed: the rule is invalid. */
  readonly invalid?: string;
  readonly policies: readonly PolicyDecision[];
}

function pathModifier(spec: PathModifierSpec | undefined): PathModifier | undefined {
  if (spec === undefined) return undefined;
  if (spec.type === "ReplaceFullPath" && spec.replaceFullPath !== undefined)
    return { type: "ReplaceFullPath", value: spec.replaceFullPath };
  if (spec.type === "ReplacePrefixMatch" && spec.replacePrefixMatch !== undefined)
    return { type: "ReplacePrefixMatch", value: spec.replacePrefixMatch };
  return undefined;
}

function mirrorFraction(m: NonNullable<FilterSpec["requestMirror"]>): number {
  if (m.percent !== undefined) return Math.min(100, Math.max(0, m.percent)) / 100;
  if (m.fraction !== undefined) {
    const denominator = m.fraction.denominator ?? 100;
    return denominator <= 0 ? 0 : Math.min(1, Math.max(0, m.fraction.numerator / denominator));
  }
  return 1;
}

/** A path becomes a header-valued Envoy field (path_redirect, prefix_rewrite): the same syntax rules apply. */
function pathProblem(path: PathModifier | undefined, what: string): string | undefined {
  if (path === undefined) return undefined;
  const problem = headerValueProblem(path.value);
  return problem === undefined ? undefined : `${what} path: ${problem}`;
}

const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);

export function translateFilters(
  view: ResourceView,
  from: { kind: string; namespace: string },
  filters: readonly FilterSpec[],
  policies: BackendTlsPolicies,
): RuleFilters {
  const used: PolicyDecision[] = [];
  let requestHeaders = NO_HEADER_CHANGES;
  let responseHeaders = NO_HEADER_CHANGES;
  let redirect: RedirectSpec | undefined;
  let hostRewrite: string | undefined;
  let pathRewrite: PathModifier | undefined;
  let cors: Cors | undefined;
  let unsupported: string | undefined;
  let invalid: string | undefined;
  /** Host from a RequestHeaderModifier; URLRewrite's hostname, the explicit API, wins over it. */
  let hostHeader: string | undefined;
  const mirrors: { backend: ServiceBackend; fraction: number }[] = [];
  const refProblems: RefProblem[] = [];
  invalid = filterListProblem(filters);
  for (const f of filters) {
    switch (f.type) {
      case "RequestHeaderModifier": {
        const mutation = headerMutation(f.requestHeaderModifier);
        const split = withoutHostHeader(mutation);
        invalid = split.invalid ?? mutationProblem(mutation, "RequestHeaderModifier") ?? invalid;
        if (split.host !== undefined) hostHeader = split.host;
        requestHeaders = mergeMutations(requestHeaders, split.mutation);
        break;
      }
      case "ResponseHeaderModifier": {
        const mutation = headerMutation(f.responseHeaderModifier);
        invalid =
          responseHostProblem(mutation) ?? mutationProblem(mutation, "ResponseHeaderModifier") ?? invalid;
        responseHeaders = mergeMutations(responseHeaders, mutation);
        break;
      }
      case "RequestRedirect": {
        const r = f.requestRedirect ?? {};
        const code = r.statusCode ?? 302;
        const path = pathModifier(r.path);
        invalid = pathProblem(path, "RequestRedirect") ?? invalid;
        redirect = {
          ...(r.scheme === undefined ? {} : { scheme: r.scheme }),
          ...(r.hostname === undefined ? {} : { hostname: r.hostname }),
          ...(r.port === undefined ? {} : { port: r.port }),
          ...(path === undefined ? {} : { path }),
          statusCode: (REDIRECT_CODES.has(code) ? code : 302) as RedirectSpec["statusCode"],
        };
        break;
      }
      case "URLRewrite": {
        const r = f.urlRewrite ?? {};
        if (r.hostname !== undefined) hostRewrite = r.hostname;
        const path = pathModifier(r.path);
        invalid = pathProblem(path, "URLRewrite") ?? invalid;
        pathRewrite = path ?? pathRewrite;
        break;
      }
      case "RequestMirror": {
        const m = f.requestMirror;
        if (m === undefined) break;
        const resolved = resolveBackendRef(view, from, m.backendRef, policies);
        if (resolved.policy !== undefined) used.push(resolved.policy);
        if (resolved.problem !== undefined) refProblems.push(resolved.problem);
        else if (resolved.backend !== undefined)
          mirrors.push({ backend: resolved.backend, fraction: mirrorFraction(m) });
        break;
      }
      case "CORS": {
        const c = f.cors ?? {};
        cors = {
          allowOrigins: c.allowOrigins ?? [],
          allowMethods: c.allowMethods ?? [],
          allowHeaders: c.allowHeaders ?? [],
          exposeHeaders: c.exposeHeaders ?? [],
          allowCredentials: c.allowCredentials ?? false,
          ...(c.maxAge === undefined ? {} : { maxAge: c.maxAge }),
        };
        break;
      }
      case "ExtensionRef": {
        const e = f.extensionRef;
        unsupported = `ExtensionRef filter ${e?.group ?? ""}/${e?.kind ?? ""} ${e?.name ?? ""} is not supported by strait`;
        refProblems.push({ reason: "InvalidKind", message: unsupported });
        break;
      }
      default:
        // A filter strait cannot apply is never skipped silently: the rule is refused, and says so.
        invalid = `filter type ${f.type} is not supported by strait`;
    }
  }
  // A redirect forwards nothing: a Host to send upstream does not apply.
  if (hostRewrite === undefined && redirect === undefined) hostRewrite = hostHeader;
  return {
    requestHeaders,
    responseHeaders,
    ...(redirect === undefined ? {} : { redirect }),
    ...(hostRewrite === undefined ? {} : { hostRewrite }),
    ...(invalid === undefined ? {} : { invalid }),
    ...(pathRewrite === undefined ? {} : { pathRewrite }),
    mirrors,
    ...(cors === undefined ? {} : { cors }),
    refProblems,
    ...(unsupported === undefined ? {} : { unsupported }),
    policies: used,
  };
}
