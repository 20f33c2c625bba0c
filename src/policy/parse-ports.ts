/**
 * `toPorts` of a rule → PortRuleSpecs, with Cilium's validation
 * (pkg/policy/api/rule_validation.go): at most 40 ports per entry, a port is
 * a number 0..65535 or an IANA service name (a named port), protocols TCP,
 * UDP, SCTP or ANY, L7 rules only on TCP ports other than 0, HTTP regular
 * expressions that compile (RE2, the engine Envoy runs them with).
 */
import { re2Error } from "../gateway/route-matches.ts";
import type { Checker, Obj } from "./checker.ts";
import type { HeaderSpec, HttpRuleSpec, PortProtocol, PortRuleSpec, PortSpec } from "./rule.ts";

const MAX_PORTS = 40;
const PROTOCOLS: readonly PortProtocol[] = ["TCP", "UDP", "SCTP", "ANY"];

/** IANA service names (RFC 6335 §5.1), as Cilium's iana.IsSvcName reads them. */
export function isServiceName(text: string): boolean {
  return (
    text.length >= 1 &&
    text.length <= 15 &&
    /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/.test(text) &&
    /[A-Za-z]/.test(text) &&
    !text.includes("--")
  );
}

function portNumber(c: Checker, v: unknown, path: string): number | string | undefined {
  const text = typeof v === "number" ? String(v) : v;
  if (typeof text !== "string" || text === "") return c.fail(path, "must be specified");
  if (isServiceName(text)) return text.toLowerCase();
  if (!/^\d+$/.test(text) || Number(text) > 65535)
    return c.fail(path, `"${text}" is not a port (0..65535) or a port name`);
  return Number(text);
}

function portSpec(c: Checker, v: unknown, path: string): PortSpec | undefined {
  const o = c.object(v, path);
  if (o === undefined) return undefined;
  const port = portNumber(c, o.port, `${path}.port`);
  const raw = o.protocol === undefined || o.protocol === null || o.protocol === "" ? "ANY" : o.protocol;
  const protocol = typeof raw === "string" ? (raw.toUpperCase() as PortProtocol) : undefined;
  if (protocol === undefined || !PROTOCOLS.includes(protocol)) {
    c.fail(`${path}.protocol`, `must be one of ${PROTOCOLS.join(", ")}`);
    return undefined;
  }
  if (protocol === "SCTP" && port !== 0) {
    // The datapath reads no SCTP ports: an allow would never match and a deny would never hold.
    return c.fail(
      `${path}.protocol`,
      "not supported by strait: SCTP ports (the datapath parses TCP and UDP ports)",
    );
  }
  let endPort: number | undefined;
  if (o.endPort !== undefined && o.endPort !== null && o.endPort !== 0) {
    if (typeof o.endPort !== "number" || !Number.isInteger(o.endPort) || o.endPort < 0 || o.endPort > 65535) {
      return c.fail(`${path}.endPort`, "must be a port number (0..65535)");
    }
    if (typeof port === "string") return c.fail(`${path}.endPort`, "a range needs a numeric port");
    // Cilium reads a range only when endPort is past port; otherwise the port alone.
    if (port !== undefined && port > 0 && o.endPort > port) endPort = o.endPort;
  }
  if (port === undefined) return undefined;
  return { protocol, port, ...(endPort === undefined ? {} : { endPort }) };
}

function regex(c: Checker, v: unknown, path: string): string | undefined {
  const s = c.optionalString(v, path);
  if (s === undefined || s === "") return undefined;
  const problem = re2Error(s);
  if (problem !== undefined) return c.fail(path, `invalid regular expression: ${problem}`);
  return s;
}

function headerMatch(c: Checker, v: unknown, path: string, namespace: string): HeaderSpec | undefined {
  const o = c.object(v, path);
  if (o === undefined) return undefined;
  const name = c.string(o.name, `${path}.name`);
  if (name === "") return c.fail(`${path}.name`, "header name missing");
  const mismatch = o.mismatch;
  if (mismatch !== undefined && mismatch !== null && mismatch !== "") {
    if (mismatch === "ADD" || mismatch === "DELETE" || mismatch === "REPLACE") {
      return c.fail(
        `${path}.mismatch`,
        `not supported by strait: ${mismatch} rewrites the request, which Envoy's RBAC filter cannot do (LOG is supported)`,
      );
    }
    if (mismatch !== "LOG") return c.fail(`${path}.mismatch`, `invalid header action: ${String(mismatch)}`);
  }
  const value = c.optionalString(o.value, `${path}.value`);
  let secret: HeaderSpec["secret"];
  if (o.secret !== undefined && o.secret !== null) {
    const s = c.object(o.secret, `${path}.secret`);
    const sname = s === undefined ? undefined : c.string(s.name, `${path}.secret.name`);
    if (sname === "") return c.fail(`${path}.secret.name`, "secret name missing");
    const sns = s === undefined ? undefined : c.optionalString(s.namespace, `${path}.secret.namespace`);
    if (sname !== undefined)
      secret = { namespace: sns === undefined || sns === "" ? namespace : sns, name: sname };
  }
  if (name === undefined) return undefined;
  return {
    name,
    ...(value === undefined || value === "" ? {} : { value }),
    ...(secret === undefined ? {} : { secret }),
    ...(mismatch === "LOG" ? { mismatch: "LOG" as const } : {}),
  };
}

