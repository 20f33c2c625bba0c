/**
 * The data plane process: the Envoy binary set-up installed, the bootstrap
 * that points an Envoy at strait's xDS server, a supervisor that runs one
 * (standalone mode, tests, the conformance runner, benchmarks), and a
 * client of its admin interface. An edge of the pipeline: it spawns
 * processes and talks HTTP; nothing pure imports it.
 */
export { type EnvoyAdmin, envoyAdmin } from "./admin.ts";
export { DEFAULT_ENVOY_BINARY, resolveEnvoyBinary } from "./binary.ts";
export { type BootstrapOptions, envoyBootstrap, type XdsApi } from "./bootstrap.ts";
export { type EnvoyLogLine, parseEnvoyLogLine } from "./log-lines.ts";
export { ManagedEnvoy, type ManagedEnvoyOptions } from "./managed-envoy.ts";
