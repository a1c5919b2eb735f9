// `llm-expo stats`: norms of base vs aligned per tensor and for the whole model; writes nothing.
import { loadCheckpoint } from "../checkpoint/loadCheckpoint.js";
import { pairTensors } from "../checkpoint/pairTensors.js";
import type { KernelDevice } from "../core/device.js";
import type { JobSpec } from "../core/jobSpec.js";
import type { Statistics } from "../core/report.js";
import type { SegmentResult } from "../engine/computeUnit.js";
import { computeUnits } from "../engine/computeUnits.js";
import { planJob } from "../plan/planJob.js";
import { aggregateStatistics } from "../report/aggregateStatistics.js";
import { tensorShapes } from "../report/buildReport.js";
import { openStorage } from "../storage/openStorage.js";
import type { StorageSettings } from "../storage/s3Settings.js";

export interface StatsOptions {
  concurrency: number;
  device: KernelDevice;
  storage: StorageSettings;
}

export interface CheckpointStatistics extends Statistics {
  base: string;
  aligned: string;
}

export async function collectStats(
  spec: Pick<JobSpec, "base" | "aligned" | "unitSize" | "include" | "exclude">,
  options: StatsOptions,
): Promise<CheckpointStatistics> {
  const base = await loadCheckpoint(openStorage(spec.base, options.storage), "base");
  const aligned = await loadCheckpoint(openStorage(spec.aligned, options.storage), "aligned");
  try {
    const pairing = pairTensors(aligned, base);
    // Alpha 0 in place: the kernel's statistics are what we want; its output is discarded.
    const full: JobSpec = {
      ...spec,
      alphas: [0],
      outs: [],
      arith: "fp32",
      alphaRules: [],
      onNonfinite: "warn",
      overwrite: false,
      drop: [],
      outDtype: null,
    };
    // Tensors without a base counterpart have no statistics: left out instead of refused.
    const plan = planJob({ spec: full, aligned, base, pairing, limits: aligned.storage.limits, alignedOnly: "drop" });
    const byUnit = new Map<number, SegmentResult[]>();
    await computeUnits(
      {
        units: plan.units,
        aligned: aligned.storage,
        base: base.storage,
        how: { arith: "fp32", device: options.device },
        buffers: { ...plan, outputs: 1 },
        concurrency: options.concurrency,
      },
      (unit, _outs, segments) => {
        byUnit.set(unit.id, segments);
      },
    );
    const stats = aggregateStatistics(plan, (id) => byUnit.get(id) ?? [], 0, tensorShapes(aligned));
    return { base: base.storage.location, aligned: aligned.storage.location, ...stats };
  } finally {
    await Promise.all([base.storage.close(), aligned.storage.close()]);
  }
}
