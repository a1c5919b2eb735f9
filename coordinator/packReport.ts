// A unit report as the journal stores it: only what the plan cannot give back. The tensor names, part numbers,
// offsets, sizes and byte counts follow from the plan (unpackReport.ts), so a 100k-unit journal is a third of
// the size of the reports' JSON and replays in a fraction of the time.
import type { UnitReport } from "../core/leaseService.js";

/** JSON has no infinities or NaN: a sum that overflowed is stored as its name. */
export type PackedNumber = number | "Infinity" | "-Infinity" | "NaN";

/**
 * [unit id, the statistics of its extrapolated segments flattened in segment order (sumA2, sumB2, sumD2,
 * sumOut2 per output, maxAbsDiff, nonfiniteInputs, nonfiniteOutputs), per part [output, etag, server checksum
 * or "", sha256], [fetch, compute, upload] seconds].
 */
export type PackedReport = [number, PackedNumber[], Array<[number, string, string, string]>, [number, number, number]];

export function packReport(r: UnitReport): PackedReport {
  const stats: PackedNumber[] = [];
  for (const { stats: s } of r.segments) {
    for (const x of [s.sumA2, s.sumB2, s.sumD2, ...s.sumOut2, s.maxAbsDiff, s.nonfiniteInputs, s.nonfiniteOutputs])
      stats.push(Number.isFinite(x) ? x : (String(x) as PackedNumber));
  }
  return [
    r.unitId,
    stats,
    r.parts.map((p) => [p.output, p.etag, p.checksumSha256 ?? "", p.sha256]),
    [r.seconds.fetch, r.seconds.compute, r.seconds.upload],
  ];
}
