#!/usr/bin/env node
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { exitCodeFor } from "../checkpoint/errors.js";
import { coordinatorCommand } from "./commands/coordinator.js";
import { demoCommand } from "./commands/demo.js";
import { makeExampleCommand } from "./commands/makeExample.js";
import { planCommand } from "./commands/plan.js";
import { runCommand } from "./commands/run.js";
import { statsCommand } from "./commands/stats.js";
import { verifyCommand } from "./commands/verify.js";
import { workerCommand } from "./commands/worker.js";

// Reads, kernel calls, hashes and writes of several units share the libuv pool; 4 threads (the
// default) would queue them behind each other. Set before the pool's first use.
process.env.UV_THREADPOOL_SIZE ??= "12";

let usageFailure = false;
try {
  await yargs(hideBin(process.argv))
    .scriptName("llm-expo")
    .usage("$0 <command> [options]\n\nExPO model extrapolation: θ2 = θ1 + α(θ1 − θ0), streamed and bit-exact.")
    .option("json", { type: "boolean", global: true, describe: "JSON output and JSON-line logs" })
    .option("log-level", {
      choices: ["debug", "info", "warn", "error"] as const,
      global: true,
      default: "info" as const,
    })
    .option("s3-endpoint", { type: "string", global: true, describe: "S3-compatible endpoint URL" })
    .option("s3-path-style", { type: "boolean", global: true, describe: "path-style S3 addressing" })
    .option("s3-part-checksums", {
      type: "boolean",
      global: true,
      describe: "send SHA-256 part checksums (default on; --no-s3-part-checksums for stores that reject them)",
    })
    // As environment variables, so the worker processes `run` starts inherit them.
    .middleware((argv) => {
      if (typeof argv.s3Endpoint === "string") process.env.LLM_EXPO_S3_ENDPOINT = argv.s3Endpoint;
      if (typeof argv.s3PathStyle === "boolean") process.env.LLM_EXPO_S3_PATH_STYLE = String(argv.s3PathStyle);
      if (argv.s3PartChecksums === false) process.env.LLM_EXPO_S3_PART_CHECKSUMS = "off";
    })
    .command(runCommand)
    .command(planCommand)
    .command(verifyCommand)
    .command(statsCommand)
    .command(coordinatorCommand)
    .command(workerCommand)
    .command(makeExampleCommand)
    .command(demoCommand)
    .demandCommand(1, "give a command (see --help)")
    .strict()
    .fail((msg, err) => {
      if (err) throw err;
      usageFailure = true;
      throw new Error(msg);
    })
    .help()
    .parseAsync();
} catch (e) {
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`llm-expo: ${message.split("\n")[0]}\n`);
  process.exitCode = usageFailure ? 2 : exitCodeFor(e);
}
