// One unit from inputs to written parts: fetch, compute, the non-finite policy, upload; and the report
// the coordinator journals. The worker wraps this in a lease; nothing here knows about leases.
import type { JobContext, UnitReport } from "../core/leaseService.js";
import type { WorkUnit } from "../core/plan.js";
import type { Storage } from "../storage/types.js";
import { checkNonfinite } from "./checkNonfinite.js";
import { type Arithmetic, computeUnit } from "./computeUnit.js";
import { fetchUnit } from "./fetchUnit.js";
import type { UnitBuffers } from "./unitBuffers.js";
import { uploadUnit } from "./uploadUnit.js";

export interface UnitIo {
  aligned: Storage;
  base: Storage;
  outputs: Storage[];
  buffers: UnitBuffers;
}

/** Called between the phases; a hook that throws fails the unit as that phase would. */
export interface UnitHooks {
  beforeCompute?(unit: WorkUnit): Promise<void>;
}

export async function executeUnit(
  unit: WorkUnit,
  job: JobContext,
  how: Arithmetic,
  io: UnitIo,
  hooks: UnitHooks = {},
): Promise<UnitReport> {
  const t0 = performance.now();
  await fetchUnit(unit, io.aligned, io.base, io.buffers);
  const t1 = performance.now();
  await hooks.beforeCompute?.(unit);
  const { outs, segments } = await computeUnit(unit, how, io.buffers);
  checkNonfinite(unit, segments, job.onNonfinite, job.aligned);
  const t2 = performance.now();
  const parts = await uploadUnit(unit, job, io.outputs, outs);
  const t3 = performance.now();
  return {
    unitId: unit.id,
    segments,
    parts,
    bytes: {
      aligned: unit.alignedLength,
      base: unit.baseLength,
      written: parts.reduce((n, p) => n + p.size, 0),
    },
    seconds: { fetch: (t1 - t0) / 1000, compute: (t2 - t1) / 1000, upload: (t3 - t2) / 1000 },
  };
}
