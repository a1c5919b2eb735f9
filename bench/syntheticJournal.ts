// What the journal benchmarks write before the units: the start record a coordinator journals for a job (its
// identity, input versions and an upload id per output shard), and the seeded randomness of their reports.
import { jobIdentity } from "../coordinator/jobIdentity.js";
import type { JournalStart } from "../coordinator/journal.js";
import type { JobSpec } from "../core/jobSpec.js";
import type { JobPlan } from "../core/plan.js";

export function syntheticStart(spec: JobSpec, plan: JobPlan): JournalStart {
  const identity = jobIdentity(spec, plan.inputVersions);
  return {
    type: "start",
    version: 2,
    jobId: identity.jobId,
    specHash: identity.specHash,
    tool: { name: "llm-expo", version: "bench" },
    createdAt: new Date().toISOString(),
    inputs: plan.inputVersions,
    uploads: plan.outputs.map((o) => Object.fromEntries(o.shards.map((s) => [s.file, `upload-${s.file}`]))),
  };
}

/** The same numbers in every run (a Lehmer generator), in [0, 1). */
export function seededRandom(seed = 1): () => number {
  let state = seed;
  return () => {
    state = (state * 16807) % 2147483647;
    return state / 2147483647;
  };
}
