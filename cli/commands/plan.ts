import type { Argv, CommandModule } from "yargs";
import { prepareJob } from "../../plan/prepareJob.js";
import type { OptionsOf } from "../argsOf.js";
import { executionOptions, positive } from "../executionOptions.js";
import { type GlobalOptions, loggerFor, storageSettings } from "../globalOptions.js";
import { jobOptions, resolveJobSpec } from "../jobOptions.js";
import { formatBytes } from "../parseSize.js";

const builder = (y: Argv<GlobalOptions>) => executionOptions(jobOptions(y));

export const planCommand: CommandModule<GlobalOptions, OptionsOf<typeof builder>> = {
  command: "plan",
  describe: "validate the inputs and list the work units and bytes (writes nothing)",
  builder,
  handler: async (argv) => {
    const spec = await resolveJobSpec(argv);
    const { plan, aligned, base } = await prepareJob(spec, {
      storage: storageSettings(argv, loggerFor(argv)),
      forWriting: false,
    });
    await Promise.all([aligned.storage.close(), base.storage.close()]);
    const k = plan.outputs.length;
    const slots = positive(argv.workers, "--workers") * positive(argv.concurrency, "--concurrency");
    const memoryPerSlot = plan.maxUnitBytes + plan.maxBaseBytes + (k > 1 ? k * plan.maxUnitBytes : 0);
    const estimate = {
      units: plan.units.length,
      shards: plan.shards.length,
      outputs: k,
      unitSize: plan.unitSize,
      tensorsExtrapolated: plan.tensors.extrapolated,
      tensorsCopied: plan.tensors.copied,
      bytesRead: { aligned: plan.bytes.alignedRead, base: plan.bytes.baseRead },
      bytesWritten: plan.bytes.writtenPerOutput * k,
      bufferBytes: memoryPerSlot * slots,
    };
    if (argv.json) {
      const units = plan.units.map((u) => ({
        id: u.id,
        shard: u.shard,
        part: u.partNumber,
        dataStart: u.dataStart,
        dataEnd: u.dataEnd,
        baseBytes: u.baseLength,
        baseReads: u.baseReads.length,
        segments: u.segments.map((s) => ({
          tensor: s.tensor,
          action: s.action,
          elemStart: s.elemStart,
          count: s.count,
        })),
      }));
      process.stdout.write(
        `${JSON.stringify({ ...estimate, units, outputLocations: plan.outputs.map((o) => o.location) })}\n`,
      );
      return;
    }
    for (const s of plan.shards) {
      process.stdout.write(`${s.file}: ${formatBytes(s.dataLength)} in ${s.unitIds.length} unit(s)\n`);
    }
    process.stdout.write(
      `${estimate.units} units of up to ${formatBytes(plan.unitSize)}; ${estimate.tensorsExtrapolated} tensors extrapolated, ${estimate.tensorsCopied} copied\n` +
        `read ${formatBytes(plan.bytes.alignedRead)} aligned + ${formatBytes(plan.bytes.baseRead)} base; write ${formatBytes(estimate.bytesWritten)} to ${k} output(s)\n` +
        `unit buffers: ${formatBytes(estimate.bufferBytes)} (${slots} unit(s) in flight)\n`,
    );
  },
};
