/**
 * A real Kubernetes control plane on loopback, for cluster-mode tests and the
 * official conformance run: etcd, kube-apiserver and (optionally)
 * kube-controller-manager, built by scripts/build-fixtures.sh, each on free
 * ports, with envtest's and kubeadm's flags:
 *
 * - one CA for the serving certificate and the client certificates; the API
 *   server authenticates users by client certificate (CN user, O groups) and
 *   service accounts by the tokens it signs (TokenRequest), and authorizes with
 *   RBAC (plus the Node authorizer and NodeRestriction for the node stand-in);
 * - kube-controller-manager runs the default controllers (Deployments,
 *   ReplicaSets, EndpointSlices, namespaces, garbage collection, service
 *   accounts, ...) each under its own service account, as kubeadm sets it up.
 *
 * Everything lives in one temporary folder that stop() removes; the processes
 * are killed when the test process exits, whatever happened.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { KubeClient, loadKubeConfig } from "../../../src/sources/kubernetes/kube-client.ts";
import { Child } from "./child.ts";
import { fixtureBinaries } from "./fixtures.ts";
import { type ClientCertificate, clientCertificate, createPki, type Pki } from "./pki.ts";

export interface ControlPlaneOptions {
  /** Run kube-controller-manager (default true). */
  readonly controllerManager?: boolean;
  /**
   * The API server's watch cache (default true). Off, every watch is served by
   * etcd itself, so compacting etcd makes a resumed watch answer 410 Gone, as a
   * real cluster does after its history moved on.
   */
  readonly watchCache?: boolean;
  /** More kube-apiserver flags. */
  readonly apiServerArgs?: readonly string[];
}

/** The service CIDR (its first address is the `kubernetes` Service, in the serving certificate). */
export const SERVICE_CIDR = "10.96.0.0/16";

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

