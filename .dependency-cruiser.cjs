// The layers of llm-expo, checked on every `npm test`: a folder imports only from the folders below it.
//
//   core                                  contracts: types, errors, logger interface (imports nothing)
//   storage  kernel  proto  metrics  plot storage backends, native kernel, gRPC wire, prom-client helpers, SVG charts
//   checkpoint                            safetensors structure (over storage)
//   plan  engine  report  example         planning; the unit pipeline (fetch, compute, upload); reports
//   coordinator  worker  inspect  sweep   the job's processes; verify and stats; the α search
//   cli                                   flags → typed options, commands
//   harness                               real servers and layouts for tests and benchmarks
//   test  bench                           (bench never imports test)
const LAYERS = {
  core: [],
  storage: ["core"],
  kernel: ["core"],
  proto: ["core"],
  metrics: ["core"],
  plot: ["core"],
  checkpoint: ["core", "storage"],
  plan: ["core", "storage", "checkpoint"],
  engine: ["core", "storage", "kernel"],
  report: ["core", "checkpoint"],
  example: ["core", "storage", "checkpoint"],
  coordinator: ["core", "storage", "checkpoint", "proto", "metrics", "plan", "report"],
  worker: ["core", "storage", "kernel", "proto", "metrics", "engine"],
  inspect: ["core", "storage", "checkpoint", "kernel", "plot", "plan", "engine", "report"],
  sweep: ["core", "storage", "checkpoint", "metrics", "plot"],
  cli: [
    "core",
    "storage",
    "checkpoint",
    "kernel",
    "proto",
    "metrics",
    "plot",
    "plan",
    "engine",
    "report",
    "example",
    "coordinator",
    "worker",
    "inspect",
    "sweep",
  ],
};
const PRODUCT = Object.keys(LAYERS);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...Object.entries(LAYERS).map(([folder, below]) => ({
      name: `layer-${folder}`,
      comment: `${folder}/ may import only from ${below.length ? below.join(", ") : "nothing else in the project"}`,
      severity: "error",
      from: { path: `^${folder}/` },
      to: {
        path: `^(${[...PRODUCT, "harness", "test", "bench"].join("|")})/`,
        pathNot: `^(${[folder, ...below].join("|")})/`,
      },
    })),
    {
      name: "harness-below-tests",
      comment: "harness/ (servers and layouts for tests and benchmarks) never imports tests or benchmarks",
      severity: "error",
      from: { path: "^harness/" },
      to: { path: "^(test|bench)/" },
    },
    {
      name: "bench-not-test",
      comment: "benchmarks do not import test code (shared pieces live in harness/)",
      severity: "error",
      from: { path: "^bench/" },
      to: { path: "^test/" },
    },
    {
      name: "no-circular",
      comment: "no import cycles, between folders or within one",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "product-not-dev-deps",
      comment: "product code runs without devDependencies",
      severity: "error",
      from: { path: `^(${PRODUCT.join("|")})/` },
      to: { dependencyTypes: ["npm-dev"] },
    },
    {
      name: "known-folders",
      comment: "every TypeScript folder has a place in the layers above (add new ones to LAYERS)",
      severity: "error",
      from: { pathNot: `^(${[...PRODUCT, "harness", "test", "bench"].join("|")})/` },
      to: {},
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules|kernel/build|kernel/build-cuda)/" },
    includeOnly: { path: "\\.ts$" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
