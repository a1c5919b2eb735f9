// The report location must not lie in an input (inputs are never modified) nor in a candidate (--keep best
// deletes candidates, and a report inside one would go with it): a usage error before anything is written.
import { sep } from "node:path";
import { UsageError } from "../core/errors.js";
import type { Storage } from "../storage/types.js";

export async function checkReportLocation(
  report: Storage,
  inputs: readonly Storage[],
  candidates: readonly Storage[],
): Promise<void> {
  const where = await report.realLocation();
  const inside = (outer: string) => where === outer || where.startsWith(outer + sep) || where.startsWith(`${outer}/`);
  for (const [kind, list] of [
    ["input", inputs],
    ["candidate", candidates],
  ] as const) {
    for (const s of list) {
      const real = await s.realLocation();
      if (inside(real)) throw new UsageError(`--report ${report.location}: inside the ${kind} ${s.location}`);
    }
  }
  await report.checkWritable();
}
