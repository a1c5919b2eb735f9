#!/usr/bin/env node
import yargs, { type Argv, type CommandModule } from "yargs";
import { hideBin } from "yargs/helpers";
import { exitCodeFor } from "../core/errors.js";
import { type GlobalOptions, globalOptions } from "./globalOptions.js";
import { limitHeapGrowth } from "./v8Heap.js";

// Reads, kernel calls, hashes and writes of several units share the libuv pool; 4 threads (the
// default) would queue them behind each other. Set before the pool's first use.
process.env.UV_THREADPOOL_SIZE ??= "12";
limitHeapGrowth();

// Each command's module is loaded only when that command runs (all of them for help or a mistyped command):
// a command's dependencies (gRPC, prom-client, the sweep, the AWS SDK) cost start-up time to every other one.
type Register = (y: Argv<GlobalOptions>) => Argv<GlobalOptions>;
type Loader = () => Promise<Register>;
const register =
  <U>(command: CommandModule<GlobalOptions, U>): Register =>
  (y) =>
    y.command(command);
const COMMANDS: Record<string, Loader> = {
  run: async () => register((await import("./commands/run.js")).runCommand),
  plan: async () => register((await import("./commands/plan.js")).planCommand),
  verify: async () => register((await import("./commands/verify.js")).verifyCommand),
  stats: async () => register((await import("./commands/stats.js")).statsCommand),
  sweep: async () => register((await import("./commands/sweep.js")).sweepCommand),
  "sweep-wait": async () => register((await import("./commands/sweepWait.js")).sweepWaitCommand),
  "sweep-report": async () => register((await import("./commands/sweepReport.js")).sweepReportCommand),
  coordinator: async () => register((await import("./commands/coordinator.js")).coordinatorCommand),
  worker: async () => register((await import("./commands/worker.js")).workerCommand),
  "make-example": async () => register((await import("./commands/makeExample.js")).makeExampleCommand),
  demo: async () => register((await import("./commands/demo.js")).demoCommand),
};

const args = hideBin(process.argv);
const named = args.find((a) => !a.startsWith("-"));
const wanted = named !== undefined && named in COMMANDS ? [named] : Object.keys(COMMANDS);

let usageFailure = false;
try {
  let cli = globalOptions(yargs(args))
    .scriptName("llm-expo")
    .usage("$0 <command> [options]\n\nExPO model extrapolation: θ2 = θ1 + α(θ1 − θ0), streamed and bit-exact.");
  for (const add of await Promise.all(wanted.map((name) => (COMMANDS[name] as Loader)()))) cli = add(cli);
  await cli
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
