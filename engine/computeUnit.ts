// The compute step of a unit: extrapolated and converted segments through the kernel in one native call,
// copied segments byte for byte (nothing at all when the single output is computed in place).
import type { KernelDevice } from "../core/device.js";
import type { Arith, FloatDtype } from "../core/dtypes.js";
import { ITEMSIZE } from "../core/dtypes.js";
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

export interface ComputedUnit {
  /** The unit's output bytes, one buffer per α (from offset 0, dataEnd − dataStart bytes). */
  outs: Buffer[];
  /** Statistics of the extrapolated segments, in segment order. */
  segments: SegmentResult[];
}

export async function computeUnit(unit: WorkUnit, how: Arithmetic, buffers: UnitBuffers): Promise<ComputedUnit> {
  const inPlace = buffers.outs.length === 0 || (unit.inPlace && buffers.outs.length === 1);
  const outs = inPlace ? [buffers.aligned] : buffers.outs;
  if (!inPlace) {
    for (const s of unit.segments) {
      if (s.action !== "copy") continue;
      const bytes = s.count * (ITEMSIZE[s.dtype] as number);
      for (const out of outs) buffers.aligned.copy(out, s.offset, s.alignedOffset, s.alignedOffset + bytes);
    }
  }
  const computed = unit.segments.filter((s) => s.action !== "copy");
  if (computed.length === 0) return { outs, segments: [] };
  const segments: Segment[] = computed.map((s) => ({
    op: s.action === "convert" ? "convert" : "extrapolate",
    dtype: s.dtype as FloatDtype,
    baseDtype: s.baseDtype as FloatDtype,
    outDtype: s.outDtype as FloatDtype,
    count: s.count,
    alignedOffset: s.alignedOffset,
    baseOffset: Math.max(0, s.baseOffset),
    outOffset: s.offset,
    // Ignored for a conversion; one per output all the same.
    alphas: s.action === "convert" ? outs.map(() => 0) : s.alphas,
  }));
  const stats = await extrapolate({
    arith: how.arith,
    device: how.device,
    aligned: buffers.aligned,
    base: buffers.base,
    outs,
    segments,
  });
  const results: SegmentResult[] = [];
  computed.forEach((s, i) => {
    if (s.action === "extrapolate") results.push({ tensor: s.tensor, stats: stats[i] as SegmentStats });
  });
  return { outs, segments: results };
}
