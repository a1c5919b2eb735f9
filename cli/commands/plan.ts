import type { Argv, CommandModule } from "yargs";
import type { Compatibility } from "../../core/plan.js";
import { unitBufferBytes } from "../../engine/unitBuffers.js";
import { prepareJob } from "../../plan/prepareJob.js";
import type { OptionsOf } from "../argsOf.js";
import { executionOptions, memoryBudget, positive } from "../executionOptions.js";
import { type GlobalOptions, loggerFor, storageSettings } from "../globalOptions.js";
import { jobOptions, resolveJobSpec } from "../jobOptions.js";
import { formatBytes } from "../parseSize.js";
import { localUnitsInFlight } from "../runLocally.js";

const builder = (y: Argv<GlobalOptions>) => executionOptions(jobOptions(y));

export const planCommand: CommandModule<GlobalOptions, OptionsOf<typeof builder>> = {
  command: "plan",
  describe: "validate the inputs and list the work units and bytes (writes nothing)",
  builder,
  handler: async (argv) => {
    const spec = await resolveJobSpec(argv);
    const job = await prepareJob(spec, { storage: storageSettings(argv, loggerFor(argv)), forWriting: false });
    const { plan, aligned, base } = job;
    await Promise.all([aligned.storage.close(), base.storage.close()]);
    const k = plan.outputs.length;
    // What `run` would keep in flight with these flags.
    const slots = localUnitsInFlight(job, {
      workers: positive(argv.workers, "--workers"),
      concurrency: positive(argv.concurrency, "--concurrency"),
      memoryBudget: memoryBudget(argv.memoryBudget),
    });
    const memoryPerSlot = unitBufferBytes({ ...plan, outputs: k });
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
      const units = Array.from(plan.units, (u) => ({
        id: u.id,
        shard: u.shard,
        part: u.partNumber,
        dataStart: u.dataStart,
        dataEnd: u.dataEnd,
        baseBytes: u.baseLength,
        baseReads: u.baseReads.length,
        alignedReads: u.alignedReads.length,
        segments: u.segments.map((s) => ({
          tensor: s.tensor,
          action: s.action,
          elemStart: s.elemStart,
          count: s.count,
          ...(s.dtype !== s.outDtype || s.baseDtype !== s.dtype
            ? { dtype: s.dtype, baseDtype: s.baseDtype, outDtype: s.outDtype }
            : {}),
        })),
      }));
      const outputLocations = plan.outputs.map((o) => o.location);
      const layout = { indexed: plan.layout.indexed, sameAsAligned: plan.layout.sameAsAligned };
      process.stdout.write(
        `${JSON.stringify({ ...estimate, compatibility: plan.compatibility, layout, units, outputLocations })}\n`,
      );
      return;
    }
    for (const line of compatibilityLines(plan.compatibility)) process.stdout.write(`${line}\n`);
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

/** One line per kind of difference between the checkpoints, with counts (the names are in --json). */
function compatibilityLines(c: Compatibility): string[] {
  const name = (f: string) => (f === "torch" ? "pytorch_model*.bin (torch.save)" : "safetensors");
  const lines = [`inputs: base ${name(c.formats.base)}, aligned ${name(c.formats.aligned)}`];
  if (c.dtypes.length > 0) {
    const kinds = new Map<string, number>();
    for (const d of c.dtypes) {
      const from = d.base && d.base !== d.aligned ? `aligned ${d.aligned} + base ${d.base}` : `aligned ${d.aligned}`;
      const key = `${from} → ${d.out}`;
      kinds.set(key, (kinds.get(key) ?? 0) + 1);
    }
    const what = [...kinds].map(([k, n]) => `${k} (${n})`).join(", ");
    lines.push(`dtype conversions: ${c.dtypes.length} tensor(s): ${what}`);
  }
  if (c.resized.length > 0) {
    const rows = (f: (r: Compatibility["resized"][number]) => number) => c.resized.reduce((n, r) => n + f(r), 0);
    lines.push(
      `resized vocabulary: ${c.resized.length} tensor(s): ${rows((r) => r.extrapolatedRows)} row(s) extrapolated, ${rows((r) => r.copiedRows)} copied from aligned`,
    );
  }
  const counted: Array<[string, number]> = [
    ["excluded (copied from aligned)", c.excluded.length],
    ["dropped (--drop)", c.dropped.length],
    ["only in aligned (copied)", c.alignedOnly.length],
    ["only in base (skipped)", c.baseOnly.length],
  ];
  for (const [what, n] of counted) if (n > 0) lines.push(`${what}: ${n} tensor(s)`);
  if (c.tied.length > 0) {
    const n = c.tied.reduce((x, g) => x + g.length, 0);
    lines.push(`tied (shared bytes in a .bin; written separately): ${c.tied.length} group(s) of ${n} tensors`);
  }
  return lines;
}
