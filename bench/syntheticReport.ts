// A unit report as a worker would send it for a unit of a plan, with values of the real report's shape and
// precision: plausible statistics for each extrapolated segment (full-precision doubles), one part per output
// with an MD5-sized ETag, a base64 SHA-256 part checksum and a hex SHA-256. What the journal stores 100k of.
import { createHash } from "node:crypto";
import type { UnitReport } from "../core/leaseService.js";
import type { WorkUnit } from "../core/plan.js";

export function syntheticReport(unit: WorkUnit, outputs: number, random: () => number = Math.random): UnitReport {
  // One digest per unit (the lease benchmark's load generator makes these by the thousand per second).
  const digest = createHash("sha256").update(`${unit.id} ${random()}`).digest();
  const hex = digest.toString("hex");
  const length = unit.dataEnd - unit.dataStart;
  return {
    unitId: unit.id,
    segments: unit.segments
      .filter((s) => s.action === "extrapolate")
      .map((s) => ({
        tensor: s.tensor,
        stats: {
          sumA2: s.count * 2.5e-4 * (1 + random() * 1e-3),
          sumB2: s.count * 2.4e-4 * (1 + random() * 1e-3),
          sumD2: s.count * 1.1e-7 * (1 + random() * 1e-3),
          sumOut2: s.alphas.map(() => s.count * 2.6e-4 * (1 + random() * 1e-3)),
          maxAbsDiff: 0.0123 + random() * 1e-3,
          nonfiniteInputs: 0,
          nonfiniteOutputs: 0,
        },
      })),
    parts: Array.from({ length: outputs }, (_, k) => ({
      output: k,
      partNumber: unit.partNumber,
      etag: `"${hex.slice(0, 32)}"`,
      checksumSha256: digest.toString("base64"),
      sha256: hex,
      offset: unit.dataStart,
      size: length,
    })),
    bytes: { aligned: length, base: unit.baseLength, written: length * outputs },
    seconds: { fetch: 0.05 + random() * 0.05, compute: 0.02 + random() * 0.01, upload: 0.04 + random() * 0.05 },
  };
}
