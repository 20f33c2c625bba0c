/**
 * Where EncryptionLab's agents get their SVIDs: one identity provider's
 * processes, run in the lab's node namespaces, and the flags that point
 * strait's controller and agents at them. The built-in CA's issuer (a test
 * process issuing to known node tokens), or real SPIRE as a user runs it
 * with strait: the controller keeps the registration entries, each agent is
 * an authorized delegate of its node's SPIRE agent.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertificateAuthority } from "../../src/auth/builtin-ca/authority.ts";
import { derToPem } from "../../src/auth/certificate.ts";
import { DEFAULT_TRUST_DOMAIN } from "../../src/auth/spiffe-id.ts";
import { JsonChild } from "./json-child.ts";
import type { NodeLab } from "./netns-lab.ts";
import { SpireNodes, spireBinDir, tail } from "./spire.ts";
import { REPO } from "./strait-process.ts";
import type { TwoNodeLab } from "./two-node-lab.ts";

/** One identity provider's processes and the flags that point strait's controller and agents at them. */
export interface Identities {
  start(): Promise<void>;
  controllerArgs(): readonly string[];
  agentArgs(node: NodeLab, name: string): readonly string[];
  /** What the provider's processes printed last, for a timeout's message. */
  tails(): string;
  stop(): Promise<void>;
}

/** The built-in CA's issuer in node A's namespace; each node's agent asks it with its own token. */
export class BuiltinCaIdentities implements Identities {
  readonly #lab: TwoNodeLab;
  readonly #caDir: string;
  readonly #port: number;
  #issuer: JsonChild | undefined;

  constructor(lab: TwoNodeLab, caDir: string, port: number) {
    this.#lab = lab;
    this.#caDir = caDir;
    this.#port = port;
  }

  async start(): Promise<void> {
    const lab = this.#lab;
    mkdirSync(this.#caDir, { recursive: true });
    const ca = await CertificateAuthority.loadOrCreate(DEFAULT_TRUST_DOMAIN, this.#caDir, new Date());
    writeFileSync(join(this.#caDir, "root.pem"), derToPem(ca.rootDer));
    this.#issuer = new JsonChild(lab.a.nodeNs, [
      process.execPath,
      join(REPO, "test/support/builtin-ca-issuer.ts"),
      this.#caDir,
      DEFAULT_TRUST_DOMAIN,
      lab.addressA,
      String(this.#port),
      "600000",
      "node-a=token-node-a,node-b=token-node-b",
    ]);
    await this.#issuer.line((l) => typeof l.url === "string");
  }

  controllerArgs(): readonly string[] {
    return [];
  }

  agentArgs(node: NodeLab, name: string): readonly string[] {
    const lab = this.#lab;
    writeFileSync(join(node.dir, "token"), `token-${name}\n`);
    return [
      "--auth-provider",
      "builtin-ca",
      "--auth-address",
      `${node === lab.a ? lab.addressA : lab.addressB}:${this.#port + 1}`,
      "--builtin-ca-url",
      `https://${lab.addressA}:${this.#port}`,
      "--builtin-ca-root",
      join(this.#caDir, "root.pem"),
      "--builtin-ca-token-file",
      join(node.dir, "token"),
    ];
  }

  tails(): string {
    return `--- issuer\n${tail(this.#issuer?.stderr ?? [])}`;
  }

  async stop(): Promise<void> {
    this.#issuer?.stop();
  }
}

/**
 * Real SPIRE: the controller keeps the registration entries (`--spire-server-socket`) and the
 * delegate entry for the selector of strait's agent process (the unix workload attestor sees
 * its uid), which each spire-agent authorizes; the agents subscribe on their node's admin socket.
 */
export class SpireIdentities implements Identities {
  readonly #lab: TwoNodeLab;
  readonly #port: number;
  #spire: SpireNodes | undefined;

  constructor(lab: TwoNodeLab, port: number) {
    this.#lab = lab;
    this.#port = port;
  }

  async start(): Promise<void> {
    const lab = this.#lab;
    this.#spire = new SpireNodes(
      spireBinDir(),
      { lab: lab.a, host: lab.addressA, port: this.#port },
      [
        { name: "node-a", lab: lab.a },
        { name: "node-b", lab: lab.b },
      ],
      DEFAULT_TRUST_DOMAIN,
    );
    await this.#spire.start();
  }

  controllerArgs(): readonly string[] {
    return [
      "--spire-server-socket",
      this.#spire?.serverSocket ?? "",
      "--spire-delegate-selector",
      `unix:uid:${process.getuid?.() ?? 0}`,
    ];
  }

  agentArgs(node: NodeLab, name: string): readonly string[] {
    const lab = this.#lab;
    return [
      "--auth-provider",
      "spire",
      "--spire-admin-socket",
      this.#spire?.adminSocket(name) ?? "",
      "--auth-address",
      `${node === lab.a ? lab.addressA : lab.addressB}:${this.#port + 1}`,
    ];
  }

  get nodes(): SpireNodes | undefined {
    return this.#spire;
  }

  tails(): string {
    return this.#spire?.tails() ?? "";
  }

  async stop(): Promise<void> {
    await this.#spire?.stop();
  }
}
