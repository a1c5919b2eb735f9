import type { Argv, CommandModule } from "yargs";
import { collectStats } from "../../inspect/collectStats.js";
import type { OptionsOf } from "../argsOf.js";
import { positive } from "../executionOptions.js";
import { type GlobalOptions, loggerFor, storageSettings } from "../globalOptions.js";
import { jobOptions, resolveJobSpec } from "../jobOptions.js";

const builder = (y: Argv<GlobalOptions>) =>
  jobOptions(y)
    .option("top", { type: "number", default: 10, describe: "tensors with the largest relative shift to list" })
    .option("concurrency", { type: "number", default: 2 });

export const statsCommand: CommandModule<GlobalOptions, OptionsOf<typeof builder>> = {
  command: "stats",
  describe: "norms of base vs aligned per tensor and for the model (writes nothing)",
  builder,
  handler: async (argv) => {
    const spec = await resolveJobSpec(argv, false);
    const stats = await collectStats(spec, {
      concurrency: positive(argv.concurrency, "--concurrency"),
      // The CPU's sums: the same figures on every machine (GPU sums differ in the last bits, docs/arithmetic.md).
      device: "cpu",
      storage: storageSettings(argv, loggerFor(argv)),
    });
    if (argv.json) {
      process.stdout.write(`${JSON.stringify(stats)}\n`);
      return;
    }
    const m = stats.model;
    process.stdout.write(
      `base ${stats.base}\naligned ${stats.aligned}\n` +
        `|θ0| ${m.normBase.toPrecision(6)}  |θ1| ${m.normAligned.toPrecision(6)}  |Δ| ${m.normDelta.toPrecision(6)}  |Δ|/|θ0| ${m.relativeShift.toExponential(3)}  max|Δ| ${m.maxAbsDiff.toExponential(3)}\n` +
        `${m.tensorsExtrapolated} float tensors compared, ${m.tensorsCopied} other; non-finite elements: ${m.nonfiniteInputs}\n`,
    );
    const top = Object.entries(stats.tensors)
      .sort((a, b) => b[1].relativeShift - a[1].relativeShift)
      .slice(0, Math.max(0, argv.top));
    if (top.length > 0) process.stdout.write("largest relative shift:\n");
    for (const [name, t] of top) {
      process.stdout.write(`  ${t.relativeShift.toExponential(3)}  ${name} ${t.dtype}${JSON.stringify(t.shape)}\n`);
    }
  },
};
