#!/usr/bin/env node
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { exitCodeFor } from "../core/errors.js";
import { coordinatorCommand } from "./commands/coordinator.js";
import { demoCommand } from "./commands/demo.js";
import { makeExampleCommand } from "./commands/makeExample.js";
import { planCommand } from "./commands/plan.js";
import { runCommand } from "./commands/run.js";
import { statsCommand } from "./commands/stats.js";
import { sweepCommand } from "./commands/sweep.js";
import { sweepReportCommand } from "./commands/sweepReport.js";
import { sweepWaitCommand } from "./commands/sweepWait.js";
import { verifyCommand } from "./commands/verify.js";
import { workerCommand } from "./commands/worker.js";
import { globalOptions } from "./globalOptions.js";

// Reads, kernel calls, hashes and writes of several units share the libuv pool; 4 threads (the
// default) would queue them behind each other. Set before the pool's first use.
process.env.UV_THREADPOOL_SIZE ??= "12";

let usageFailure = false;
try {
  await globalOptions(yargs(hideBin(process.argv)))
    .scriptName("llm-expo")
    .usage("$0 <command> [options]\n\nExPO model extrapolation: θ2 = θ1 + α(θ1 − θ0), streamed and bit-exact.")
    .command(runCommand)
    .command(planCommand)
    .command(verifyCommand)
    .command(statsCommand)
    .command(sweepCommand)
    .command(sweepWaitCommand)
    .command(sweepReportCommand)
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
  // yargs puts the details of a bad choice on later lines ("Invalid values:\n  Argument: arith, Given: …").
  const line = usageFailure
    ? message
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean)
        .join(" ")
    : message.split("\n")[0];
  process.stderr.write(`llm-expo: ${line}\n`);
  process.exitCode = usageFailure ? 2 : exitCodeFor(e);
}
