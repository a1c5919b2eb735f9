// What makes two runs the same sweep: the same inputs (by location and version), the same job options
// that shape the candidates, and the same evaluator command. A journal of another sweep is not reused.
import { createHash } from "node:crypto";
import type { JobSpec } from "../core/jobSpec.js";
import type { JobPlan } from "../core/plan.js";

export function sweepIdentity(
  spec: Pick<JobSpec, "arith" | "include" | "exclude" | "alphaRules" | "onNonfinite">,
  inputs: { base: string; aligned: string; versions: JobPlan["inputVersions"] },
  evaluate: string,
): string {
  const sorted = (r: Record<string, string>) => Object.entries(r).sort(([a], [b]) => a.localeCompare(b));
  const what = {
    base: inputs.base,
    aligned: inputs.aligned,
    versions: { base: sorted(inputs.versions.base), aligned: sorted(inputs.versions.aligned) },
    arith: spec.arith,
    include: spec.include,
    exclude: spec.exclude,
    alphaRules: spec.alphaRules,
    onNonfinite: spec.onNonfinite,
    evaluate,
  };
  return createHash("sha256").update(JSON.stringify(what)).digest("hex").slice(0, 24);
}
