// Jobs at the scale of real checkpoints, headers only (harness/layoutCheckpoint.ts): Llama-3-70B (30 aligned
// shards vs 29 base shards), Llama-3.1/Tulu-3-405B (191 vs 190) and DeepSeek-V3 (163 vs 163, ~92k tensors),
// planned with the S3 part limits, as the coordinator would plan them.
import { pairTensors } from "../checkpoint/pairTensors.js";
import type { Checkpoint } from "../checkpoint/types.js";
import { type JobSpec, jobSpecWith } from "../core/jobSpec.js";
import type { JobPlan } from "../core/plan.js";
import {
  deepseekV3Tensors,
  layoutCheckpoint,
  llama70bTensors,
  llama405bTensors,
  shardEvenly,
} from "../harness/layoutCheckpoint.js";
import { planJob } from "../plan/planJob.js";
import type { StorageLimits } from "../storage/types.js";

const MiB = 1024 * 1024;
export const S3_LIMITS: StorageLimits = { minPartSize: 5 * MiB, maxPartSize: 5 * 1024 * MiB, maxParts: 10_000 };

export type ScaleLayout = "llama-70b" | "llama-405b" | "deepseek-v3";

export interface ScaleJob {
  layout: ScaleLayout;
  spec: JobSpec;
  aligned: Checkpoint;
  base: Checkpoint;
  plan: JobPlan;
  /** pairTensors + planJob (the headers are built before, outside the timing). */
  planSeconds: number;
}

const SHAPES: Record<
  ScaleLayout,
  { tensors: () => ReturnType<typeof llama70bTensors>; aligned: number; base: number }
> = {
  "llama-70b": { tensors: llama70bTensors, aligned: 30, base: 29 },
  "llama-405b": { tensors: llama405bTensors, aligned: 191, base: 190 },
  "deepseek-v3": { tensors: deepseekV3Tensors, aligned: 163, base: 163 },
};

export function scaleJob(layout: ScaleLayout, unitSize: number): ScaleJob {
  const shape = SHAPES[layout];
  const tensors = shape.tensors();
  const aligned = layoutCheckpoint("s3://bench/aligned", shardEvenly(tensors, shape.aligned));
  const base = layoutCheckpoint("s3://bench/base", shardEvenly(tensors, shape.base));
  const spec = jobSpecWith({
    base: "s3://bench/base",
    aligned: "s3://bench/aligned",
    alphas: [0.3],
    outs: ["s3://bench/out"],
    unitSize,
  });
  const t0 = performance.now();
  const plan = planJob({ spec, aligned, base, pairing: pairTensors(aligned, base), limits: S3_LIMITS });
  return { layout, spec, aligned, base, plan, planSeconds: (performance.now() - t0) / 1000 };
}
