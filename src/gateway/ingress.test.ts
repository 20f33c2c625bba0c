import { describe, expect, it } from "vitest";
import { parseManifestText } from "../sources/manifests.ts";
import { ResourceStore } from "../sources/store.ts";
import { translateGateways } from "./index.ts";

const BASE = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: strait }
spec: { controllerName: strait.dev/gateway-controller }
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: strait }
spec: { controller: strait.dev/ingress-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: lab }
spec: { gatewayClassName: strait, listeners: [{ name: http, port: 8080, protocol: HTTP }] }
`;

function addresses(text: string): Map<string, string> {
  const store = new ResourceStore();
  for (const o of parseManifestText("t.yaml", text).objects) store.upsert(o.kind, o.object);
  const out = translateGateways(store, { now: new Date(0), addressPool: ["127.0.1.0/24"] });
  const map = new Map<string, string>();
  for (const s of out.statuses) {
    const st = s.status as { addresses?: { value: string }[]; loadBalancer?: { ingress?: { ip: string }[] } };
    const a = st.addresses?.[0]?.value ?? st.loadBalancer?.ingress?.[0]?.ip;
    if (a !== undefined) map.set(`${s.ref.kind}/${s.ref.name}`, a);
  }
  return map;
}

describe("Ingress addresses", () => {
  it("an Ingress keeps the address it has when a new Gateway would hash onto it", () => {
    const gatewayWouldGet = addresses(BASE).get("Gateway/gw");
    expect(gatewayWouldGet).toBeDefined();
    const withIngress = `${BASE}---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web, namespace: lab }
spec:
  ingressClassName: strait
  defaultBackend: { service: { name: web, port: { number: 80 } } }
status: { loadBalancer: { ingress: [{ ip: "${gatewayWouldGet}" }] } }
`;
    const got = addresses(withIngress);
    expect(got.get("Ingress/web")).toBe(gatewayWouldGet);
    expect(got.get("Gateway/gw")).toBeDefined();
    expect(got.get("Gateway/gw")).not.toBe(gatewayWouldGet);
  });
});
