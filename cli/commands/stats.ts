import { basename, dirname } from "node:path";
import type { Argv, CommandModule } from "yargs";
import { RELATIVE_SHIFT_DEFINITION } from "../../core/report.js";
import { collectStats } from "../../inspect/collectStats.js";
import { renderShiftSvg } from "../../inspect/renderShiftSvg.js";
import { shiftByLayer, type TensorKind } from "../../inspect/shiftByLayer.js";
import { openStorage } from "../../storage/openStorage.js";
import type { OptionsOf } from "../argsOf.js";
import { positive } from "../executionOptions.js";
import { type GlobalOptions, loggerFor, storageSettings } from "../globalOptions.js";
import { jobOptions, resolveJobSpec } from "../jobOptions.js";

const builder = (y: Argv<GlobalOptions>) =>
  jobOptions(y)
    .option("top", { type: "number", default: 10, describe: "tensors with the largest relative shift to list" })
    .option("concurrency", { type: "number", default: 2 })
    .option("plot", {
      type: "string",
      describe: "write an SVG of the relative shift per layer and kind of tensor (a file, or s3://bucket/key.svg)",
    });

export const statsCommand: CommandModule<GlobalOptions, OptionsOf<typeof builder>> = {
  command: "stats",
  describe: "norms of base vs aligned per tensor, per layer and kind, and for the model (writes nothing but --plot)",
  builder,
  handler: async (argv) => {
    const spec = await resolveJobSpec(argv, false);
    const storage = storageSettings(argv, loggerFor(argv));
    // Refused before the (long) pass over the checkpoints when the plot cannot be written there.
    const plotTo = argv.plot === undefined ? undefined : openStorage(dirname(argv.plot), storage);
    try {
      await plotTo?.checkWritable();
      const stats = await collectStats(spec, {
        concurrency: positive(argv.concurrency, "--concurrency"),
        // The CPU's sums: the same figures on every machine (GPU sums differ in the last bits, docs/arithmetic.md).
        device: "cpu",
        storage,
      });
      const groups = shiftByLayer(stats.tensors);
      const m = stats.model;
      if (plotTo && argv.plot) {
        const title = `Relative shift of ${basename(stats.aligned)} from ${basename(stats.base)}, per layer and kind of tensor`;
        const svg = renderShiftSvg(groups, { relativeShift: m.relativeShift, tensors: m.tensorsExtrapolated }, title);
        await plotTo.writeSmall(basename(argv.plot), Buffer.from(svg));
      }
      if (argv.json) {
        process.stdout.write(
          `${JSON.stringify({ ...stats, byLayer: groups, definitions: { relativeShift: RELATIVE_SHIFT_DEFINITION } })}\n`,
        );
        return;
      }
      process.stdout.write(
        `base ${stats.base}\naligned ${stats.aligned}\n` +
          `|θ0| ${m.normBase.toPrecision(6)}  |θ1| ${m.normAligned.toPrecision(6)}  |Δ| ${m.normDelta.toPrecision(6)}  |Δ|/|θ0| ${m.relativeShift.toExponential(3)}  max|Δ| ${m.maxAbsDiff.toExponential(3)}\n` +
          `${m.tensorsExtrapolated} float tensors compared, ${m.tensorsCopied} other; non-finite elements: ${m.nonfiniteInputs}\n` +
          `relative shift of the model ${m.relativeShift.toExponential(4)} = ${RELATIVE_SHIFT_DEFINITION}\n`,
      );
      const byKind = kindTotals(groups);
      process.stdout.write(
        `by kind: ${byKind.map(([k, v]) => `${k} ${v.toExponential(3)}`).join(", ")} (the same ratio over each kind's tensors)\n`,
      );
      if (plotTo) process.stdout.write(`plot: ${plotTo.location}/${basename(argv.plot as string)}\n`);
      const top = Object.entries(stats.tensors)
        .sort((a, b) => b[1].relativeShift - a[1].relativeShift)
        .slice(0, Math.max(0, argv.top));
      if (top.length > 0) process.stdout.write("largest relative shift:\n");
      for (const [name, t] of top) {
        process.stdout.write(`  ${t.relativeShift.toExponential(3)}  ${name} ${t.dtype}${JSON.stringify(t.shape)}\n`);
      }
    } finally {
      await plotTo?.close();
    }
  },
};

/** The ratio over every tensor of a kind, all layers together. */
function kindTotals(groups: ReturnType<typeof shiftByLayer>): Array<[TensorKind, number]> {
  const sums = new Map<TensorKind, { b2: number; d2: number }>();
  for (const g of groups) {
    const s = sums.get(g.kind) ?? { b2: 0, d2: 0 };
    s.b2 += g.normBase ** 2;
    s.d2 += g.normDelta ** 2;
    sums.set(g.kind, s);
  }
  return [...sums].map(([k, s]) => [k, s.b2 > 0 ? Math.sqrt(s.d2 / s.b2) : 0]);
}
