// Fetch and compute a list of units without writing them: what `stats` and `verify` run.
import PQueue from "p-queue";
import type { WorkUnit } from "../core/plan.js";
import type { Storage } from "../storage/types.js";
import { type Arithmetic, computeUnit, type SegmentResult } from "./computeUnit.js";
import { fetchUnit } from "./fetchUnit.js";
import { type BufferSizes, UnitBufferPool } from "./unitBuffers.js";

export interface ComputeUnitsInput {
  units: Iterable<WorkUnit>;
  aligned: Storage;
  base: Storage;
  how: Arithmetic;
  buffers: BufferSizes;
  concurrency: number;
}

/** Calls `visit` for each unit with its output bytes (one buffer per α, valid only during the call). */
export async function computeUnits(
  input: ComputeUnitsInput,
  visit: (unit: WorkUnit, outs: Buffer[], segments: SegmentResult[]) => Promise<void> | void,
): Promise<void> {
  const pool = new UnitBufferPool(input.buffers);
  const queue = new PQueue({ concurrency: input.concurrency });
  const tasks = Array.from(input.units, (unit) =>
    queue.add(async () => {
      const buffers = pool.take();
      try {
        await fetchUnit(unit, input.aligned, input.base, buffers);
        const { outs, segments } = await computeUnit(unit, input.how, buffers);
        await visit(unit, outs, segments);
      } finally {
        pool.give(buffers);
      }
    }),
  );
  await Promise.all(tasks);
}
