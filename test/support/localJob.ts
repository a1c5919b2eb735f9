import { join } from "node:path";
import { jobSpecWith } from "../../core/jobSpec.js";
import { type PreparedJob, prepareJob } from "../../plan/prepareJob.js";
import { LOCAL_STORAGE } from "./storageSettings.js";

/** A plain fp32 job over `root`/sft and `root`/dpo (one α, 0.3) into `out`, prepared for writing. */
export function prepareLocalJob(root: string, out: string, unitSize: number): Promise<PreparedJob> {
  const spec = jobSpecWith({
    base: join(root, "sft"),
    aligned: join(root, "dpo"),
    alphas: [0.3],
    outs: [out],
    unitSize,
  });
  return prepareJob(spec, { storage: LOCAL_STORAGE, forWriting: true });
}
