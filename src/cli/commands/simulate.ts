import { readFileSync } from "node:fs";
import {
  DEFAULT_STANDALONE_ADDRESS_POOL,
  type PipelineOutput,
  runPipeline,
} from "../../controller/pipeline.ts";
import { parseHeader, parseRequestLine, prepareNodeConfig, simulate } from "../../xds/simulate/index.ts";
import { type Command, EXIT, outputFormat, parseFlags, requirePaths, UsageError } from "../command.ts";
import { loadOnePass, ONE_PASS_FLAGS, ONE_PASS_HELP } from "../one-pass.ts";
import { render } from "../render.ts";

export const simulateCommand: Command = {
  name: "simulate",
  summary: "Show where a request goes through a Gateway or the mesh, and why",
  help: `Usage: strait simulate -f PATH... --gateway NS/NAME --request 'METHOD URL' [-H 'name: value']... [flags]
       strait simulate -f PATH... --to CLUSTERIP:PORT|NS/SERVICE:PORT [--from POD_IP] --request 'METHOD URL' [flags]

Translates the manifests as the controller would and evaluates one request
against the Envoy configuration every node receives, exactly as Envoy would:
listener and TLS filter chain, virtual host, route, then the action (the
cluster, the chosen weighted backend and endpoint, the request as the backend
receives it, response headers, mirrors, timeouts, retries), or the redirect or
direct response, or why the request is refused. On a TLSRoute port an https://
URL is a TLS connection with that SNI (--sni to change it): the answer is the
TCP proxy's cluster and endpoint, whether Envoy terminated TLS or passed it
through, or that the connection is closed. A gRPC call is its HTTP/2 request:
'POST http://host/pkg.Service/Method' with -H 'content-type: application/grpc'
(HTTP/2 with prior knowledge in clear text, as gRPC clients send it).

With --to, the request is a pod's, at --from, to a Service's ClusterIP and
port (GAMMA): the node's datapath redirects it to the mesh listener, whose
chain is chosen by that destination and, for consumer routes, by the client's
address; the URL gives the Host and path only. A Service port without mesh
routes answers with the TCP proxy to its endpoints.

  strait simulate -f examples/quickstart --gateway infra/edge --request 'GET http://shop.example.com:8080/store'
  strait simulate -f DIR --to shop/cart:80 --from 10.244.1.7 --request 'GET http://cart.shop/items'

${ONE_PASS_HELP}
      --gateway NS/NAME     the Gateway the request is sent to (its address)
      --to DEST             instead, a mesh request to a Service port: its CLUSTERIP:PORT or NS/SERVICE:PORT
      --from IP             the client pod's address for --to (default: unknown, no consumer route applies)
      --request 'M URL'     method and http:// or https:// URL (method defaults to GET)
  -H, --header 'n: v'       a request header (repeatable)
      --sni NAME            TLS server name for https (default: the URL's host)
      --client-cert FILE    PEM client certificate presented in the TLS handshake
      --random R            the random value in [0,1) Envoy draws for weights, endpoints and fractions (default 0)
      --address-pool P      addresses Gateways are given (default ${DEFAULT_STANDALONE_ADDRESS_POOL.join(",")})

Exit code 0 when the simulation ran, 1 when the input had errors or the
Gateway (or --to Service port) is unknown, 2 on usage errors (a URL or header that cannot be read).`,
  async run(args, io) {
    const { values } = parseFlags(args, {
      ...ONE_PASS_FLAGS,
      gateway: { type: "string" },
      to: { type: "string" },
      from: { type: "string" },
      request: { type: "string" },
      header: { type: "string", short: "H", multiple: true },
      sni: { type: "string" },
      "client-cert": { type: "string" },
      random: { type: "string" },
      "address-pool": { type: "string", multiple: true },
    });
    const paths = requirePaths(values.file, "simulate");
    const format = outputFormat(values.output);
    const mesh = values.to === undefined ? undefined : parseMeshDestination(values.to);
    if (values.to !== undefined && values.gateway !== undefined)
      throw new UsageError("--gateway and --to are two kinds of request: give one");
    if (mesh === undefined && (values.gateway === undefined || !/^[^/]+\/[^/]+$/.test(values.gateway)))
      throw new UsageError("--gateway NS/NAME (or --to for a mesh request) is required");
    if (values.from !== undefined && mesh === undefined) throw new UsageError("--from goes with --to");
    if (values.from !== undefined && !IPV4.test(values.from))
      throw new UsageError(`--from ${values.from} is not an IPv4 address`);
    if (values.request === undefined) throw new UsageError("--request 'METHOD URL' is required");
    const line = parseRequestLine(values.request);
    if (!line.ok) throw new UsageError(line.error);
    const headers: (readonly [string, string])[] = [];
    for (const h of values.header ?? []) {
      const parsed = parseHeader(h);
      if (!parsed.ok) throw new UsageError(parsed.error);
      headers.push(parsed.value);
    }
    const random = values.random === undefined ? 0 : Number(values.random);
    if (!(random >= 0 && random < 1)) throw new UsageError("--random must be a number in [0, 1)");
    let clientCertificatePem: string | undefined;
    if (values["client-cert"] !== undefined) {
      try {
        clientCertificatePem = readFileSync(values["client-cert"], "utf8");
      } catch (error) {
        throw new UsageError(`cannot read --client-cert: ${(error as Error).message}`);
      }
    }

    const input = loadOnePass(paths, values.crds, io);
    const out = runPipeline(input.store, {
      now: new Date(),
      addressPool: values["address-pool"] ?? DEFAULT_STANDALONE_ADDRESS_POOL,
    });
    const target =
      mesh === undefined
        ? gatewayTarget(out, values.gateway ?? "", io)
        : meshTarget(out, mesh, values.to ?? "", io);
    if (target === undefined) return EXIT.INPUT_ERRORS;
    const { config, issues } = prepareNodeConfig(out.resources);
    for (const i of issues)
      io.stderr(
        `error: ${i.name} does not encode: ${i.issues.map((x) => `${x.path}: ${x.message}`).join("; ")}\n`,
      );
    const tls =
      mesh === undefined && line.value.scheme === "https"
        ? {
            tls: {
              sni: values.sni ?? line.value.host,
              ...(clientCertificatePem === undefined ? {} : { clientCertificatePem }),
            },
          }
        : {};
    const result = simulate(
      config,
      {
        address: target.address,
        port: target.port ?? line.value.port,
        ...tls,
        ...(mesh === undefined ? {} : { via: "mesh" as const }),
        ...(values.from === undefined ? {} : { remoteAddress: values.from }),
        // A gRPC client speaks HTTP/2 (h2c with prior knowledge in clear text).
        ...(headers.some(([n, v]) => n === "content-type" && v.startsWith("application/grpc"))
          ? { http2: true }
          : {}),
        method: line.value.method,
        scheme: mesh === undefined ? line.value.scheme : "http",
        authority: line.value.authority,
        path: line.value.path,
        headers,
      },
      { random: { cluster: random, endpoint: random, fraction: random } },
    );
    const shown =
      mesh === undefined
        ? { gateway: values.gateway, address: `${target.address}:${line.value.port}` }
        : {
            service: target.service,
            address: `${target.address}:${target.port}`,
            ...(values.from === undefined ? {} : { from: values.from }),
          };
    io.stdout(render(present({ ...shown, ...result }), format));
    return input.hadErrors || issues.length > 0 ? EXIT.INPUT_ERRORS : EXIT.OK;
  },
};

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** `--to`: `CLUSTERIP:PORT` or `NS/SERVICE:PORT`. */
function parseMeshDestination(text: string): {
  readonly address?: string;
  readonly service?: string;
  readonly port: number;
} {
  const at = text.lastIndexOf(":");
  const port = Number(text.slice(at + 1));
  const host = text.slice(0, at);
  if (at < 0 || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError(`--to ${text}: give CLUSTERIP:PORT or NS/SERVICE:PORT`);
  if (IPV4.test(host)) return { address: host, port };
  if (/^[^/]+\/[^/]+$/.test(host)) return { service: host, port };
  throw new UsageError(`--to ${text}: give CLUSTERIP:PORT or NS/SERVICE:PORT`);
}

interface Target {
  readonly address: string;
  /** A mesh Service port; a Gateway's port is the URL's. */
  readonly port?: number;
  readonly service?: string;
}

/** The Gateway's status address, or undefined (said on stderr) when it has none or is not strait's. */
function gatewayTarget(
  out: PipelineOutput,
  gateway: string,
  io: { stderr(text: string): void },
): Target | undefined {
  const [ns = "", name = ""] = gateway.split("/");
  const gwStatus = out.statuses.find(
    (s) => s.ref.kind === "Gateway" && s.ref.namespace === ns && s.ref.name === name,
  );
  if (gwStatus === undefined) {
    io.stderr(`strait simulate: Gateway ${gateway} not found, or not of a GatewayClass strait owns\n`);
    return undefined;
  }
  const address = ((gwStatus.status.addresses as { value?: string }[] | undefined) ?? [])[0]?.value;
  if (address === undefined) {
    const conditions =
      (gwStatus.status.conditions as { type: string; status: string; message: string }[] | undefined) ?? [];
    io.stderr(
      `strait simulate: Gateway ${gateway} has no address: ${conditions
        .filter((c) => c.status !== "True")
        .map((c) => `${c.type}: ${c.message}`)
        .join("; ")}\n`,
    );
    return undefined;
  }
  return { address };
}

/** The mesh Service port `--to` names, or undefined (said on stderr) when it is none. */
function meshTarget(
  out: PipelineOutput,
  mesh: ReturnType<typeof parseMeshDestination>,
  to: string,
  io: { stderr(text: string): void },
): Target | undefined {
  const found = out.model.mesh.services.find((m) =>
    mesh.service === undefined
      ? m.address === mesh.address && m.port === mesh.port
      : m.service === mesh.service && m.port === mesh.port,
  );
  if (found === undefined) {
    io.stderr(
      `strait simulate: ${to} is no mesh Service port (a TCP port of a Service with an IPv4 ClusterIP)\n`,
    );
    return undefined;
  }
  return { address: found.address, port: found.port, service: found.service };
}

/** Readable output: headers as "name: value" lines, empty header-mutation steps left out. */
function present(value: unknown): unknown {
  if (Array.isArray(value)) {
    if (value.every((v) => Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "string"))) {
      return (value as [string, string][]).map(([n, v]) => `${n}: ${v}`);
    }
    return value.map(present);
  }
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === "headerMutations" && Array.isArray(v)) {
      const steps = (v as { add: unknown[]; remove: unknown[] }[]).filter(
        (m) => m.add.length > 0 || m.remove.length > 0,
      );
      if (steps.length > 0) out[k] = steps;
      continue;
    }
    out[k] = present(v);
  }
  return out;
}
