/**
 * The real Envoy API definitions, loaded with protobufjs from the copy shipped
 * in @grpc/grpc-js-xds (`deps/envoy-api`, `deps/xds`, `deps/googleapis`,
 * `deps/protoc-gen-validate`). Field names keep their proto spelling
 * (snake_case), as Envoy's own YAML configuration does.
 *
 * Loading reads .proto files from node_modules once per process; after that,
 * everything here is pure. Parsing them takes most of a one-shot command's time
 * (about 0.7 s), so the resolved definitions are also kept as JSON in
 * build/proto-cache/ (keyed by the protos' packages, this folder's own protos and
 * the entry list) and read from there by later processes, in a fifth of the time.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import protobuf from "protobufjs";

const require = createRequire(import.meta.url);

/** The .proto files whose messages strait emits or reads (their imports come along). */
export const ENTRY_FILES = [
  "envoy/service/discovery/v3/ads.proto",
  "envoy/service/discovery/v3/discovery.proto",
  "envoy/service/secret/v3/sds.proto",
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/extensions/transport_sockets/tls/v3/secret.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
  "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
  "envoy/extensions/filters/listener/original_dst/v3/original_dst.proto",
  "envoy/extensions/filters/listener/original_src/v3/original_src.proto",
  "envoy/extensions/access_loggers/file/v3/file.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/cors/v3/cors.proto",
  "envoy/extensions/filters/http/rbac/v3/rbac.proto",
  "envoy/extensions/filters/http/stateful_session/v3/stateful_session.proto",
  "envoy/extensions/filters/http/header_mutation/v3/header_mutation.proto",
  "envoy/extensions/filters/http/grpc_web/v3/grpc_web.proto",
  "envoy/extensions/http/stateful_session/cookie/v3/cookie.proto",
  "envoy/extensions/http/stateful_session/header/v3/header.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto",
  "envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto",
  "envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto",
  "envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality.proto",
  "envoy/extensions/access_loggers/stream/v3/stream.proto",
  "envoy/config/rbac/v3/rbac.proto",
  "envoy/type/matcher/v3/metadata.proto",
  // strait's own resource types for the agent (this folder).
  "strait/v1/agent.proto",
];

/** Type URLs of the xDS resource types strait serves. */
export const TYPE_URLS = {
  listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  routeConfiguration: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  clusterLoadAssignment: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  secret: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
} as const;

/** Type URLs of strait's own resource types (strait/v1/agent.proto), served to each node's agent. */
export const STRAIT_TYPE_URLS = {
  identity: "type.googleapis.com/strait.v1.Identity",
  identityHosts: "type.googleapis.com/strait.v1.IdentityHosts",
  authSettings: "type.googleapis.com/strait.v1.AuthSettings",
  endpointPolicy: "type.googleapis.com/strait.v1.EndpointPolicy",
  meshService: "type.googleapis.com/strait.v1.MeshService",
  encryptPolicy: "type.googleapis.com/strait.v1.EncryptPolicy",
} as const;

export type EnvoyTypeUrl = (typeof TYPE_URLS)[keyof typeof TYPE_URLS];

const TYPE_URL_PREFIX = "type.googleapis.com/";

/** `envoy.config.listener.v3.Listener` from its type URL (any host part). */
export function typeNameOf(typeUrl: string): string {
  const slash = typeUrl.lastIndexOf("/");
  return slash < 0 ? typeUrl : typeUrl.slice(slash + 1);
}

export function typeUrlOf(typeName: string): string {
  return `${TYPE_URL_PREFIX}${typeName}`;
}

function includeDirs(): string[] {
  const xdsPackage = dirname(require.resolve("@grpc/grpc-js-xds/package.json"));
  const protobufPackage = dirname(require.resolve("protobufjs/package.json"));
  return [
    ...["deps/envoy-api", "deps/xds", "deps/googleapis", "deps/protoc-gen-validate"].map((d) =>
      join(xdsPackage, d),
    ),
    protobufPackage,
    import.meta.dirname,
  ];
}

let cached: protobuf.Root | undefined;

