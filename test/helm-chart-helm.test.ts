/**
 * charts/strait through the real helm (built from helm.sh/helm/v3 by
 * scripts/build-fixtures.sh): `helm lint --strict` passes and `helm template`
 * renders every object the chart is meant to install. The API server's
 * verdict on the rendered objects is in run-cluster-real.e2e.test.ts.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { AGENT_SETTINGS } from "../src/agent/settings.ts";
import { parseIssuerRef } from "../src/auth/agent-auth.ts";
import { CertificateAuthority } from "../src/auth/builtin-ca/authority.ts";
import { xdsClientId } from "../src/auth/builtin-ca/names.ts";
import { parseCertificate } from "../src/auth/certificate.ts";
import { generateKeyPair, publicKeyPem } from "../src/auth/issue.ts";
import { parseTrustDomain } from "../src/auth/spiffe-id.ts";
import {
  controllerEncryption,
  durationSetting,
  RUN_SETTINGS,
  resolveSettings,
  type SettingSpec,
  stringSetting,
} from "../src/controller/config.ts";
import { parseHostPort } from "../src/controller/ops-server.ts";
import { xdsListenConfig } from "../src/controller/xds-serving.ts";
import { sdsFileConfig, XDS_CLIENT_SECRET, XDS_CLIENT_SECRET_FILE } from "../src/envoy/bootstrap.ts";
import { envoySdsSocket } from "../src/model/encryption.ts";
import { TYPE_URLS, validateResource } from "../src/xds/proto/index.ts";
import { AUTH_NODE, AUTH_PROVIDER_VALUES, authProviderSets } from "./support/chart-auth-values.ts";
import { type Manifest, parseManifests } from "./support/control-plane/apply.ts";
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

interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { readonly fieldRef?: { readonly fieldPath: string } };
}
interface Mount {
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly?: boolean;
}
interface Container {
  readonly name: string;
  readonly env?: EnvVar[];
  readonly volumeMounts?: Mount[];
  readonly ports?: { name: string; containerPort: number; hostPort?: number }[];
  readonly command?: string[];
}
interface Volume {
  readonly name: string;
  readonly secret?: { secretName: string; items?: { key: string; path: string }[] };
  readonly configMap?: { name: string; items?: { key: string; path: string }[] };
  readonly hostPath?: { path: string };
  readonly emptyDir?: { medium?: string };
}
interface PodSpec {
  readonly containers: Container[];
  readonly volumes?: Volume[];
  readonly automountServiceAccountToken?: boolean;
}

const NODE = AUTH_NODE;
const PROVIDERS = AUTH_PROVIDER_VALUES;

function render(provider: string): Manifest[] {
  return parseManifests(
    helm(["template", "strait", CHART, "--namespace", "strait-system", ...authProviderSets(provider)]),
  );
}

function pod(objects: readonly Manifest[], kind: string, name: string): PodSpec {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name) as
    | (Manifest & { spec: { template: { spec: PodSpec } } })
    | undefined;
  if (o === undefined) throw new Error(`no ${kind}/${name}`);
  return o.spec.template.spec;
}

/** The container's environment as the kubelet gives it: fieldRefs filled, $(VAR) references expanded. */
/** Variables for the process's runtime, not strait settings: glibc's allocator tuning (bin/strait sets the same). */
const RUNTIME_ENV = ["GLIBC_TUNABLES"];

function environment(c: Container): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of c.env ?? []) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    const value =
      field === "spec.nodeName"
        ? NODE
        : field === "metadata.namespace"
          ? "strait-system"
          : field === "metadata.name"
            ? "strait-controller-0"
            : (e.value ?? "");
    out[e.name] = value.replace(/\$\((\w+)\)/g, (_m, v: string) => out[v] ?? `$(${v})`);
  }
  return out;
}

/**
 * Every environment variable names a setting of `specs` (or is one of the
 * runtime's, RUNTIME_ENV), and the settings parser takes them all.
 */
function settingsOf(specs: readonly SettingSpec[], env: Record<string, string>) {
  const known = new Set([...specs.map((s) => s.env), ...RUNTIME_ENV]);
  for (const name of Object.keys(env)) expect(known, name).toContain(name);
  const settings = resolveSettings(specs, {}, env, undefined);
  for (const spec of specs) {
    const given = env[spec.env];
    if (given !== undefined && given !== "") expect(settings[spec.key], spec.env).toBeDefined();
  }
  return settings;
}

