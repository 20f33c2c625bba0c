/**
 * The real control plane fixture: etcd, kube-apiserver and
 * kube-controller-manager built from their Go modules, and the node stand-in
 * running a Deployment's pods (upstream echo-basic) in network namespaces.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpRequest } from "../http-request.ts";
import { ControlPlane, componentDir } from "./control-plane.ts";
import { fixtureBinaries } from "./fixtures.ts";
import { NODE_SKIP_REASON, NodeStandIn } from "./node-stand-in.ts";
import { clientCertificate, servingCertificate } from "./pki.ts";

let plane: ControlPlane;
beforeAll(async () => {
  plane = await ControlPlane.start();
}, 180_000);
afterAll(async () => {
  await plane?.stop();
});

async function get(path: string): Promise<unknown> {
  const res = await plane.admin.request("GET", path);
  if (!res.ok) throw new Error(res.message);
  return res.body;
}

/** GET a text (not JSON) answer of the API server as a cluster admin, e.g. pods/log. */
function getText(path: string): Promise<{ status: number; body: string }> {
  const cert = clientCertificate(plane.pki, "log-reader", "log-reader", ["system:masters"]);
  const url = new URL(path, plane.server);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        ca: readFileSync(plane.pki.caCert),
        cert: readFileSync(cert.cert),
        key: readFileSync(cert.key),
        timeout: 10_000,
      },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("control plane fixture", () => {
  it("serves the built version, authenticates by client certificate and authorizes with RBAC", async () => {
    const version = (await get("/version")) as { gitVersion: string; major: string; minor: string };
    expect(version).toMatchObject({ gitVersion: "v1.36.3", major: "1", minor: "36" });
    // A user without any binding is authenticated but forbidden.
    const { KubeClient, loadKubeConfig } = await import("../../../src/sources/kubernetes/kube-client.ts");
    const nobody = new KubeClient(loadKubeConfig(plane.kubeconfigForUser("nobody")).config);
    const res = await nobody.request("GET", "/api/v1/namespaces/default/pods");
    expect(res).toMatchObject({ ok: false, status: 403 });
    // A service account's TokenRequest token authenticates as that account.
    const sa = new KubeClient(
      loadKubeConfig(await plane.kubeconfigForServiceAccount("default", "default")).config,
    );
    const review = await sa.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    });
    expect(
      review.ok && (review.body as { status: { userInfo: { username: string } } }).status.userInfo.username,
    ).toBe("system:serviceaccount:default:default");
  });

  it("without the watch cache, compacting etcd makes an old resourceVersion answer 410 Gone", async () => {
    const bare = await ControlPlane.start({ controllerManager: false, watchCache: false });
    try {
      const create = () =>
        bare.admin.request("POST", "/api/v1/namespaces/default/configmaps", {
          body: { apiVersion: "v1", kind: "ConfigMap", metadata: { generateName: "compact-" } },
        });
      const created = await create();
      if (!created.ok) throw new Error(created.message);
      const old = (created.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
      await create();
      const before = await bare.admin.request("GET", "/api/v1/namespaces/default/configmaps", {
        query: { resourceVersion: old, resourceVersionMatch: "Exact" },
      });
      expect(before.ok).toBe(true);
      await bare.compactEtcd();
      const after = await bare.admin.request("GET", "/api/v1/namespaces/default/configmaps", {
        query: { resourceVersion: old, resourceVersionMatch: "Exact" },
      });
      expect(after).toMatchObject({ ok: false, status: 410, reason: "Expired" });
    } finally {
      await bare.stop();
    }
  }, 90_000);

  it.skipIf(NODE_SKIP_REASON !== undefined)(
    `runs a Deployment's pods on the node stand-in (a Secret volume's items, created after the pods), with EndpointSlices from kube-controller-manager and pods/log through the API server (${NODE_SKIP_REASON ?? "root"})`,
    async () => {
      const node = await NodeStandIn.start(plane, {
        dir: componentDir(plane, "node"),
        echoBasic: fixtureBinaries().echoBasic,
      });
      try {
        await plane.admin.request("POST", "/api/v1/namespaces", {
          body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "echo" } },
        });
        const labels = { app: "echo" };
        const deployment = await plane.admin.request("POST", "/apis/apps/v1/namespaces/echo/deployments", {
          body: {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "echo" },
            spec: {
              replicas: 2,
              selector: { matchLabels: labels },
              template: {
                metadata: { labels },
                spec: {
                  containers: [
                    {
                      name: "echo",
                      image: "registry.k8s.io/gateway-api/echo-basic:v1.6.1",
                      // Ready only once 8443 accepts: HTTPS from the Secret volume's files.
                      ports: [{ containerPort: 3000 }, { containerPort: 8443 }],
                      volumeMounts: [{ name: "certs", mountPath: "/etc/secret-volume" }],
                      env: [
                        { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                        { name: "NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                        { name: "TLS_SERVER_CERT", value: "/etc/secret-volume/crt" },
                        { name: "TLS_SERVER_PRIVKEY", value: "/etc/secret-volume/key" },
                      ],
                    },
                  ],
                  volumes: [
                    {
                      name: "certs",
                      secret: {
                        secretName: "echo-certs",
                        items: [
                          { key: "tls.crt", path: "crt" },
                          { key: "tls.key", path: "key" },
                        ],
                      },
                    },
                  ],
                },
              },
            },
          },
        });
        expect(deployment.ok, deployment.ok ? "" : deployment.message).toBe(true);
        // The Secret comes after the pods (as the conformance suite's do): they wait for it.
        const tls = servingCertificate(plane.pki, "echo-serving", "echo", ["DNS:echo"]);
        const secret = await plane.admin.request("POST", "/api/v1/namespaces/echo/secrets", {
          body: {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "echo-certs" },
            type: "kubernetes.io/tls",
            data: {
              "tls.crt": readFileSync(tls.cert).toString("base64"),
              "tls.key": readFileSync(tls.key).toString("base64"),
            },
          },
        });
        expect(secret.ok, secret.ok ? "" : secret.message).toBe(true);
        await plane.admin.request("POST", "/api/v1/namespaces/echo/services", {
          body: {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: "echo" },
            spec: { selector: labels, ports: [{ port: 8080, targetPort: 3000 }] },
          },
        });

        type PodList = {
          items: {
            metadata: { name: string };
            status: { podIP?: string; conditions?: { type: string; status: string }[] };
          }[];
        };
        let pods: PodList["items"] = [];
        const deadline = Date.now() + 60_000;
        for (;;) {
          pods = ((await get("/api/v1/namespaces/echo/pods")) as PodList).items;
          const ready = pods.filter((p) =>
            p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
          );
          if (ready.length === 2 && pods.length === 2) break;
          if (Date.now() > deadline)
            throw new Error(
              `pods not ready: ${JSON.stringify(pods.map((p) => p.status))}; ${node.errors.join("; ")}`,
            );
          await new Promise((r) => setTimeout(r, 200));
        }
        // Each pod answers on its own address with its own name (from the downward API).
        for (const pod of pods) {
          const ip = pod.status.podIP ?? "";
          expect(node.podIp("echo", pod.metadata.name)).toBe(ip);
          const reply = await httpRequest(ip, 3000, { path: "/hello" }); // from the host, as Envoy reaches a pod
          expect(reply.status).toBe(200);
          expect(JSON.parse(reply.body)).toMatchObject({
            path: "/hello",
            namespace: "echo",
            pod: pod.metadata.name,
          });
        }
        // The API server proxies pods/log to the stand-in's log endpoint, sinceTime honoured.
        const first = pods[0]?.metadata.name ?? "";
        const logs = await getText(`/api/v1/namespaces/echo/pods/${first}/log?container=echo`);
        expect(logs.status, logs.body).toBe(200);
        expect(logs.body).toContain("Echoing back request made to /hello to client");
        const future = new Date(Date.now() + 60_000).toISOString().replace(/\.\d+Z$/, "Z");
        const none = await getText(`/api/v1/namespaces/echo/pods/${first}/log?sinceTime=${future}`);
        expect(none).toEqual({ status: 200, body: "" });
        // kube-controller-manager's EndpointSlice controller publishes the ready pods.
        type Slices = {
          items: { endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] }[];
        };
        const sliceDeadline = Date.now() + 30_000;
        for (;;) {
          const slices = (await get(
            "/apis/discovery.k8s.io/v1/namespaces/echo/endpointslices?labelSelector=kubernetes.io/service-name=echo",
          )) as Slices;
          const addresses = slices.items.flatMap((s) =>
            (s.endpoints ?? []).filter((e) => e.conditions?.ready === true).flatMap((e) => e.addresses),
          );
          if (
            addresses.sort().join() ===
            pods
              .map((p) => p.status.podIP)
              .sort()
              .join()
          )
            break;
          if (Date.now() > sliceDeadline) throw new Error(`EndpointSlice addresses ${addresses.join()}`);
          await new Promise((r) => setTimeout(r, 200));
        }

        // Deleting the namespace stops the pods and removes their network namespaces.
        await plane.admin.request("DELETE", "/api/v1/namespaces/echo");
        const gone = Date.now() + 60_000;
        while (node.runningPods.length > 0) {
          if (Date.now() > gone) throw new Error(`pods still running: ${node.runningPods.join()}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        const netns = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
        expect(netns).not.toContain(`stcp-${node.network.id}-`);
        expect(node.errors).toEqual([]);
      } finally {
        await node.stop();
      }
    },
    120_000,
  );
});
