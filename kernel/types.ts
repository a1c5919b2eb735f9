// The contract between the unit engine and the native kernel. A request covers one work unit: many
// segments (tensor pieces) over the same caller-owned buffers, computed in one native call.
import type { KernelDevice } from "../core/device.js";
import type { Arith, FloatDtype } from "../core/dtypes.js";

/** What a segment computes (kernel/src/layout.h numbers them). */
export type SegmentOp = "extrapolate" | "convert";

export interface Segment {
  /** extrapolate (default): out = f(aligned, base); convert: out = R_outDtype(aligned), base and alphas unused. */
  op?: SegmentOp;
  /** dtype of the aligned (θ1) input. */
  dtype: FloatDtype;
  /** dtype of the base (θ0) input; default: dtype. */
  baseDtype?: FloatDtype;
  /** dtype written to every output; default: dtype. */
  outDtype?: FloatDtype;
  /** Number of elements. */
  count: number;
  /** Byte offsets of the segment's first element in each buffer (each buffer in its own dtype). */
  alignedOffset: number;
  baseOffset: number;
  outOffset: number;
  /** One α per output buffer (K values, K = outs.length; ignored for convert, where it may be empty). */
  alphas: readonly number[];
}

export interface ExtrapolateRequest {
  arith: Arith;
  aligned: Buffer;
  base: Buffer;
  /**
   * K output buffers. With K = 1, outs[0] may be `aligned` itself (in place, outOffset = alignedOffset) when the
   * segment's outDtype is its dtype.
   */
  outs: Buffer[];
  segments: readonly Segment[];
  /** Where it runs (selectDevice decides, once per process, at the edge). */
  device: KernelDevice;
}

/** Host memory for the buffers a worker passes to the kernel (kernel/hostAllocator.ts picks one per device). */
export interface HostAllocator {
  allocate(bytes: number): Buffer;
  /** Gives the memory back; the Buffer must not be in use (no read, kernel call or write on it in flight). */
  release(buffer: Buffer): void;
}
