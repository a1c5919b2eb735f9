// What the kernel measures of each segment it extrapolates (definitions: docs/arithmetic.md).

export interface SegmentStats {
  /** Σa², Σb², Σ(a−b)² over elements whose inputs are both finite. */
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
