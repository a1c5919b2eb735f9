import { PermanentUnitError } from "../core/errors.js";
import type { NonfinitePolicy } from "../core/jobSpec.js";
import type { WorkUnit } from "../core/plan.js";
import type { SegmentResult } from "./computeUnit.js";

/** --on-nonfinite error: fails the unit (for good) before anything is uploaded. */
export function checkNonfinite(
  unit: WorkUnit,
  segments: readonly SegmentResult[],
  policy: NonfinitePolicy,
  aligned: string,
): void {
  if (policy !== "error") return;
  for (const { tensor, stats } of segments) {
    if (stats.nonfiniteInputs > 0 || stats.nonfiniteOutputs > 0) {
      const what =
        stats.nonfiniteInputs > 0
          ? `${stats.nonfiniteInputs} element(s) non-finite in base or aligned`
          : `${stats.nonfiniteOutputs} non-finite output value(s) from finite inputs`;
      throw new PermanentUnitError(
        `${aligned}/${unit.shard}: tensor ${tensor}: ${what} (use --on-nonfinite warn to write them anyway)`,
      );
    }
  }
}
