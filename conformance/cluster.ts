/**
 * The conformance runner's stand-in for a cluster: it applies manifests to a
 * ResourceStore the way the API server and the built-in controllers would.
 *
 * - API server: `metadata.generation` starts at 1 and grows when anything but
 *   metadata or status changes; `uid`, `resourceVersion` and
 *   `creationTimestamp` are set; status is kept across updates (it belongs to
 *   the controller).
 * - Deployment controller: each Deployment gets `replicas` Pods named
 *   `<deployment>-<hash>-<i>` with addresses from 10.244.0.0/16.
 * - EndpointSlice controller: each Service with a selector gets an
 *   EndpointSlice of the selected Pods, with the Service ports' target ports
 *   (named target ports resolved through the containers' ports).
 * - Service IP allocation: a Service without `spec.clusterIP` gets one from
 *   10.96.0.0/16 (service-addresses.ts), kept across updates; `None`
 *   (headless) and addresses a manifest gives are kept as they are.
 * - Mesh client Pods (`addMeshClient`): the Pods the MESH tests send from,
 *   stored as Pod objects so the controller sees their addresses (consumer
 *   routes match on them); they back no Service.
 */
import { createHash } from "node:crypto";
import { type KindName, kindInfo } from "../src/resources/kinds.ts";
import type { AnyStoredObject, ObjectOf } from "../src/resources/objects.ts";
import type { IgnoredObject, LoadedObject } from "../src/sources/manifests.ts";
import { ResourceStore } from "../src/sources/store.ts";
import { ClusterIpAllocator } from "./service-addresses.ts";

export interface Pod {
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Container ports by name, for named targetPorts. */
  readonly namedPorts: ReadonlyMap<string, number>;
  /**
   * `namespace/secret` whose certificate the echo server serves TLS with, when
   * the Deployment mounts one for TLS_SERVER_CERT (the suite's TLS backends).
   */
  readonly tlsSecret?: string;
  /** `namespace/configmap` of the CAs the echo server requires client certificates from (TLS_CLIENT_CACERTS). */
  readonly clientCa?: string;
  /** The echo server runs in TCP echo mode (TCP_ECHO_SERVER): plain text on 3000, TLS on 8443. */
  readonly tcpEcho?: boolean;
  /** The echo server serves the gRPC echo service (GRPC_ECHO_SERVER), over HTTP/2. */
  readonly grpcEcho?: boolean;
  /**
   * Ports the mesh echo server (echo-advanced, the Istio echo app) serves gRPC
   * on (its `--grpc=N` arguments): the Istio echo service, over HTTP/2.
   */
  readonly grpcPorts?: readonly number[];
}

interface DeploymentLike {
  metadata: { name: string; namespace?: string };
  spec?: {
    replicas?: number;
    template?: {
      metadata?: { labels?: Record<string, string> };
      spec?: {
        containers?: {
          ports?: { name?: string; containerPort: number }[];
          env?: { name: string; value?: string }[];
          args?: string[];
        }[];
        volumes?: { name: string; secret?: { secretName?: string }; configMap?: { name?: string } }[];
      };
    };
  };
}

/**
 * The mesh client Pods' addresses: a /24 of the Pod network the echo Pods
 * (allocated from 10.244.0.1 up) never reach, so the Envoy engine can route
 * it to the client Pods' network namespaces while the echo Pods stay local.
 */
export const MESH_CLIENT_PREFIX = "10.244.255";

function serviceSpec(object: AnyStoredObject): { clusterIP?: string; type?: string } {
  return ((object as { spec?: unknown }).spec ?? {}) as { clusterIP?: string; type?: string };
}

function stableSuffix(text: string, length: number): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

function withoutMetaAndStatus(obj: Record<string, unknown>): string {
  const { metadata: _m, status: _s, ...rest } = obj;
  return JSON.stringify(rest);
}