/** The volume a file path of the container lies in (through one of its mounts), and the file's name in it. */
function fileSource(spec: PodSpec, c: Container, file: string): { volume: Volume; path: string } {
  const mount = (c.volumeMounts ?? []).find((m) => file.startsWith(`${m.mountPath}/`));
  if (mount === undefined) throw new Error(`${file} is on no mount of ${c.name}`);
  const volume = (spec.volumes ?? []).find((v) => v.name === mount.name);
  if (volume === undefined) throw new Error(`no volume ${mount.name}`);
  expect(mount.readOnly, mount.name).toBe(true);
  return { volume, path: file.slice(mount.mountPath.length + 1) };
}

function container(spec: PodSpec, name: string): Container {
  const c = spec.containers.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no container ${name}`);
  return c;
}

describe("charts/strait auth.provider", () => {
  for (const provider of Object.keys(PROVIDERS)) {
    it(`${provider}: passes helm lint --strict, and every controller and agent variable is a setting the parsers accept`, () => {
      expect(helm(["lint", "--strict", CHART, ...authProviderSets(provider)])).toContain("0 chart(s) failed");
      const objects = render(provider);
      const controllerEnv = environment(
        container(pod(objects, "Deployment", "strait-controller"), "controller"),
      );
      const run = settingsOf(RUN_SETTINGS, controllerEnv);
      const agentEnv = environment(container(pod(objects, "DaemonSet", "strait-agent"), "agent"));
      const agent = settingsOf(AGENT_SETTINGS, agentEnv);
      expect(stringSetting(agent, "authProvider")).toBe(provider);
      for (const s of [run, agent])
        expect(parseTrustDomain(stringSetting(s, "trustDomain") ?? "").ok).toBe(true);
      expect(() => parseHostPort(stringSetting(agent, "authAddress") ?? "", "--auth-address")).not.toThrow();
      if (provider === "builtin-ca") {
        expect(() =>
          parseHostPort(stringSetting(run, "builtinCaAddress") ?? "", "--builtin-ca-address"),
        ).not.toThrow();
        expect(durationSetting(run, "svidTtl", "svid-ttl", "1h")).toBe(3_600_000);
        expect(new URL(stringSetting(agent, "builtinCaUrl") ?? "").protocol).toBe("https:");
      }
      if (provider === "cert-manager") {
        expect(parseIssuerRef(stringSetting(agent, "certManagerIssuer") ?? "")).toMatchObject({
          kind: "ClusterIssuer",
          name: "strait-ca",
        });
      }
      if (provider === "spire") {
        expect(run.spireDelegateSelectors).toEqual(["k8s:ns:strait-system", "k8s:sa:strait-agent"]);
      }
    });
  }

  it("none (the default): no auth objects, no handshake port, and the agent has no API token", () => {
    const defaults = parseManifests(helm(["template", "strait", CHART, "--namespace", "strait-system"]));
    expect(defaults.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      render("none")
        .map((o) => `${o.kind}/${o.metadata.name}`)
        .sort(),
    );
    const spec = pod(defaults, "DaemonSet", "strait-agent");
    expect(environment(container(spec, "agent")).STRAIT_AUTH_PROVIDER).toBe("none");
    expect(container(spec, "agent").ports).toBeUndefined();
    expect(spec.automountServiceAccountToken).toBeUndefined();
    expect(defaults.some((o) => o.kind === "Secret")).toBe(false);
  });

  it("builtin-ca: the controller reads the root and the node tokens from Secrets, the agent gets only the root's certificate and its own node's token, and the issuer is on the Service", () => {
    const objects = render("builtin-ca");
    const cspec = pod(objects, "Deployment", "strait-controller");
    const controller = container(cspec, "controller");
    const env = environment(controller);
    const dir = env.STRAIT_BUILTIN_CA_DIR ?? "";
    const root = fileSource(cspec, controller, `${dir}/tls.crt`);
    expect(root.volume.secret?.secretName).toBe("strait-ca");
    expect(root.volume.secret?.items?.map((i) => i.key).sort()).toEqual(["tls.crt", "tls.key"]);
    const tokens = fileSource(cspec, controller, env.STRAIT_BUILTIN_CA_NODE_TOKENS ?? "");
    const tokensSecret = objects.find(
      (o) => o.kind === "Secret" && o.metadata.name === tokens.volume.secret?.secretName,
    ) as (Manifest & { stringData: Record<string, string> }) | undefined;
    expect(tokensSecret?.metadata.namespace).toBe("strait-system");
    expect(parseManifests(`kind: X\n${tokensSecret?.stringData[tokens.path] ?? ""}`)[0]).toMatchObject({
      [NODE]: "0123456789abcdef0123",
      "node-b": "fedcba9876543210fedc",
    });

    const aspec = pod(objects, "DaemonSet", "strait-agent");
    const agent = container(aspec, "agent");
    const aenv = environment(agent);
    const ca = fileSource(aspec, agent, aenv.STRAIT_BUILTIN_CA_ROOT ?? "");
    expect(ca.volume.secret).toEqual({ secretName: "strait-ca", items: [{ key: "tls.crt", path: ca.path }] });
    const token = fileSource(aspec, agent, aenv.STRAIT_BUILTIN_CA_TOKEN_FILE ?? "");
    expect(token.path).toBe(NODE);
    const agentTokens = objects.find(
      (o) => o.kind === "Secret" && o.metadata.name === token.volume.secret?.secretName,
    ) as (Manifest & { stringData: Record<string, string> }) | undefined;
    expect(agentTokens?.stringData[NODE]).toBe("0123456789abcdef0123");
    expect(agent.ports).toEqual([{ name: "auth", containerPort: 4250, hostPort: 4250, protocol: "TCP" }]);

    const service = objects.find((o) => o.kind === "Service") as Manifest & {
      spec: { ports: { port: number; targetPort: string }[] };
    };
    const issuerPort = Number(new URL(aenv.STRAIT_BUILTIN_CA_URL ?? "").port);
    expect(service.spec.ports.find((p) => p.port === issuerPort)?.targetPort).toBe("builtin-ca");
    expect(controller.ports?.find((p) => p.name === "builtin-ca")?.containerPort).toBe(
      parseHostPort(env.STRAIT_BUILTIN_CA_ADDRESS ?? "", "x").port,
    );
    // The controller reads its root from a mounted file: it needs no Secret permissions beyond the cluster-wide list+watch.
    expect(objects.filter((o) => o.kind === "Role").map((o) => o.metadata.name)).toEqual([
      "strait-controller-leader-election",
    ]);
  });

  it("spire: the agent mounts the SPIRE agent's admin socket folder, the controller the server's API socket folder", () => {
    const objects = render("spire");
    const aspec = pod(objects, "DaemonSet", "strait-agent");
    const agent = container(aspec, "agent");
    const admin = fileSource(aspec, agent, environment(agent).STRAIT_SPIRE_ADMIN_SOCKET ?? "");
    expect(admin).toEqual({
      volume: {
        name: admin.volume.name,
        hostPath: { path: "/run/spire/sockets", type: "DirectoryOrCreate" },
      },
      path: "admin.sock",
    });
    const cspec = pod(objects, "Deployment", "strait-controller");
    const controller = container(cspec, "controller");
    const server = fileSource(cspec, controller, environment(controller).STRAIT_SPIRE_SERVER_SOCKET ?? "");
    expect(server.volume.hostPath?.path).toBe("/run/spire/server-sockets");
    expect(server.path).toBe("api.sock");
    // Without a server socket folder the controller keeps no entries (and mounts nothing).
    const bare = parseManifests(
      helm(["template", "strait", CHART, "--namespace", "strait-system", "--set", "auth.provider=spire"]),
    );
    const bareController = container(pod(bare, "Deployment", "strait-controller"), "controller");
    expect(environment(bareController).STRAIT_SPIRE_SERVER_SOCKET).toBeUndefined();
    expect(bareController.volumeMounts).toBeUndefined();
  });

  it("cert-manager: the agent may create, get and delete CertificateRequests in its namespace only, and trusts the ConfigMap's roots", () => {
    const objects = render("cert-manager");
    const role = objects.find((o) => o.kind === "Role" && o.metadata.name === "strait-agent-cert-manager") as
      | (Manifest & { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] })
      | undefined;
    expect(role?.metadata.namespace).toBe("strait-system");
    expect(role?.rules).toEqual([
      {
        apiGroups: ["cert-manager.io"],
        resources: ["certificaterequests"],
        verbs: ["create", "get", "delete"],
      },
    ]);
    const binding = objects.find(
      (o) => o.kind === "RoleBinding" && o.metadata.name === role?.metadata.name,
    ) as (Manifest & { subjects: { kind: string; name: string; namespace: string }[] }) | undefined;
    expect(binding?.subjects).toEqual([
      { kind: "ServiceAccount", name: "strait-agent", namespace: "strait-system" },
    ]);
    expect(
      objects.some((o) => o.kind === "ClusterRole" && JSON.stringify(o).includes("certificaterequests")),
    ).toBe(false);
    const aspec = pod(objects, "DaemonSet", "strait-agent");
    expect(aspec.automountServiceAccountToken).toBe(true);
    const agent = container(aspec, "agent");
    const env = environment(agent);
    expect(env.STRAIT_CERT_MANAGER_NAMESPACE).toBe("strait-system");
    const ca = fileSource(aspec, agent, env.STRAIT_CERT_MANAGER_CA ?? "");
    expect(ca.volume.configMap).toEqual({
      name: "strait-ca-bundle",
      items: [{ key: "ca.crt", path: ca.path }],
    });
  });

  it("refuses an unknown provider and missing or weak values with a clear message", () => {
    const fails = (sets: readonly string[]) => {
      try {
        helm(["template", "strait", CHART, ...sets.flatMap((x) => ["--set", x])]);
      } catch (error) {
        return String((error as { stderr?: string }).stderr);
      }
      throw new Error(`helm rendered ${sets.join(" ")}`);
    };
    expect(fails(["auth.provider=kerberos"])).toContain(
      'auth.provider must be none, builtin-ca, spire or cert-manager, not "kerberos"',
    );
    expect(fails(["xds.tls=builtin-ca"])).toContain("xds.tls builtin-ca needs auth.provider builtin-ca");
    expect(fails(["xds.tls=spiffe"])).toContain('xds.tls must be auto, builtin-ca or none, not "spiffe"');
    expect(fails(["auth.provider=builtin-ca", "auth.builtinCa.secretName=ca"])).toContain(
      "auth.provider builtin-ca needs auth.builtinCa.nodeTokens",
    );
    expect(
      fails([
        "auth.provider=builtin-ca",
        "auth.builtinCa.secretName=ca",
        `auth.builtinCa.nodeTokens.${NODE}=short`,
      ]),
    ).toContain(`the token of node "${NODE}" must be at least 16 characters`);
    expect(fails(["auth.provider=cert-manager", "auth.certManager.issuer=ClusterIssuer/x"])).toContain(
      "auth.provider cert-manager needs auth.certManager.issuer and auth.certManager.caConfigMap",
    );
  });
});

describe("charts/strait xDS over mutual TLS with the built-in CA", () => {
  const sets = [
    "auth.provider=builtin-ca",
    `auth.builtinCa.nodeTokens.${NODE}=0123456789abcdef0123`,
    "xds.certTtl=12h",
  ];
  const objects = () =>
    parseManifests(
      helm([
        "template",
        "strait",
        CHART,
        "--namespace",
        "strait-system",
        ...sets.flatMap((x) => ["--set", x]),
      ]),
    );

  it("generates the CA root when no Secret is named: an ECDSA P-256 CA the built-in CA loads and issues from, kept on upgrade and uninstall", async () => {
    expect(helm(["lint", "--strict", CHART, ...sets.flatMap((x) => ["--set", x])])).toContain(
      "0 chart(s) failed",
    );
    const all = objects();
    const secret = all.find((o) => o.kind === "Secret" && o.metadata.name === "strait-builtin-ca") as
      | (Manifest & {
          type: string;
          data: Record<string, string>;
          metadata: { annotations?: Record<string, string> };
        })
      | undefined;
    expect(secret?.type).toBe("kubernetes.io/tls");
    expect(secret?.metadata.annotations?.["helm.sh/resource-policy"]).toBe("keep");
    const dir = mkdtempSync(join(tmpdir(), "strait-chart-ca-"));
    try {
      for (const file of ["tls.crt", "tls.key"])
        writeFileSync(join(dir, file), Buffer.from(secret?.data[file] ?? "", "base64"));
      const td = parseTrustDomain("strait.local");
      if (!td.ok) throw new Error(td.error);
      const ca = await CertificateAuthority.loadOrCreate(td.value, dir, new Date());
      const root = parseCertificate(ca.rootDer);
      if (!root.ok) throw new Error(root.error);
      expect(root.value.basicConstraints?.ca).toBe(true);
      const keys = await generateKeyPair();
      const issued = await ca.issue(
        xdsClientId(td.value, NODE, "envoy"),
        await publicKeyPem(keys.publicKey),
        new Date(),
      );
      expect(issued.ok).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Both the controller (certificate and key) and the agent (certificate only) read that Secret.
    const cspec = pod(all, "Deployment", "strait-controller");
    const controller = container(cspec, "controller");
    const dirOf = environment(controller).STRAIT_BUILTIN_CA_DIR ?? "";
    expect(fileSource(cspec, controller, `${dirOf}/tls.key`).volume.secret?.secretName).toBe(
      "strait-builtin-ca",
    );
    const aspec = pod(all, "DaemonSet", "strait-agent");
    const agent = container(aspec, "agent");
    const root = fileSource(aspec, agent, environment(agent).STRAIT_BUILTIN_CA_ROOT ?? "");
    expect(root.volume.secret).toEqual({
      secretName: "strait-builtin-ca",
      items: [{ key: "tls.crt", path: root.path }],
    });
  });

  it("serves xDS with the built-in CA's server certificate for the Service's names; the agent and its Envoy present client certificates, the Envoy's through the SDS file the agent writes", () => {
    const all = objects();
    const controller = container(pod(all, "Deployment", "strait-controller"), "controller");
    const run = settingsOf(RUN_SETTINGS, environment(controller));
    const listen = xdsListenConfig(run);
    expect(listen.tls).toBeUndefined();
    expect(listen.builtinCa?.serverNames).toContain("strait-controller.strait-system.svc.cluster.local");
    expect(listen.builtinCa?.certTtlMs).toBe(12 * 3600_000);
    expect(run.xdsPlaintext).toBeUndefined();

    const aspec = pod(all, "DaemonSet", "strait-agent");
    const agent = container(aspec, "agent");
    const agentSettings = settingsOf(AGENT_SETTINGS, environment(agent));
    expect(agentSettings.xdsTlsBuiltinCa).toBe(true);
    expect(stringSetting(agentSettings, "xdsAddress")).toBe(
      "strait-controller.strait-system.svc.cluster.local:18000",
    );
    const certDir = stringSetting(agentSettings, "envoyXdsCertDir") ?? "";
    // The agent writes there (a writable mount), the Envoy reads (a read-only one) the same volume.
    const agentMount = (agent.volumeMounts ?? []).find((m) => m.mountPath === certDir);
    expect(agentMount?.readOnly).toBeUndefined();
    const shared = (aspec.volumes ?? []).find((v) => v.name === agentMount?.name);
    expect(shared?.emptyDir).toEqual({ medium: "Memory" });
    const envoy = container(aspec, "envoy");
    const envoyMount = (envoy.volumeMounts ?? []).find((m) => m.name === shared?.name);
    expect(envoyMount).toMatchObject({ mountPath: certDir, readOnly: true });
    // Envoy refuses to start without its SDS file: the container waits for the agent to write it.
    expect(envoy.command?.join(" ")).toContain(`[ -s ${certDir}/${XDS_CLIENT_SECRET_FILE} ]`);

    const configMap = all.find(
      (o) => o.kind === "ConfigMap" && o.metadata.name === "strait-envoy-bootstrap",
    ) as (Manifest & { data: Record<string, string> }) | undefined;
    const bootstrap = parse(configMap?.data["bootstrap.yaml"] ?? "") as {
      static_resources: { clusters: Record<string, unknown>[] };
    };
    const cluster = bootstrap.static_resources.clusters[0] ?? {};
    expect(validateResource(TYPE_URLS.cluster, cluster)).toEqual([]);
    const tls = (
      cluster as {
        transport_socket: {
          typed_config: {
            sni: string;
            common_tls_context: {
              tls_certificate_sds_secret_configs: ReturnType<typeof sdsFileConfig>[];
              validation_context: {
                trusted_ca: { filename: string };
                match_typed_subject_alt_names: { matcher: { exact: string } }[];
              };
            };
          };
        };
      }
    ).transport_socket.typed_config;
    // The SDS secret is the file the agent writes, in the folder Envoy watches.
    expect(tls.common_tls_context.tls_certificate_sds_secret_configs).toEqual([
      sdsFileConfig({ dir: certDir, file: XDS_CLIENT_SECRET_FILE, name: XDS_CLIENT_SECRET }),
    ]);
    const caFile = tls.common_tls_context.validation_context.trusted_ca.filename;
    const caSource = fileSource(aspec, envoy, caFile);
    expect(caSource.volume.secret?.secretName).toBe("strait-builtin-ca");
    expect(tls.common_tls_context.validation_context.match_typed_subject_alt_names[0]?.matcher.exact).toBe(
      "spiffe://strait.local/strait-controller",
    );
    expect(listen.builtinCa?.serverNames).toContain(tls.sni);
  });

  it("keeps plaintext xDS, said explicitly, without the built-in CA or with xds.tls none", () => {
    for (const extra of [[], ["xds.tls=none"]]) {
      const rendered = parseManifests(
        helm([
          "template",
          "strait",
          CHART,
          "--namespace",
          "strait-system",
          ...(extra.length > 0 ? [...sets, ...extra] : []).flatMap((x) => ["--set", x]),
        ]),
      );
      const env = environment(container(pod(rendered, "Deployment", "strait-controller"), "controller"));
      expect(env.STRAIT_XDS_PLAINTEXT).toBe("true");
      expect(env.STRAIT_XDS_TLS_BUILTIN_CA).toBeUndefined();
      const envoy = container(pod(rendered, "DaemonSet", "strait-agent"), "envoy");
      expect((envoy.volumeMounts ?? []).map((m) => m.name)).not.toContain("xds-tls");
      expect(envoy.command).toBeUndefined();
    }
  });
});

describe("charts/strait auth.encryption", () => {
  const renderWith = (provider: string, sets: readonly string[]) =>
    parseManifests(
      helm([
        "template",
        "strait",
        CHART,
        "--namespace",
        "strait-system",
        ...authProviderSets(provider),
        ...sets.flatMap((x) => ["--set", x]),
      ]),
    );

  it("envoy: the controller gives the node Envoys the tunnel, each agent serves its Envoy's SVIDs on the socket the controller names, in a folder both containers mount", () => {
    const objects = renderWith("builtin-ca", ["auth.encryption=envoy"]);
    expect(
      helm(["lint", "--strict", CHART, ...authProviderSets("builtin-ca"), "--set", "auth.encryption=envoy"]),
    ).toContain("0 chart(s) failed");
    const run = settingsOf(
      RUN_SETTINGS,
      environment(container(pod(objects, "Deployment", "strait-controller"), "controller")),
    );
    expect(controllerEncryption(run)).toEqual({ tunnelPort: 15008, sdsDir: "/run/strait/envoy-sds" });
    const spec = pod(objects, "DaemonSet", "strait-agent");
    const agent = settingsOf(AGENT_SETTINGS, environment(container(spec, "agent")));
    const socket = envoySdsSocket(stringSetting(agent, "envoySdsDir") ?? "", NODE);
    expect(socket).toBe(envoySdsSocket("/run/strait/envoy-sds", NODE));
    // The socket's folder is one volume, mounted in the agent and in Envoy at the same path.
    const mountOf = (c: Container) =>
      (c.volumeMounts ?? []).find((m) => socket.startsWith(`${m.mountPath}/`));
    const agentMount = mountOf(container(spec, "agent"));
    const envoy = container(spec, "envoy");
    const envoyMount = mountOf(envoy);
    expect(agentMount?.name).toBeDefined();
    expect(envoyMount?.name).toBe(agentMount?.name);
    expect(envoyMount?.mountPath).toBe(agentMount?.mountPath);
    // Envoy runs as root to reach the root-only socket, and takes the tunnel on the host port.
    expect(environment(envoy).ENVOY_UID).toBe("0");
    expect(envoy.ports).toEqual([{ name: "tunnel", containerPort: 15008, hostPort: 15008, protocol: "TCP" }]);
  });

  it("off (the default): no tunnel settings and no tunnel port", () => {
    const objects = renderWith("builtin-ca", []);
    const run = settingsOf(
      RUN_SETTINGS,
      environment(container(pod(objects, "Deployment", "strait-controller"), "controller")),
    );
    expect(controllerEncryption(run)).toBeUndefined();
    const envoy = container(pod(objects, "DaemonSet", "strait-agent"), "envoy");
    expect(envoy.ports).toBeUndefined();
  });

  it("refuses an unknown mode, and envoy without an auth provider, with a clear message", () => {
    const fails = (sets: readonly string[]) => {
      try {
        helm(["template", "strait", CHART, ...sets.flatMap((x) => ["--set", x])]);
      } catch (error) {
        return String((error as { stderr?: string }).stderr);
      }
      throw new Error(`helm rendered ${sets.join(" ")}`);
    };
    expect(fails(["auth.encryption=ipsec"])).toContain('auth.encryption must be off or envoy, not "ipsec"');
    expect(fails(["auth.encryption=envoy"])).toContain("auth.encryption envoy needs auth.provider");
  });
});
