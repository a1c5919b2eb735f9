// The models a sweep evaluates, in a fixed order every process agrees on (the CLI, and on Kubernetes the
// evaluation Job's pods by their completion index and the report Job): index 0 is the baseline, the aligned
// model itself (α = 0, not written again), then the job's outputs in the job's order.
import type { JobSpec } from "../core/jobSpec.js";
import { openStorage } from "../storage/openStorage.js";
import type { StorageSettings } from "../storage/s3Settings.js";

export interface Candidate {
  index: number;
  alpha: number;
  /** Canonical location (absolute folder or s3:// URL). */
  model: string;
  /** Which output of the job it is; undefined for the baseline. */
  output?: number;
  /** Its evaluator's answer on Kubernetes: RESULTS_FOLDER/resultName under the report location. */
  resultName: string;
}

export const RESULTS_FOLDER = "results";

export function sweepCandidates(
  spec: Pick<JobSpec, "aligned" | "alphas" | "outs">,
  storage: StorageSettings,
): Candidate[] {
  // Only the canonical name is wanted: opening a location reaches nothing.
  const locate = (location: string) => openStorage(location, storage).location;
  return [
    { index: 0, alpha: 0, model: locate(spec.aligned), resultName: "alpha-0.json" },
    ...spec.alphas.map((alpha, k) => ({
      index: k + 1,
      alpha,
      model: locate(spec.outs[k] as string),
      output: k,
      resultName: `alpha-${alpha}.json`,
    })),
  ];
}
