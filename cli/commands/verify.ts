import type { Argv, CommandModule } from "yargs";
import { JobError, UsageError } from "../../core/errors.js";
import { verifyOutput } from "../../inspect/verifyOutput.js";
import type { OptionsOf } from "../argsOf.js";
import { type GlobalOptions, loggerFor, storageSettings } from "../globalOptions.js";
import { formatBytes } from "../parseSize.js";

const builder = (y: Argv<GlobalOptions>) =>
  y
    .option("base", { type: "string", demandOption: true })
    .option("aligned", { type: "string", demandOption: true })
    .option("out", { type: "string", demandOption: true, describe: "the output to check" })
    .option("sample", { type: "number", default: 1, describe: "fraction of units to recompute, e.g. 0.05" })
    .option("seed", { type: "number", default: 1 });

export const verifyCommand: CommandModule<GlobalOptions, OptionsOf<typeof builder>> = {
  command: "verify",
  describe:
    "recompute an output (all units or --sample) from its inputs and compare bits, headers, index and checksums",
  builder,
  handler: async (argv) => {
    if (!(argv.sample > 0 && argv.sample <= 1)) throw new UsageError(`--sample ${argv.sample}: must be in (0, 1]`);
    const result = await verifyOutput({
      base: argv.base,
      aligned: argv.aligned,
      out: argv.out,
      sample: argv.sample,
      seed: argv.seed,
      concurrency: 1,
      // Outputs are the same bits on either device; the CPU is always there.
      device: "cpu",
      storage: storageSettings(argv, loggerFor(argv)),
    });
    if (argv.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } else {
      for (const p of result.problems) process.stdout.write(`MISMATCH ${p}\n`);
      process.stdout.write(
        `${result.ok ? "OK" : "FAILED"}: ${result.unitsChecked}/${result.unitsTotal} units recomputed, ${formatBytes(result.bytesCompared)} compared bit for bit\n`,
      );
    }
    if (!result.ok) throw new JobError(`${argv.out}: verification failed: ${result.problems[0]}`);
  },
};