async function waitUntil(what: string, timeoutMs: number, probe: () => Promise<boolean>, child?: Child) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child !== undefined && !child.alive) {
      throw new Error(`${child.name} exited while waiting for ${what}:\n${child.tail()}`);
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${child?.tail() ?? ""}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export class ControlPlane {
  readonly dir: string;
  readonly pki: Pki;
  /** https://127.0.0.1:PORT */
  readonly server: string;
  readonly etcdUrl: string;
  /** A kubeconfig of a cluster admin (group system:masters). */
  readonly adminKubeconfig: string;
  readonly admin: KubeClient;
  readonly #children: Child[] = [];
  readonly #options: ControlPlaneOptions;
  /** The API server's client certificate towards kubelets (kubeadm's apiserver-kubelet-client). */
  readonly #kubeletClient: ClientCertificate;
  #apiServer: Child | undefined;

  private constructor(dir: string, pki: Pki, server: string, etcdUrl: string, options: ControlPlaneOptions) {
    this.dir = dir;
    this.pki = pki;
    this.server = server;
    this.etcdUrl = etcdUrl;
    this.#options = options;
    this.#kubeletClient = clientCertificate(
      pki,
      "apiserver-kubelet-client",
      "kube-apiserver-kubelet-client",
      ["kubeadm:cluster-admins"],
    );
    this.adminKubeconfig = this.kubeconfigForUser("admin", ["system:masters"]);
    this.admin = new KubeClient(loadKubeConfig(this.adminKubeconfig).config);
  }

  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const bins = fixtureBinaries();
    const dir = mkdtempSync(join(tmpdir(), "strait-control-plane-"));
    const pki = createPki(dir);
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const plane = new ControlPlane(dir, pki, `https://127.0.0.1:${apiPort}`, etcdUrl, options);
    try {
      await plane.#startEtcd(bins.etcd, peerPort);
      await plane.#startApiServer(bins.kubeApiserver, apiPort);
      if (options.controllerManager !== false)
        await plane.#startControllerManager(bins.kubeControllerManager);
    } catch (error) {
      await plane.stop();
      throw error;
    }
    return plane;
  }

  async #startEtcd(binary: string, peerPort: number): Promise<void> {
    const peer = `http://127.0.0.1:${peerPort}`;
    const etcd = new Child(
      "etcd",
      binary,
      [
        "--name=default",
        `--data-dir=${join(this.dir, "etcd")}`,
        `--listen-client-urls=${this.etcdUrl}`,
        `--advertise-client-urls=${this.etcdUrl}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=default=${peer}`,
        // A test cluster: losing it on a power cut is fine, waiting for fsync is not.
        "--unsafe-no-fsync",
        "--log-level=warn",
      ],
      join(this.dir, "etcd.log"),
    );
    this.#children.push(etcd);
    await waitUntil("etcd", 30_000, async () => (await fetch(`${this.etcdUrl}/health`)).ok, etcd);
  }

  #apiServerArgs(port: number): string[] {
    const p = this.pki;
    return [
      `--etcd-servers=${this.etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${port}`,
      `--tls-cert-file=${p.servingCert}`,
      `--tls-private-key-file=${p.servingKey}`,
      `--client-ca-file=${p.caCert}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${p.serviceAccountPub}`,
      `--service-account-signing-key-file=${p.serviceAccountKey}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      "--authorization-mode=Node,RBAC",
      "--enable-admission-plugins=NodeRestriction",
      "--allow-privileged=true",
      "--profiling=false",
      // The `kubernetes` Service's endpoints would be 127.0.0.1, which Endpoints reject (loopback).
      "--endpoint-reconciler-type=none",
      // pods/log is proxied to the node stand-in's log endpoint (kubelet-logs.ts) at the
      // Node's InternalIP (its Hostname does not resolve), both sides checked by the CA.
      "--kubelet-preferred-address-types=InternalIP",
      `--kubelet-certificate-authority=${p.caCert}`,
      `--kubelet-client-certificate=${this.#kubeletClient.cert}`,
      `--kubelet-client-key=${this.#kubeletClient.key}`,
      `--cert-dir=${join(this.dir, "apiserver")}`,
      ...(this.#options.watchCache === false ? ["--watch-cache=false"] : []),
      ...(this.#options.apiServerArgs ?? []),
    ];
  }

  async #startApiServer(binary: string, port: number): Promise<void> {
    const apiServer = new Child(
      "kube-apiserver",
      binary,
      this.#apiServerArgs(port),
      join(this.dir, "kube-apiserver.log"),
    );
    this.#children.push(apiServer);
    this.#apiServer = apiServer;
    // /readyz turns 200 once the bootstrap controllers ran (default RBAC roles, namespaces).
    await waitUntil(
      "kube-apiserver /readyz",
      60_000,
      // It answers a plain "ok", which the client reports as "not JSON" with status 200.
      async () => (await this.admin.request("GET", "/readyz")).status === 200,
      apiServer,
    );
  }

  async #startControllerManager(binary: string): Promise<void> {
    const kubeconfig = this.kubeconfigForUser("system:kube-controller-manager");
    const kcm = new Child(
      "kube-controller-manager",
      binary,
      [
        `--kubeconfig=${kubeconfig}`,
        `--authentication-kubeconfig=${kubeconfig}`,
        `--authorization-kubeconfig=${kubeconfig}`,
        "--bind-address=127.0.0.1",
        `--secure-port=${await freePort()}`,
        `--cert-dir=${join(this.dir, "kube-controller-manager")}`,
        "--leader-elect=false",
        // Each controller under its own service account, with the default RBAC roles (kubeadm).
        "--use-service-account-credentials=true",
        `--service-account-private-key-file=${this.pki.serviceAccountKey}`,
        `--root-ca-file=${this.pki.caCert}`,
        `--cluster-signing-cert-file=${this.pki.caCert}`,
        `--cluster-signing-key-file=${this.pki.caKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        "--profiling=false",
      ],
      join(this.dir, "kube-controller-manager.log"),
    );
    this.#children.push(kcm);
    // Ready once its service-account controller made the default ServiceAccount in `default`.
    await waitUntil(
      "kube-controller-manager (the default ServiceAccount)",
      60_000,
      async () => (await this.admin.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")).ok,
      kcm,
    );
  }

  /**
   * Stops and starts kube-apiserver on the same port, e.g. to break every watch
   * at once; `whileDown` runs in between (etcd is still up).
   */
  async restartApiServer(options: { readonly whileDown?: () => Promise<void> } = {}): Promise<void> {
    const old = this.#apiServer;
    if (old === undefined) throw new Error("no kube-apiserver");
    await old.stop();
    this.#children.splice(this.#children.indexOf(old), 1);
    await options.whileDown?.();
    await this.#startApiServer(fixtureBinaries().kubeApiserver, Number(new URL(this.server).port));
  }

  /** A kubeconfig that authenticates as `user` in `groups` with a client certificate. */
  kubeconfigForUser(user: string, groups: readonly string[] = []): string {
    const file = user.replace(/[^a-z0-9.-]/gi, "_");
    const cert = clientCertificate(this.pki, `user-${file}`, user, groups);
    return this.#writeKubeconfig(`${file}.kubeconfig`, {
      "client-certificate": cert.cert,
      "client-key": cert.key,
    });
  }

  /**
   * A kubeconfig with a token the API server issues for a ServiceAccount
   * (TokenRequest), the credentials a pod of that account would have.
   */
  async kubeconfigForServiceAccount(
    namespace: string,
    name: string,
    expirationSeconds = 3600,
  ): Promise<string> {
    const res = await this.admin.request(
      "POST",
      `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
      {
        body: {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenRequest",
          spec: { expirationSeconds },
        },
      },
    );
    if (!res.ok) throw new Error(`TokenRequest for ${namespace}/${name}: ${res.message}`);
    const token = (res.body as { status?: { token?: string } }).status?.token;
    if (token === undefined) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
    return this.#writeKubeconfig(`sa-${namespace}-${name}.kubeconfig`, { token }, namespace);
  }

  #writeKubeconfig(file: string, user: Record<string, string>, namespace = "default"): string {
    const path = join(this.dir, file);
    writeFileSync(
      path,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          { name: "strait-test", cluster: { server: this.server, "certificate-authority": this.pki.caCert } },
        ],
        users: [{ name: "user", user }],
        contexts: [{ name: "strait-test", context: { cluster: "strait-test", user: "user", namespace } }],
        "current-context": "strait-test",
      }),
    );
    return path;
  }

  /** etcd's current revision (the API server's resourceVersion). */
  async etcdRevision(): Promise<number> {
    const res = await fetch(`${this.etcdUrl}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: Buffer.from("/").toString("base64") }),
    });
    const body = (await res.json()) as { header?: { revision?: string } };
    return Number(body.header?.revision);
  }

  /** Compacts etcd's history up to its current revision: older resourceVersions are gone. */
  async compactEtcd(): Promise<number> {
    const revision = await this.etcdRevision();
    const res = await fetch(`${this.etcdUrl}/v3/kv/compaction`, {
      method: "POST",
      body: JSON.stringify({ revision: String(revision), physical: true }),
    });
    if (!res.ok) throw new Error(`etcd compaction: ${res.status} ${await res.text()}`);
    return revision;
  }

  /** The log of one component, for failure messages. */
  logTail(name: "etcd" | "kube-apiserver" | "kube-controller-manager", lines = 40): string {
    return this.#children.find((c) => c.name === name)?.tail(lines) ?? "";
  }

  async stop(): Promise<void> {
    for (const child of [...this.#children].reverse()) await child.stop();
    this.#children.length = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Makes a folder for a component's files inside the control plane's folder. */
export function componentDir(plane: ControlPlane, name: string): string {
  const dir = join(plane.dir, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}
