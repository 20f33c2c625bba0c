/**
 * A node for the real control plane, standing in for the scheduler and the
 * kubelet, which cannot run here (no container engine):
 *
 * - registers a Node (as `system:node:<name>`, so the Node authorizer and
 *   NodeRestriction check it like a kubelet) and keeps its Lease renewed;
 * - binds every pending pod to it through the `binding` subresource (as
 *   `system:kube-scheduler`);
 * - gives each bound pod an address and a network namespace (pod-network.ts)
 *   and runs its containers there: the image picks the program
 *   (pod-runtimes.ts), the environment comes from the pod spec with the
 *   downward API and Secret/ConfigMap keys resolved (pod-env.ts); a Secret or
 *   ConfigMap volume is written to a folder, and env values that point into
 *   its mountPath are pointed at that folder (there is no mount namespace);
 * - reports the pod Running, and Ready once every declared TCP port accepts
 *   connections, with podIP; restarts a container that exits (restartPolicy);
 * - stops a deleted pod's processes, removes its namespace and finishes the
 *   deletion, as the kubelet does;
 * - keeps each container's output, with timestamps, and serves it to the API
 *   server's `pods/log` as a kubelet does (kubelet-logs.ts).
 *
 * Root only (network namespaces).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import type { KubeClient } from "../../../src/sources/kubernetes/kube-client.ts";
import { KubeClient as Client, loadKubeConfig } from "../../../src/sources/kubernetes/kube-client.ts";
import { ContainerLog } from "./container-log.ts";
import type { ControlPlane } from "./control-plane.ts";
import { KubeletLogServer } from "./kubelet-logs.ts";
import { servingCertificate } from "./pki.ts";
import { containerEnv, type EnvVar, type PodFacts } from "./pod-env.ts";
import { type PodInterface, PodNetwork } from "./pod-network.ts";
import { type PodRuntime, runtimeFor } from "./pod-runtimes.ts";

export const NODE_SKIP_REASON =
  process.getuid?.() === 0 ? undefined : "needs root (network namespaces for the pods)";

interface Container {
  readonly name: string;
  readonly image: string;
  readonly args?: readonly string[];
  readonly command?: readonly string[];
  readonly env?: readonly EnvVar[];
  readonly ports?: readonly { readonly containerPort: number; readonly protocol?: string }[];
  readonly volumeMounts?: readonly { readonly name: string; readonly mountPath: string }[];
}

interface Pod {
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly uid: string;
    readonly resourceVersion: string;
    readonly deletionTimestamp?: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
  };
  readonly spec: {
    readonly nodeName?: string;
    readonly schedulerName?: string;
    readonly serviceAccountName?: string;
    readonly restartPolicy?: string;
    readonly containers: readonly Container[];
    readonly volumes?: readonly {
      readonly name: string;
      readonly secret?: { readonly secretName: string } & VolumeKeys;
      readonly configMap?: { readonly name: string } & VolumeKeys;
    }[];
  };
  readonly status?: { readonly phase?: string };
}

/** The keys a Secret or ConfigMap volume projects, and whether the object may be missing. */
interface VolumeKeys {
  readonly items?: readonly { readonly key: string; readonly path: string }[];
  readonly optional?: boolean;
}

interface RunningContainer {
  readonly name: string;
  readonly image: string;
  child: ChildProcess | undefined;
  restarts: number;
  startedAt: string;
  ready: boolean;
  waiting?: { reason: string; message: string };
  readonly log: ContainerLog;
}

interface RunningPod {
  readonly key: string;
  readonly uid: string;
  pod: Pod;
  readonly net: PodInterface;
  readonly dir: string;
  readonly containers: RunningContainer[];
  readonly startTime: string;
  stopping: boolean;
  lastStatus: string;
}

export interface NodeStandInOptions {
  readonly name?: string;
  /** Folder for the pods' files and logs. */
  readonly dir: string;
  readonly echoBasic: string;
}

const podKey = (p: Pod) => `${p.metadata.namespace}/${p.metadata.name}`;

