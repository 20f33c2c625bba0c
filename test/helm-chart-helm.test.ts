/**
 * charts/strait through the real helm (built from helm.sh/helm/v3 by
 * scripts/build-fixtures.sh): `helm lint --strict` passes and `helm template`
 * renders every object the chart is meant to install. The API server's
 * verdict on the rendered objects is in run-cluster-real.e2e.test.ts.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseManifests } from "./support/control-plane/apply.ts";
import { fixtureBinaries } from "./support/control-plane/fixtures.ts";
import { REPO } from "./support/strait-process.ts";

const CHART = join(REPO, "charts/strait");

function helm(args: readonly string[]): string {
  return execFileSync(fixtureBinaries().helm, [...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

describe("charts/strait with helm", () => {
  it("passes helm lint --strict", () => {
    expect(helm(["lint", "--strict", CHART])).toContain("1 chart(s) linted, 0 chart(s) failed");
  });

  it("renders the controller, the agent, RBAC and the classes", () => {
    const objects = parseManifests(helm(["template", "strait", CHART, "--namespace", "strait-system"]));
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        "ClusterRole/strait-controller",
        "ClusterRoleBinding/strait-controller",
        "ConfigMap/strait-envoy-bootstrap",
        "DaemonSet/strait-agent",
        "Deployment/strait-controller",
        "GatewayClass/strait",
        "IngressClass/strait",
        "Role/strait-controller-leader-election",
        "RoleBinding/strait-controller-leader-election",
        "Service/strait-controller",
        "ServiceAccount/strait-agent",
        "ServiceAccount/strait-controller",
      ].sort(),
    );
    for (const o of objects.filter(
      (x) => !x.kind.startsWith("Cluster") && !["GatewayClass", "IngressClass"].includes(x.kind),
    )) {
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe("strait-system");
    }
  });
});
