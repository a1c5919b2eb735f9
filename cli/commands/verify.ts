import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { JobError, UsageError } from "../../checkpoint/errors.js";
import { verifyOutput } from "../../coordinator/verifyOutput.js";
import { formatBytes } from "../parseSize.js";

interface VerifyArgs {
  base: string;
  aligned: string;
  out: string;
  sample: number;
  seed: number;
  json?: boolean;
}

export const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: "verify",
  describe:
    "recompute an output (all units or --sample) from its inputs and compare bits, headers, index and checksums",
  builder: (y) =>
    y
      .option("base", { type: "string", demandOption: true })
      .option("aligned", { type: "string", demandOption: true })
      .option("out", { type: "string", demandOption: true, describe: "the output to check" })
      .option("sample", { type: "number", default: 1, describe: "fraction of units to recompute, e.g. 0.05" })
      .option("seed", { type: "number", default: 1 }) as unknown as Argv<VerifyArgs>,
  handler: async (argv: ArgumentsCamelCase<VerifyArgs>) => {
    if (!(argv.sample > 0 && argv.sample <= 1)) throw new UsageError(`--sample ${argv.sample}: must be in (0, 1]`);
    const result = await verifyOutput({ ...argv, concurrency: 1 });
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
