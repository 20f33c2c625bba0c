/**
 * The reconciler owns the Gateways' address assignments (an input of the
 * pure pipeline): it passes the last pass's on, and for a Gateway it has not
 * placed yet (after a restart) takes the address its status reports, so a
 * restarted controller does not move running Gateways.
 */
import { describe, expect, it } from "vitest";
import { captureLogger } from "../../test/support/capture-logger.ts";
import { BASE, storeOf } from "../../test/support/gateway-one-pass.ts";
import { PipelineReconciler } from "./pipeline-reconciler.ts";

const MANIFESTS = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: apps, generation: 1 }
spec: { gatewayClassName: strait, listeners: [{ name: web, protocol: HTTP, port: 80 }] }
`;

describe("PipelineReconciler addresses", () => {
  it("keeps the address a Gateway's status reports after a restart, then its own", async () => {
    const store = storeOf(BASE, MANIFESTS);
    const gw = store.get("Gateway", "apps", "gw");
    if (gw === undefined) throw new Error("no gateway");
    store.upsert("Gateway", { ...gw, status: { addresses: [{ type: "IPAddress", value: "127.0.1.77" }] } });
    const reconciler = new PipelineReconciler(["127.0.1.0/24"], captureLogger().logger);
    await reconciler.reconcile(store);
    expect(reconciler.latest?.addresses.get("apps/gw")).toBe("127.0.1.77");
    // Its own assignment wins over a status that says otherwise.
    store.upsert("Gateway", { ...gw, status: { addresses: [{ type: "IPAddress", value: "127.0.1.78" }] } });
    await reconciler.reconcile(store);
    expect(reconciler.latest?.addresses.get("apps/gw")).toBe("127.0.1.77");
  });
});