/** Bump when the cache's layout changes. */
const CACHE_FORMAT = 1;

/** The cache file for the protos as they are now: any change to what is loaded changes the name. */
export function protoCacheFile(): string {
  const hash = createHash("sha256").update(`${CACHE_FORMAT}\n${ENTRY_FILES.join("\n")}\n`);
  for (const pkg of ["@grpc/grpc-js-xds/package.json", "protobufjs/package.json"]) {
    hash.update(readFileSync(require.resolve(pkg)));
  }
  hash.update(readFileSync(join(import.meta.dirname, "strait/v1/agent.proto")));
  return join(
    import.meta.dirname,
    "../../../build/proto-cache",
    `envoy-${hash.digest("hex").slice(0, 16)}.json`,
  );
}

/** Field options as parsed (repeated values kept), by type and field name: toJSON keeps only the flattened form. */
type ParsedOptions = Record<string, Record<string, unknown[]>>;

function eachType(ns: protobuf.NamespaceBase, visit: (type: protobuf.Type) => void): void {
  for (const nested of ns.nestedArray) {
    if (nested instanceof protobuf.Type) visit(nested);
    if (nested instanceof protobuf.Namespace) eachType(nested, visit);
  }
}

/** The root as JSON, with the parsed options toJSON leaves out. */
export function rootToJson(root: protobuf.Root): { root: protobuf.INamespace; parsedOptions: ParsedOptions } {
  const parsedOptions: ParsedOptions = {};
  eachType(root, (type) => {
    for (const field of type.fieldsArray) {
      if (field.parsedOptions === undefined || field.parsedOptions === null) continue;
      parsedOptions[type.fullName] ??= {};
      (parsedOptions[type.fullName] as Record<string, unknown[]>)[field.name] =
        field.parsedOptions as unknown[];
    }
  });
  return { root: root.toJSON(), parsedOptions };
}

function rootFromJson(json: { root: protobuf.INamespace; parsedOptions: ParsedOptions }): protobuf.Root {
  const root = protobuf.Root.fromJSON(json.root);
  for (const [typeName, fields] of Object.entries(json.parsedOptions)) {
    const type = root.lookupType(typeName);
    for (const [name, parsed] of Object.entries(fields)) {
      const field = type.fields[name];
      if (field !== undefined) field.parsedOptions = parsed as { [k: string]: unknown }[];
    }
  }
  root.resolveAll();
  return root;
}

/** Parses the .proto files (slow: about 0.7 s). */
export function loadEnvoyRootFromProtos(): protobuf.Root {
  const dirs = includeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (
      protobuf.common.get(target) !== null &&
      target.startsWith("google/protobuf/") &&
      !target.endsWith("descriptor.proto")
    ) {
      return target; // protobufjs's built-in well-known types
    }
    for (const dir of dirs) {
      const path = join(dir, target);
      if (existsSync(path)) return path;
    }
    return target;
  };
  root.loadSync(ENTRY_FILES, { keepCase: true });
  root.resolveAll();
  return root;
}

/** The loaded Envoy API (loaded on first use, then shared). */
export function envoyRoot(): protobuf.Root {
  if (cached !== undefined) return cached;
  const file = protoCacheFile();
  if (existsSync(file)) {
    try {
      cached = rootFromJson(JSON.parse(readFileSync(file, "utf8")));
      return cached;
    } catch {
      // A damaged cache file: parse the protos and write it again.
    }
  }
  cached = loadEnvoyRootFromProtos();
  try {
    mkdirSync(dirname(file), { recursive: true });
    const partial = `${file}.${process.pid}.partial`;
    writeFileSync(partial, JSON.stringify(rootToJson(cached)));
    renameSync(partial, file); // whole or not at all, for a concurrent reader
  } catch {
    // A read-only checkout: no cache, every process parses the protos.
  }
  return cached;
}

/** A message type by full name, or undefined when the API has no such type. */
export function findType(typeName: string): protobuf.Type | undefined {
  try {
    return envoyRoot().lookupType(typeName);
  } catch {
    return undefined;
  }
}