export class ConformanceCluster {
  readonly store = new ResourceStore();
  readonly #pods = new Map<string, Pod>(); // by namespace/name
  readonly #podsByIp = new Map<string, Pod>();
  readonly #deployments = new Map<string, DeploymentLike>();
  #resourceVersion = 1;
  #clockMs: number;
  #nextPodIp = 1;
  readonly #clusterIps = new ClusterIpAllocator();
  readonly #meshClients = new Map<string, Pod>(); // by namespace

  constructor(start: Date) {
    this.#clockMs = start.getTime();
  }

  /** The cluster's clock: advances one second per write, so creation order is total. */
  now(): Date {
    return new Date(this.#clockMs);
  }

  podByIp(ip: string): Pod | undefined {
    return this.#podsByIp.get(ip);
  }

  pods(): readonly Pod[] {
    return [...this.#pods.values()];
  }

  /** Creates or updates objects; Deployments and Services update Pods and EndpointSlices. */
  apply(objects: readonly LoadedObject[], others: readonly IgnoredObject[] = []): void {
    for (const dep of others) {
      if (dep.kind !== "Deployment") continue;
      const d = dep.object as unknown as DeploymentLike;
      this.#deployments.set(`${d.metadata.namespace ?? "default"}/${d.metadata.name}`, d);
      this.#syncPods(d);
    }
    for (const loaded of objects) this.put(loaded.kind, loaded.object);
    this.#syncEndpointSlices();
  }

  /** Creates or updates one object as the API server would. */
  put(kind: KindName, given: AnyStoredObject): AnyStoredObject {
    const ns = kindInfo(kind).namespaced ? (given.metadata.namespace ?? "default") : "";
    const previous = this.store.get(kind, ns, given.metadata.name) as AnyStoredObject | undefined;
    const object = kind === "Service" ? this.#withClusterIp(ns, given, previous) : given;
    this.#clockMs += 1000;
    const specChanged =
      previous === undefined ||
      withoutMetaAndStatus(previous as unknown as Record<string, unknown>) !==
        withoutMetaAndStatus(object as unknown as Record<string, unknown>);
    const generation = (previous?.metadata.generation ?? 0) + (specChanged ? 1 : 0);
    const stored = {
      ...object,
      metadata: {
        ...object.metadata,
        ...(ns === "" ? {} : { namespace: ns }),
        uid: previous?.metadata.uid ?? stableSuffix(`${kind}/${ns}/${object.metadata.name}`, 32),
        creationTimestamp: previous?.metadata.creationTimestamp ?? new Date(this.#clockMs).toISOString(),
        generation,
        resourceVersion: String(this.#resourceVersion++),
      },
      ...(previous !== undefined && "status" in previous && previous.status !== undefined
        ? { status: previous.status }
        : {}),
    } as AnyStoredObject;
    this.store.upsert(kind, stored);
    return stored;
  }

  /**
   * The API server's ClusterIP allocation: `spec.clusterIP` is immutable once
   * set, so an update keeps the address; ExternalName Services get none.
   */
  #withClusterIp(
    namespace: string,
    object: AnyStoredObject,
    previous: AnyStoredObject | undefined,
  ): AnyStoredObject {
    const spec = serviceSpec(object);
    if (spec.type === "ExternalName") return object;
    const kept = previous === undefined ? undefined : serviceSpec(previous).clusterIP;
    const given = spec.clusterIP;
    if (given !== undefined && given !== "") {
      if (given !== "None") this.#clusterIps.reserve(given, namespace, object.metadata.name);
      return object;
    }
    const clusterIP = kept ?? this.#clusterIps.allocate(namespace, object.metadata.name);
    return { ...object, spec: { ...spec, clusterIP, clusterIPs: [clusterIP] } } as AnyStoredObject;
  }

  /** The client Pod of `namespace` the MESH tests send from, created (and stored) on first use. */
  addMeshClient(namespace: string): Pod {
    const existing = this.#meshClients.get(namespace);
    if (existing !== undefined) return existing;
    const index = this.#meshClients.size;
    if (index >= 250) throw new Error("too many mesh client Pods");
    const pod: Pod = {
      namespace,
      name: `mesh-client-${stableSuffix(namespace, 5)}`,
      ip: `${MESH_CLIENT_PREFIX}.${index + 1}`,
      labels: { app: "mesh-client" },
      namedPorts: new Map(),
    };
    this.#meshClients.set(namespace, pod);
    this.put("Pod", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: pod.name, namespace, labels: { ...pod.labels } },
      spec: { containers: [{ name: "client", image: "strait-conformance/mesh-client" }] },
      // A new object keeps the status it is created with (the kubelet's, here).
      status: {
        phase: "Running",
        podIP: pod.ip,
        podIPs: [{ ip: pod.ip }],
        conditions: [{ type: "Ready", status: "True" }],
      },
    } as AnyStoredObject);
    return pod;
  }

  meshClients(): readonly Pod[] {
    return [...this.#meshClients.values()];
  }

  /** Writes an object's status (the `/status` subresource): spec and generation unchanged. */
  putStatus(
    kind: KindName,
    namespace: string,
    name: string,
    status: Readonly<Record<string, unknown>>,
  ): void {
    const current = this.store.get(kind, namespace, name);
    if (current === undefined) return;
    this.store.upsert(kind, {
      ...current,
      metadata: { ...current.metadata, resourceVersion: String(this.#resourceVersion++) },
      status,
    } as AnyStoredObject);
  }

  delete(objects: readonly LoadedObject[], others: readonly IgnoredObject[] = []): void {
    for (const loaded of objects) {
      const ns = loaded.object.metadata.namespace ?? "";
      const current =
        loaded.kind === "Service" ? this.store.get("Service", ns, loaded.object.metadata.name) : undefined;
      const clusterIP = current?.spec?.clusterIP;
      if (clusterIP !== undefined && clusterIP !== "None") this.#clusterIps.release(clusterIP);
      this.store.delete(loaded.kind, ns, loaded.object.metadata.name);
    }
    for (const other of others) {
      if (other.kind !== "Deployment") continue;
      const d = other.object as unknown as DeploymentLike;
      const key = `${d.metadata.namespace ?? "default"}/${d.metadata.name}`;
      this.#deployments.delete(key);
      for (const pod of [...this.#pods.values()]) {
        if (
          pod.namespace === (d.metadata.namespace ?? "default") &&
          pod.name.startsWith(`${d.metadata.name}-`)
        ) {
          this.#pods.delete(`${pod.namespace}/${pod.name}`);
          this.#podsByIp.delete(pod.ip);
        }
      }
    }
    this.#syncEndpointSlices();
  }

  #syncPods(d: DeploymentLike): void {
    const ns = d.metadata.namespace ?? "default";
    const replicas = d.spec?.replicas ?? 1;
    const labels = d.spec?.template?.metadata?.labels ?? {};
    const namedPorts = new Map<string, number>();
    for (const c of d.spec?.template?.spec?.containers ?? []) {
      for (const p of c.ports ?? []) if (p.name !== undefined) namedPorts.set(p.name, p.containerPort);
    }
    const podSpec = d.spec?.template?.spec;
    const servesTls = (podSpec?.containers ?? []).some((c) =>
      (c.env ?? []).some((e) => e.name === "TLS_SERVER_CERT"),
    );
    const secretName = podSpec?.volumes?.find((v) => v.secret?.secretName !== undefined)?.secret?.secretName;
    const tlsSecret = servesTls && secretName !== undefined ? `${ns}/${secretName}` : undefined;
    const wantsClientCert = (podSpec?.containers ?? []).some((c) =>
      (c.env ?? []).some((e) => e.name === "TLS_CLIENT_CACERTS"),
    );
    const caMap = podSpec?.volumes?.find((v) => v.configMap?.name !== undefined)?.configMap?.name;
    const clientCa = wantsClientCert && caMap !== undefined ? `${ns}/${caMap}` : undefined;
    const tcpEcho = (podSpec?.containers ?? []).some((c) =>
      (c.env ?? []).some((e) => e.name === "TCP_ECHO_SERVER"),
    );
    const grpcEcho = (podSpec?.containers ?? []).some((c) =>
      (c.env ?? []).some((e) => e.name === "GRPC_ECHO_SERVER"),
    );
    const grpcPorts = (podSpec?.containers ?? []).flatMap((c) =>
      (c.args ?? []).flatMap((a) => {
        const m = /^--grpc=(\d+)$/.exec(a);
        return m === null ? [] : [Number(m[1])];
      }),
    );
    const hash = stableSuffix(`${ns}/${d.metadata.name}`, 10);
    for (let i = 0; i < replicas; i++) {
      const name = `${d.metadata.name}-${hash}-${stableSuffix(`${hash}/${i}`, 5)}`;
      const key = `${ns}/${name}`;
      const existing = this.#pods.get(key);
      const ip = existing?.ip ?? this.#allocateIp();
      const pod: Pod = {
        namespace: ns,
        name,
        ip,
        labels,
        namedPorts,
        ...(tlsSecret === undefined ? {} : { tlsSecret }),
        ...(clientCa === undefined ? {} : { clientCa }),
        ...(tcpEcho ? { tcpEcho } : {}),
        ...(grpcEcho ? { grpcEcho } : {}),
        ...(grpcPorts.length === 0 ? {} : { grpcPorts }),
      };
      this.#pods.set(key, pod);
      this.#podsByIp.set(ip, pod);
    }
  }

  #allocateIp(): string {
    const n = this.#nextPodIp++;
    return `10.244.${Math.floor(n / 250)}.${(n % 250) + 1}`;
  }

  /** The EndpointSlice controller: one slice per selector Service, named `<service>-conformance`. */
  #syncEndpointSlices(): void {
    for (const slice of this.store.list("EndpointSlice")) {
      const service = slice.metadata.labels?.["kubernetes.io/service-name"];
      const ns = slice.metadata.namespace ?? "";
      if (
        slice.metadata.name.endsWith("-conformance") &&
        this.store.get("Service", ns, service ?? "") === undefined
      ) {
        this.store.delete("EndpointSlice", ns, slice.metadata.name);
      }
    }
    for (const svc of this.store.list("Service")) {
      const selector = svc.spec?.selector;
      const ns = svc.metadata.namespace ?? "default";
      const sliceName = `${svc.metadata.name}-conformance`;
      if (selector === undefined || Object.keys(selector).length === 0) continue;
      const pods = this.pods().filter(
        (p) => p.namespace === ns && Object.entries(selector).every(([k, v]) => p.labels[k] === v),
      );
      const ports = (svc.spec?.ports ?? []).map((p) => {
        const target = p.targetPort ?? p.port;
        return {
          ...(p.name === undefined ? {} : { name: p.name }),
          port: typeof target === "number" ? target : (pods[0]?.namedPorts.get(target) ?? p.port),
          protocol: p.protocol ?? "TCP",
          ...(p.appProtocol === undefined ? {} : { appProtocol: p.appProtocol }),
        };
      });
      const slice: ObjectOf<"EndpointSlice"> = {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          name: sliceName,
          namespace: ns,
          labels: { "kubernetes.io/service-name": svc.metadata.name },
        },
        addressType: "IPv4",
        ports,
        endpoints: pods.map((p) => ({
          addresses: [p.ip],
          conditions: { ready: true, serving: true, terminating: false },
          targetRef: { kind: "Pod", namespace: p.namespace, name: p.name },
        })),
      };
      const current = this.store.get("EndpointSlice", ns, sliceName);
      if (
        current === undefined ||
        JSON.stringify(current.endpoints) !== JSON.stringify(slice.endpoints) ||
        JSON.stringify(current.ports) !== JSON.stringify(slice.ports)
      ) {
        this.put("EndpointSlice", slice as AnyStoredObject);
      }
    }
  }
}