export class NodeStandIn {
  readonly name: string;
  readonly network = new PodNetwork();
  readonly #plane: ControlPlane;
  readonly #options: NodeStandInOptions;
  readonly #node: KubeClient;
  readonly #scheduler: KubeClient;
  readonly #pods = new Map<string, RunningPod>();
  readonly #abort = new AbortController();
  #watch: AbortController | undefined;
  #leaseTimer: NodeJS.Timeout | undefined;
  #resourceVersion = "";
  #logs: KubeletLogServer | undefined;
  readonly #work = new Set<Promise<unknown>>();
  /** Errors the stand-in met (bind or status failures), for test failure messages. */
  readonly errors: string[] = [];

  private constructor(plane: ControlPlane, options: NodeStandInOptions) {
    this.name = options.name ?? "strait-node";
    this.#plane = plane;
    this.#options = options;
    const client = (kubeconfig: string) => new Client(loadKubeConfig(kubeconfig).config);
    this.#node = client(plane.kubeconfigForUser(`system:node:${this.name}`, ["system:nodes"]));
    this.#scheduler = client(plane.kubeconfigForUser("system:kube-scheduler"));
  }

  static async start(plane: ControlPlane, options: NodeStandInOptions): Promise<NodeStandIn> {
    if (NODE_SKIP_REASON !== undefined) throw new Error(`node stand-in: ${NODE_SKIP_REASON}`);
    const node = new NodeStandIn(plane, options);
    try {
      const serving = servingCertificate(plane.pki, `kubelet-${node.name}`, `system:node:${node.name}`, [
        "IP:127.0.0.1",
      ]);
      node.#logs = await KubeletLogServer.start({
        caCert: plane.pki.caCert,
        ...serving,
        lookup: (ns, pod, container) => node.containerLog(ns, pod, container),
      });
      await node.#register();
      await node.#listAndWatch();
    } catch (error) {
      await node.stop();
      throw error;
    }
    return node;
  }

  /** The pod address the stand-in gave `namespace/name`, if it runs. */
  podIp(namespace: string, name: string): string | undefined {
    return this.#pods.get(`${namespace}/${name}`)?.net.ip;
  }

  /** A container's log, for the pod log endpoint. */
  containerLog(namespace: string, name: string, container: string): ContainerLog | undefined {
    return this.#pods.get(`${namespace}/${name}`)?.containers.find((c) => c.name === container)?.log;
  }

  get runningPods(): readonly string[] {
    return [...this.#pods.keys()];
  }

  async #must(what: string, res: Promise<{ ok: boolean; message?: string }>): Promise<void> {
    const r = await res;
    if (!r.ok) throw new Error(`${what}: ${(r as { message: string }).message}`);
  }

  async #register(): Promise<void> {
    const now = new Date().toISOString();
    await this.#must(
      "create Node",
      this.#node.request("POST", "/api/v1/nodes", {
        body: {
          apiVersion: "v1",
          kind: "Node",
          metadata: {
            name: this.name,
            labels: {
              "kubernetes.io/hostname": this.name,
              "kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64",
            },
          },
        },
      }),
    );
    await this.#must(
      "Node status",
      this.#node.request("PATCH", `/api/v1/nodes/${this.name}/status`, {
        contentType: "application/merge-patch+json",
        body: {
          status: {
            conditions: [
              {
                type: "Ready",
                status: "True",
                reason: "KubeletReady",
                message: "node stand-in ready",
                lastHeartbeatTime: now,
                lastTransitionTime: now,
              },
              ...["MemoryPressure", "DiskPressure", "PIDPressure"].map((type) => ({
                type,
                status: "False",
                reason: `KubeletHasNo${type}`,
                lastHeartbeatTime: now,
                lastTransitionTime: now,
              })),
            ],
            addresses: [
              { type: "InternalIP", address: "127.0.0.1" },
              { type: "Hostname", address: this.name },
            ],
            capacity: { cpu: "2", memory: "24Gi", pods: "250" },
            allocatable: { cpu: "2", memory: "24Gi", pods: "250" },
            daemonEndpoints: { kubeletEndpoint: { Port: this.#logs?.port ?? 10250 } },
            nodeInfo: {
              machineID: "",
              systemUUID: "",
              bootID: "",
              kernelVersion: "",
              osImage: "strait node stand-in",
              containerRuntimeVersion: "strait-stand-in://1",
              kubeletVersion: "v1.36.3",
              kubeProxyVersion: "",
              operatingSystem: "linux",
              architecture: "amd64",
            },
          },
        },
      }),
    );
    await this.#renewLease(true);
    this.#leaseTimer = setInterval(() => {
      this.#renewLease(false).catch((e: unknown) => this.errors.push(`lease: ${String(e)}`));
    }, 10_000);
  }

  async #renewLease(create: boolean): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.name}`;
    const spec = {
      holderIdentity: this.name,
      leaseDurationSeconds: 40,
      renewTime: new Date().toISOString().replace("Z", "000Z"),
    };
    if (create) {
      await this.#must(
        "create node Lease",
        this.#node.request("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
          body: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: this.name }, spec },
        }),
      );
      return;
    }
    await this.#must(
      "renew node Lease",
      this.#node.request("PATCH", path, { contentType: "application/merge-patch+json", body: { spec } }),
    );
  }

  async #listAndWatch(): Promise<void> {
    const list = await this.#scheduler.request("GET", "/api/v1/pods");
    if (!list.ok) throw new Error(`list pods: ${list.message}`);
    const body = list.body as { metadata: { resourceVersion: string }; items: Pod[] };
    for (const pod of body.items) this.#track(this.#handle(pod, false));
    this.#resourceVersion = body.metadata.resourceVersion;
    await this.#openWatch();
  }

  async #openWatch(): Promise<void> {
    if (this.#abort.signal.aborted) return;
    this.#watch = await this.#scheduler.watch(
      "/api/v1/pods",
      { resourceVersion: this.#resourceVersion, allowWatchBookmarks: true },
      (type, object) => {
        const pod = object as Pod;
        if (typeof pod?.metadata?.resourceVersion === "string")
          this.#resourceVersion = pod.metadata.resourceVersion;
        if (type === "BOOKMARK" || type === "ERROR") return;
        this.#track(this.#handle(pod, type === "DELETED"));
      },
      (error) => {
        if (this.#abort.signal.aborted) return;
        const expired = String(error ?? "").includes("410");
        setTimeout(() => {
          (expired ? this.#listAndWatch() : this.#openWatch()).catch((e: unknown) =>
            this.errors.push(`watch: ${String(e)}`),
          );
        }, 200);
      },
      300_000,
    );
  }

  #track(work: Promise<unknown>): void {
    const p = work.catch((e: unknown) => this.errors.push(String(e))).finally(() => this.#work.delete(p));
    this.#work.add(p);
  }

  async #handle(pod: Pod, deleted: boolean): Promise<void> {
    const key = podKey(pod);
    const running = this.#pods.get(key);
    if (deleted || pod.metadata.deletionTimestamp !== undefined) {
      if (running !== undefined && running.uid === pod.metadata.uid) await this.#stopPod(running, !deleted);
      else if (!deleted && pod.spec.nodeName === this.name) await this.#finishDelete(pod);
      return;
    }
    if (running !== undefined && running.uid !== pod.metadata.uid) await this.#stopPod(running, false);
    if (pod.spec.nodeName === undefined || pod.spec.nodeName === "") {
      if ((pod.spec.schedulerName ?? "default-scheduler") === "default-scheduler") await this.#bind(pod);
      return;
    }
    if (pod.spec.nodeName !== this.name) return;
    const current = this.#pods.get(key);
    if (current === undefined) {
      if (pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed") return;
      this.#startPod(pod);
    } else current.pod = pod;
  }

  async #bind(pod: Pod): Promise<void> {
    const res = await this.#scheduler.request(
      "POST",
      `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/binding`,
      {
        body: {
          apiVersion: "v1",
          kind: "Binding",
          metadata: { name: pod.metadata.name, uid: pod.metadata.uid },
          target: { apiVersion: "v1", kind: "Node", name: this.name },
        },
      },
    );
    // A conflict means it is bound already (an event for the bound pod follows).
    if (!res.ok && res.status !== 409 && res.status !== 404)
      this.errors.push(`bind ${podKey(pod)}: ${res.message}`);
  }

  /** Reads a key of a Secret or ConfigMap in the pod's namespace (for env and volumes). */
  async #objectData(
    namespace: string,
    kind: "Secret" | "ConfigMap",
    name: string,
  ): Promise<Record<string, string> | undefined> {
    const path = `/api/v1/namespaces/${namespace}/${kind === "Secret" ? "secrets" : "configmaps"}/${name}`;
    const res = await this.#node.request("GET", path);
    if (!res.ok) return undefined;
    const obj = res.body as { data?: Record<string, string> };
    if (kind === "ConfigMap") return obj.data ?? {};
    return Object.fromEntries(
      Object.entries(obj.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
    );
  }

  #startPod(pod: Pod): void {
    const key = podKey(pod);
    const dir = join(
      this.#options.dir,
      `${pod.metadata.namespace}_${pod.metadata.name}_${pod.metadata.uid.slice(0, 8)}`,
    );
    mkdirSync(dir, { recursive: true });
    const net = this.network.add(key);
    const running: RunningPod = {
      key,
      uid: pod.metadata.uid,
      pod,
      net,
      dir,
      containers: pod.spec.containers.map((c) => ({
        name: c.name,
        image: c.image,
        child: undefined,
        restarts: 0,
        startedAt: new Date().toISOString(),
        ready: false,
        log: new ContainerLog(join(dir, `${c.name}.log`)),
      })),
      startTime: new Date().toISOString(),
      stopping: false,
      lastStatus: "",
    };
    this.#pods.set(key, running);
    this.#track(this.#runPod(running));
  }

  async #runPod(running: RunningPod): Promise<void> {
    const { pod } = running;
    const ns = pod.metadata.namespace;
    // Volumes: Secrets and ConfigMaps as files (a folder per volume). As the kubelet
    // does, the containers wait (ContainerCreating) until a volume's object exists,
    // unless the volume is optional: the suite creates some Secrets after the pods.
    await this.#reportStatus(running);
    const volumes = new Map<string, string>();
    for (const v of pod.spec.volumes ?? []) {
      const source =
        v.secret !== undefined
          ? { kind: "Secret" as const, name: v.secret.secretName, keys: v.secret }
          : v.configMap !== undefined
            ? { kind: "ConfigMap" as const, name: v.configMap.name, keys: v.configMap }
            : undefined;
      if (source === undefined) continue;
      let data = await this.#objectData(ns, source.kind, source.name);
      while (data === undefined && source.keys.optional !== true) {
        if (running.stopping || this.#abort.signal.aborted) return;
        await new Promise((r) => setTimeout(r, 500));
        data = await this.#objectData(ns, source.kind, source.name);
      }
      const dir = join(running.dir, "volumes", v.name);
      mkdirSync(dir, { recursive: true });
      for (const [file, content] of volumeFiles(data ?? {}, source.keys.items)) {
        mkdirSync(dirname(join(dir, file)), { recursive: true });
        writeFileSync(join(dir, file), content);
      }
      volumes.set(v.name, dir);
    }
    const lookups = new Map<string, Record<string, string> | undefined>();
    for (const c of pod.spec.containers) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
        if (ref === undefined) continue;
        const kind = e.valueFrom?.secretKeyRef !== undefined ? "Secret" : "ConfigMap";
        lookups.set(`${kind}/${ref.name}`, await this.#objectData(ns, kind, ref.name));
      }
    }
    const facts: PodFacts = {
      metadata: pod.metadata,
      spec: pod.spec,
      podIP: running.net.ip,
      hostIP: "127.0.0.1",
    };
    for (const [i, c] of pod.spec.containers.entries()) {
      const state = running.containers[i];
      if (state === undefined) continue;
      const env = containerEnv(facts, c.env ?? [], (kind, name, k) => lookups.get(`${kind}/${name}`)?.[k]);
      const runtime = runtimeFor(c.image, { echoBasic: this.#options.echoBasic });
      if (!env.ok) state.waiting = { reason: "CreateContainerConfigError", message: env.error };
      else if (runtime === undefined)
        state.waiting = {
          reason: "ErrImageNeverPull",
          message: `the node stand-in runs no program for image ${c.image}`,
        };
      else {
        const mounted = remapMounts(env.env, c.volumeMounts ?? [], volumes);
        this.#spawn(running, state, runtime, c, mounted, volumes);
      }
    }
    await this.#reportStatus(running);
    await this.#waitReady(running);
  }

  #spawn(
    running: RunningPod,
    state: RunningContainer,
    runtime: PodRuntime,
    c: Container,
    env: Map<string, string>,
    volumes: ReadonlyMap<string, string>,
  ): void {
    const argv = runtime.argv(c, (path) => remapPath(path, c.volumeMounts ?? [], volumes));
    const child = spawn("ip", ["netns", "exec", running.net.netns, ...argv], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOSTNAME: running.pod.metadata.name,
        ...Object.fromEntries(env),
      },
      stdio: ["ignore", "pipe", "pipe"],
      cwd: running.dir,
    });
    state.child = child;
    state.startedAt = new Date().toISOString();
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (l) =>
      state.log.append("stdout", l),
    );
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (l) =>
      state.log.append("stderr", l),
    );
    child.on("exit", (code, signal) => {
      state.child = undefined;
      state.ready = false;
      if (running.stopping || this.#abort.signal.aborted) return;
      state.log.append("stderr", `[node stand-in] container exited (code ${code}, signal ${signal})`);
      if (running.pod.spec.restartPolicy === "Never") {
        state.waiting = { reason: "Error", message: `exited with code ${code}` };
        this.#track(this.#reportStatus(running));
        return;
      }
      state.restarts++;
      setTimeout(
        () => {
          if (running.stopping || this.#abort.signal.aborted) return;
          this.#spawn(running, state, runtime, c, env, volumes);
          this.#track(this.#reportStatus(running).then(() => this.#waitReady(running)));
        },
        Math.min(1000 * 2 ** state.restarts, 10_000),
      );
      this.#track(this.#reportStatus(running));
    });
  }

  /** Ready once every declared TCP port of a running container accepts a connection. */
  async #waitReady(running: RunningPod): Promise<void> {
    for (const [i, c] of running.pod.spec.containers.entries()) {
      const state = running.containers[i];
      if (state?.child === undefined) continue;
      const ports = (c.ports ?? [])
        .filter((p) => (p.protocol ?? "TCP") === "TCP")
        .map((p) => p.containerPort);
      const deadline = Date.now() + 30_000;
      for (const port of ports) {
        while (!(await canConnect(running.net.ip, port))) {
          if (running.stopping || state.child === undefined || Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      if (state.child !== undefined) state.ready = true;
    }
    await this.#reportStatus(running);
  }

  async #reportStatus(running: RunningPod): Promise<void> {
    if (running.stopping) return;
    const allReady = running.containers.every((c) => c.ready);
    const now = new Date().toISOString();
    const cond = (type: string, ok: boolean) => ({
      type,
      status: ok ? "True" : "False",
      lastTransitionTime: now,
      lastProbeTime: null,
    });
    const status = {
      phase: running.containers.some((c) => c.child !== undefined) || allReady ? "Running" : "Pending",
      hostIP: "127.0.0.1",
      hostIPs: [{ ip: "127.0.0.1" }],
      podIP: running.net.ip,
      podIPs: [{ ip: running.net.ip }],
      startTime: running.startTime,
      conditions: [
        cond("PodReadyToStartContainers", true),
        cond("Initialized", true),
        cond("Ready", allReady),
        cond("ContainersReady", allReady),
        cond("PodScheduled", true),
      ],
      containerStatuses: running.containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: "",
        containerID: `stand-in://${running.net.netns}/${c.name}`,
        ready: c.ready,
        started: c.child !== undefined,
        restartCount: c.restarts,
        state:
          c.child !== undefined
            ? { running: { startedAt: c.startedAt } }
            : { waiting: c.waiting ?? { reason: "ContainerCreating", message: "" } },
      })),
    };
    // Only the parts that change: a status equal to the last one reported is not sent again.
    const fingerprint = JSON.stringify({
      ...status,
      conditions: status.conditions.map((c) => [c.type, c.status]),
    });
    if (fingerprint === running.lastStatus) return;
    const res = await this.#node.request(
      "PATCH",
      `/api/v1/namespaces/${running.pod.metadata.namespace}/pods/${running.pod.metadata.name}/status`,
      { contentType: "application/merge-patch+json", body: { metadata: { uid: running.uid }, status } },
    );
    if (res.ok) running.lastStatus = fingerprint;
    else if (res.status !== 404 && res.status !== 409)
      this.errors.push(`status of ${running.key}: ${res.message}`);
  }

  async #stopPod(running: RunningPod, finishDelete: boolean): Promise<void> {
    if (running.stopping) return;
    running.stopping = true;
    await Promise.all(running.containers.map((c) => stopProcess(c.child, 5_000)));
    for (const c of running.containers) c.log.close();
    this.network.remove(running.key);
    this.#pods.delete(running.key);
    rmSync(running.dir, { recursive: true, force: true });
    if (finishDelete) await this.#finishDelete(running.pod);
  }

  /** The kubelet's last step of a graceful deletion: delete with grace 0 once the containers stopped. */
  async #finishDelete(pod: Pod): Promise<void> {
    const res = await this.#node.request(
      "DELETE",
      `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`,
      {
        body: {
          apiVersion: "v1",
          kind: "DeleteOptions",
          gracePeriodSeconds: 0,
          preconditions: { uid: pod.metadata.uid },
        },
      },
    );
    if (!res.ok && res.status !== 404 && res.status !== 409)
      this.errors.push(`delete ${podKey(pod)}: ${res.message}`);
  }

  /** Stops every pod, removes the network and the Node. */
  async stop(): Promise<void> {
    this.#abort.abort();
    this.#watch?.abort();
    clearInterval(this.#leaseTimer);
    await Promise.allSettled([...this.#work]);
    await Promise.all([...this.#pods.values()].map((p) => this.#stopPod(p, false)));
    this.network.close();
    await this.#logs?.stop();
    await this.#node.request("DELETE", `/api/v1/nodes/${this.name}`).catch(() => undefined);
    void this.#plane;
  }
}

/** The files of a Secret or ConfigMap volume: every key, or only the `items` at their paths. */
function volumeFiles(
  data: Readonly<Record<string, string>>,
  items: VolumeKeys["items"],
): [path: string, content: string][] {
  if (items === undefined) return Object.entries(data);
  return items.flatMap((item) => {
    const content = data[item.key];
    return content === undefined ? [] : [[item.path, content] as [string, string]];
  });
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 500 });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function stopProcess(child: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

type Mounts = readonly { readonly name: string; readonly mountPath: string }[];

/** A path inside a volume's mountPath, pointed at the folder the volume was written to. */
function remapPath(path: string, mounts: Mounts, volumes: ReadonlyMap<string, string>): string {
  for (const m of mounts) {
    const dir = volumes.get(m.name);
    const base = m.mountPath.replace(/\/$/, "");
    if (dir !== undefined && (path === base || path.startsWith(`${base}/`)))
      return dir + path.slice(base.length);
  }
  return path;
}

function remapMounts(
  env: Map<string, string>,
  mounts: Mounts,
  volumes: ReadonlyMap<string, string>,
): Map<string, string> {
  return new Map([...env].map(([k, v]) => [k, remapPath(v, mounts, volumes)]));
}
