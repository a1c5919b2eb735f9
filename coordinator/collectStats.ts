// `llm-expo stats`: norms of base vs aligned per tensor and for the whole model; writes nothing.
import { loadCheckpoint } from "../checkpoint/loadCheckpoint.js";
import { pairTensors } from "../checkpoint/pairTensors.js";
import { openStorage } from "../storage/openStorage.js";
import type { SegmentResult } from "../worker/computeUnit.js";
import { computeUnits } from "../worker/computeUnits.js";
import { aggregateStatistics } from "./buildReport.js";
import type { JobSpec } from "./jobSpec.js";
import { planJob } from "./planJob.js";

export async function collectStats(
  spec: Pick<JobSpec, "base" | "aligned" | "unitSize" | "include" | "exclude">,
  concurrency: number,
) {
  const base = await loadCheckpoint(openStorage(spec.base), "base");
  const aligned = await loadCheckpoint(openStorage(spec.aligned), "aligned");
  try {
    const pairs = pairTensors(aligned, base);
    // Alpha 0 in place: the kernel's statistics are what we want; its output is discarded.
    const full: JobSpec = {
      ...spec,
      alphas: [0],
      outs: [],
      arith: "fp32",
      alphaRules: [],
      onNonfinite: "warn",
      overwrite: false,
    };
    const plan = planJob({ spec: full, aligned, base, pairs, limits: aligned.storage.limits });
    const byUnit = new Map<number, SegmentResult[]>();
    await computeUnits(
      {
        units: plan.units,
        aligned: aligned.storage,
        base: base.storage,
        arith: "fp32",
        outputs: 1,
        maxUnitBytes: plan.maxUnitBytes,
        maxBaseBytes: plan.maxBaseBytes,
        concurrency,
      },
      (unit, _buffers, segments) => {
        byUnit.set(unit.id, segments);
      },
    );
    const stats = aggregateStatistics(plan, (id) => byUnit.get(id) ?? [], 0, aligned);
    return { base: base.storage.location, aligned: aligned.storage.location, ...stats };
  } finally {
    await Promise.all([base.storage.close(), aligned.storage.close()]);
  }
}
