// Builds the N-API addon against the headers of the Node that runs this script, so node-gyp
// never downloads headers (no network at build time).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const kernelDir = dirname(fileURLToPath(import.meta.url));
const nodeDir = dirname(dirname(process.execPath));
if (!existsSync(join(nodeDir, "include", "node", "node_api.h"))) {
  console.error(`llm-expo: Node headers not found under ${nodeDir}/include/node; install the Node development headers`);
  process.exit(1);
}
const localGyp = join(kernelDir, "..", "node_modules", "node-gyp", "bin", "node-gyp.js");
const gyp = existsSync(localGyp) ? localGyp : process.env.npm_config_node_gyp;
if (!gyp) {
  console.error("llm-expo: node-gyp not found (run npm ci)");
  process.exit(1);
}
const r = spawnSync(process.execPath, [gyp, "rebuild", `--nodedir=${nodeDir}`, "--release"], {
  cwd: kernelDir,
  stdio: "inherit",
});
process.exit(r.status ?? 1);
