// A job's identity: what it computes (the spec, less --overwrite) and from which input versions. A
// restarted coordinator with the same spec over unchanged inputs has the same job id, so its
// journal and its workers carry on; anything else is a different job.
import { createHash } from "node:crypto";
import type { JobSpec } from "../core/jobSpec.js";
import type { JobPlan } from "../core/plan.js";

export function jobIdentity(
  spec: JobSpec,
  inputVersions: JobPlan["inputVersions"],
): { jobId: string; specHash: string } {
  const { overwrite: _, ...what } = spec;
  const specHash = sha256(JSON.stringify(what));
  const jobId = sha256(JSON.stringify({ specHash, inputVersions: sorted(inputVersions) })).slice(0, 24);
  return { jobId, specHash };
}

function sorted(v: JobPlan["inputVersions"]): unknown {
  const order = (r: Record<string, string>) =>
    Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
  return { base: order(v.base), aligned: order(v.aligned) };
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
