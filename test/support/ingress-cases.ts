/** The Ingress test cases of testdata/ingress/conformance.yaml, as the Ingress tests read them. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { REPO } from "./strait-process.ts";

export interface IngressRequestCase {
  /** The Ingress whose address the request goes to (the case's first Ingress when not given). */
  ingress?: string;
  scheme?: "http" | "https";
  host: string;
  path: string;
  backend?: string;
  status?: number;
  connectionFails?: boolean;
}

export interface IngressCase {
  name: string;
  feature: string;
  manifests: string;
  requests: IngressRequestCase[];
  problems?: string[];
  distinctAddresses?: string[];
  /** Ingresses strait must not serve (another class): no status from strait. */
  notServed?: string[];
}

export const INGRESS_CASES = parse(readFileSync(join(REPO, "testdata/ingress/conformance.yaml"), "utf8")) as {
  common: string;
  services: string[];
  cases: IngressCase[];
};

/** A TLS Secret `lab/tls-secret` with a real certificate and key (from the gateway golden cases). */
export const INGRESS_TLS_SECRET = (
  readFileSync(join(REPO, "testdata/gateway/HTTPRouteHTTPSListener/input.yaml"), "utf8").split(/^---$/m)[0] ??
  ""
).replace("name: cert, namespace: infra", "name: tls-secret, namespace: lab");

/** The name of the first Ingress in a case's manifests. */
export function firstIngress(c: IngressCase): string {
  return /kind: Ingress\n\s*metadata: \{ name: ([^,]+),/.exec(c.manifests)?.[1] ?? "";
}
