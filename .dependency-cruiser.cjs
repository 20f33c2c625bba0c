/**
 * Import boundaries of strait's pipeline (see ARCHITECTURE.md). The pure stages
 * take plain data and return plain data; only the edges touch I/O.
 */
const IO_MODULES = [
  "^node:(fs|fs/promises|net|http|http2|https|tls|dgram|child_process|cluster|worker_threads|os)$",
  "^(fs|net|http|http2|https|tls|dgram|child_process|cluster|worker_threads|os)$",
  "^@grpc/grpc-js$",
  "^@kubernetes/client-node",
  "^fastify",
  "^pino",
  "^prom-client",
];
const PURE = "^src/(model|gateway|policy|xds/translate|xds/simulate)/";

module.exports = {
  forbidden: [
    {
      name: "model-is-types-only",
      comment:
        "src/model/ holds the intermediate model: it imports neither Kubernetes nor Envoy nor other stages.",
      severity: "error",
      from: { path: "^src/model/" },
      to: { pathNot: ["^src/model/"], dependencyTypesNot: ["core"] },
    },
    {
      name: "pure-stages-do-no-io",
      comment:
        "gateway/, policy/, xds/translate and xds/simulate are pure: no file system, network, gRPC, Kubernetes client, logger or metrics.",
      severity: "error",
      from: { path: PURE, pathNot: "\\.test\\.ts$" },
      to: { path: IO_MODULES },
    },
    {
      name: "pure-stages-do-not-reach-the-edges",
      comment: "A pure stage must not import sources, servers, the controller, the agent or the CLI.",
      severity: "error",
      from: { path: PURE, pathNot: "\\.test\\.ts$" },
      to: { path: "^src/(sources|controller|agent|cli|datapath|auth|xds/server|xds/cache)/" },
    },
    {
      name: "no-circular",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
    },
  },
};
