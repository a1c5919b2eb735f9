// The contract between the worker and the native kernel. A request covers one work unit: many
// segments (tensor pieces) over the same caller-owned buffers, computed in one native call.

/** Storage dtypes the kernel extrapolates; every other dtype is copied from aligned. */
export type FloatDtype = "BF16" | "F16" | "F32" | "F64";

/** fp32: out = R(fmaf(α, a − b, a)); torch: d = R(a − b); m = R(α·d); out = R(a + m). */
export type Arith = "fp32" | "torch";

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

export interface SegmentStats {
  /** Σa², Σb², Σ(a−b)² in fp64 over elements whose inputs are both finite. */
  sumA2: number;
  sumB2: number;
  sumD2: number;
  /** Σout² per α, over finite outputs of finite inputs. */
  sumOut2: number[];
  /** max |a − b| over elements whose inputs are both finite (0 when none). */
  maxAbsDiff: number;
  /** Elements where a or b is NaN or ±Inf. */
  nonfiniteInputs: number;
  /** Elements with finite a and b whose output is non-finite for at least one α. */
  nonfiniteOutputs: number;
}

export interface ExtrapolateRequest {
  arith: Arith;
  aligned: Buffer;
  base: Buffer;
  /** K output buffers. With K = 1, outs[0] may be `aligned` itself (in place, outOffset = alignedOffset). */
  outs: Buffer[];
  segments: readonly Segment[];
  /** Where it runs; default: the process's selection (selectDevice / setKernelDevice), CPU until one is made. */
  device?: KernelDevice;
}

/** The device a kernel call runs on. CUDA is used only where it was selected; it never falls back to the CPU. */
export type KernelDevice = "cpu" | "cuda";
