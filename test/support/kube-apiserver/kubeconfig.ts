/** A kubeconfig file pointing at the test API server (plain http, bearer token). */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";

export function writeKubeconfig(server: string, token: string): string {
  const dir = mkdtempSync(join(tmpdir(), "strait-kubeconfig-"));
  const file = join(dir, "kubeconfig");
  writeFileSync(
    file,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      // client-node refuses a plain-http server unless TLS verification is explicitly off.
      clusters: [{ name: "test", cluster: { server, "insecure-skip-tls-verify": true } }],
      users: [{ name: "test", user: { token } }],
      contexts: [{ name: "test", context: { cluster: "test", user: "test", namespace: "default" } }],
      "current-context": "test",
    }),
  );
  return file;
}
