// The compute step of a unit: extrapolated segments through the kernel in one native call, copied
// segments from aligned (a no-op when the single output is computed in place).
import type { KernelDevice } from "../core/device.js";
import type { Arith, FloatDtype } from "../core/dtypes.js";
import type { WorkUnit } from "../core/plan.js";
import type { SegmentStats } from "../core/statistics.js";
import { extrapolate } from "../kernel/extrapolate.js";
import type { Segment } from "../kernel/types.js";
import type { UnitBuffers } from "./unitBuffers.js";

export interface SegmentResult {
  tensor: string;
  stats: SegmentStats;
}

export interface Arithmetic {
  arith: Arith;
  device: KernelDevice;
}

/** Fills every output buffer with the unit's bytes; returns the extrapolated segments' statistics. */
export async function computeUnit(unit: WorkUnit, how: Arithmetic, buffers: UnitBuffers): Promise<SegmentResult[]> {
  const length = unit.dataEnd - unit.dataStart;
  for (const out of buffers.outs) {
    if (out === buffers.aligned) continue;
    for (const s of unit.segments) {
      if (s.action === "copy")
        buffers.aligned.copy(out, s.offset, s.offset, s.offset + segmentBytes(unit, s.offset, length));
    }
  }
  const extrapolated = unit.segments.filter((s) => s.action === "extrapolate");
  if (extrapolated.length === 0) return [];
  const segments: Segment[] = extrapolated.map((s) => ({
    dtype: s.dtype as FloatDtype,
    count: s.count,
    alignedOffset: s.offset,
    baseOffset: s.baseOffset,
    outOffset: s.offset,
    alphas: s.alphas,
  }));
  const stats = await extrapolate({
    arith: how.arith,
    device: how.device,
    aligned: buffers.aligned,
    base: buffers.base,
    outs: buffers.outs,
    segments,
  });
  return extrapolated.map((s, i) => ({ tensor: s.tensor, stats: stats[i] as SegmentStats }));
}

/** Byte length of the segment starting at `offset`: up to the next segment or the unit's end. */
function segmentBytes(unit: WorkUnit, offset: number, length: number): number {
  const next = unit.segments.find((s) => s.offset > offset);
  return (next ? next.offset : length) - offset;
}
