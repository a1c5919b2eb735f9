// The contract between the unit engine and the native kernel. A request covers one work unit: many
// segments (tensor pieces) over the same caller-owned buffers, computed in one native call.
import type { KernelDevice } from "../core/device.js";
import type { Arith, FloatDtype } from "../core/dtypes.js";

export interface Segment {
  dtype: FloatDtype;
  /** Number of elements. */
  count: number;
  /** Byte offsets of the segment's first element in each buffer. */
  alignedOffset: number;
  baseOffset: number;
  outOffset: number;
  /** One α per output buffer (K values, K = outs.length). */
  alphas: readonly number[];
}

export interface ExtrapolateRequest {
  arith: Arith;
  aligned: Buffer;
  base: Buffer;
  /** K output buffers. With K = 1, outs[0] may be `aligned` itself (in place, outOffset = alignedOffset). */
  outs: Buffer[];
  segments: readonly Segment[];
  /** Where it runs (selectDevice decides, once per process, at the edge). */
  device: KernelDevice;
}