/** `headers: ["X-Key: true"]` is name and exact value, `["X-Key"]` presence only (Cilium's reading). */
function headerString(text: string): HeaderSpec {
  const space = text.indexOf(" ");
  if (space < 0) return { name: text };
  return { name: text.slice(0, space).replace(/:+$/, ""), value: text.slice(space + 1) };
}

function httpRule(c: Checker, v: unknown, path: string, namespace: string): HttpRuleSpec | undefined {
  const o = c.object(v, path);
  if (o === undefined) return undefined;
  const method = regex(c, o.method, `${path}.method`);
  const rulePath = regex(c, o.path, `${path}.path`);
  const host = regex(c, o.host, `${path}.host`);
  const headers: HeaderSpec[] = [];
  (c.list(o.headers, `${path}.headers`) ?? []).forEach((h, i) => {
    const s = c.string(h, `${path}.headers[${i}]`);
    if (s !== undefined && s !== "") headers.push(headerString(s));
  });
  (c.list(o.headerMatches, `${path}.headerMatches`) ?? []).forEach((h, i) => {
    const m = headerMatch(c, h, `${path}.headerMatches[${i}]`, namespace);
    if (m !== undefined) headers.push(m);
  });
  return {
    ...(method === undefined ? {} : { method }),
    ...(rulePath === undefined ? {} : { path: rulePath }),
    ...(host === undefined ? {} : { host }),
    headers,
  };
}

function l7Rules(c: Checker, o: Obj, path: string, namespace: string): HttpRuleSpec[] | undefined {
  c.unsupported(o, path, ["dns"], "DNS rules need a DNS proxy, which strait does not have");
  c.unsupported(o, path, ["kafka", "l7proto", "l7"], "only HTTP rules are enforced");
  const http = c.list(o.http, `${path}.http`);
  // An empty list is no L7 rule at all (Cilium's L7Rules.IsEmpty).
  if (http === undefined || http.length === 0) return undefined;
  return http.flatMap((h, i) => httpRule(c, h, `${path}.http[${i}]`, namespace) ?? []);
}

/** One `toPorts` entry; `deny` entries take ports only (PortDenyRule). */
export function portRule(
  c: Checker,
  v: unknown,
  path: string,
  options: { readonly deny: boolean; readonly namespace: string },
): PortRuleSpec | undefined {
  const o = c.object(v, path);
  if (o === undefined) return undefined;
  const before = c.problems.length;
  if (!options.deny) {
    c.unsupported(o, path, ["terminatingTLS", "originatingTLS"], "TLS interception is not implemented");
    c.unsupported(o, path, ["serverNames"], "SNI matching is not implemented");
    c.unsupported(o, path, ["listener"], "custom Envoy listeners (CiliumEnvoyConfig) are not implemented");
  }
  const ports = c.list(o.ports, `${path}.ports`) ?? [];
  if (ports.length > MAX_PORTS) c.fail(`${path}.ports`, `too many ports, the max is ${MAX_PORTS}`);
  const specs = ports.flatMap((p, i) => portSpec(c, p, `${path}.ports[${i}]`) ?? []);
  let http: HttpRuleSpec[] | undefined;
  if (!options.deny && o.rules !== undefined && o.rules !== null) {
    const rules = c.object(o.rules, `${path}.rules`);
    if (rules !== undefined) http = l7Rules(c, rules, `${path}.rules`, options.namespace);
  }
  if (http !== undefined) {
    specs.forEach((p, i) => {
      const f = `${path}.ports[${i}]`;
      if (p.protocol !== "TCP") c.fail(`${f}.protocol`, `L7 rules can only apply to TCP (not ${p.protocol})`);
      if (p.port === 0) c.fail(`${f}.port`, "L7 rules can not be used when a port is 0");
      if (p.endPort !== undefined) c.fail(`${f}.endPort`, "L7 rules can not be used with a port range");
    });
  }
  if (c.problems.length > before) return undefined;
  return { ports: specs, ...(http === undefined ? {} : { http }) };
}
