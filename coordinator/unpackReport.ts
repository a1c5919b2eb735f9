// A journal's packed unit report back to the UnitReport the worker sent, with what the plan knows filled in
// (packReport.ts says what is stored). A report that does not fit its unit means the journal is not this job's.
import { UsageError } from "../core/errors.js";
import type { PartReport, UnitReport } from "../core/leaseService.js";
import { type JobPlan, type OutputShard, partOffset } from "../core/plan.js";
import type { PackedNumber, PackedReport } from "./packReport.js";

/** Output shards by output and file, per plan: looked up once per part of 100k units. */
const shardsOf = new WeakMap<JobPlan, Array<Map<string, OutputShard>>>();

export function unpackReport(packed: PackedReport, plan: JobPlan, where: string): UnitReport {
  const [unitId, stats, parts, [fetch, compute, upload]] = packed;
  const unit = plan.units.get(unitId);
  const extrapolated = unit?.segments.filter((s) => s.action === "extrapolate") ?? [];
  const k = plan.outputs.length;
  const per = 6 + k;
  if (!unit || stats.length !== extrapolated.length * per)
    throw new UsageError(
      `${where}: the report of unit ${unitId} does not fit this job's plan (remove the journal to start over)`,
    );
  const n = (i: number) => Number(stats[i] as PackedNumber);
  let shards = shardsOf.get(plan);
  if (!shards) {
    shards = plan.outputs.map((o) => new Map(o.shards.map((s) => [s.file, s])));
    shardsOf.set(plan, shards);
  }
  const length = unit.dataEnd - unit.dataStart;
  const partReports = parts.map(([output, etag, checksum, sha256]): PartReport => {
    const shard = shards[output]?.get(unit.shard);
    if (!shard) throw new UsageError(`${where}: unit ${unitId} names output ${output}, which this job does not have`);
    return {
      output,
      partNumber: unit.partNumber,
      etag,
      ...(checksum === "" ? {} : { checksumSha256: checksum }),
      sha256,
      offset: partOffset(unit, shard),
      size: (unit.partNumber === 1 ? shard.header.length : 0) + length,
    };
  });
  return {
    unitId,
    segments: extrapolated.map((s, i) => {
      const at = i * per;
      return {
        tensor: s.tensor,
        stats: {
          sumA2: n(at),
          sumB2: n(at + 1),
          sumD2: n(at + 2),
          sumOut2: Array.from({ length: k }, (_, j) => n(at + 3 + j)),
          maxAbsDiff: n(at + 3 + k),
          nonfiniteInputs: n(at + 4 + k),
          nonfiniteOutputs: n(at + 5 + k),
        },
      };
    }),
    parts: partReports,
    bytes: { aligned: length, base: unit.baseLength, written: partReports.reduce((s, p) => s + p.size, 0) },
    seconds: { fetch, compute, upload },
  };
}
