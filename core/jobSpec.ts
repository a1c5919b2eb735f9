// A job as every process sees it once the CLI (or a spec file) has been resolved.
import type { Arith, OutDtype } from "./dtypes.js";

export interface AlphaRule {
  /** Glob over tensor names: `*` any run of characters, `?` one character. */
  pattern: string;
  alpha: number;
}

export type NonfinitePolicy = "error" | "warn";

/** Bytes of one work unit unless the job says otherwise (`--unit-size`). */
export const DEFAULT_UNIT_SIZE = 64 * 1024 * 1024;

/** A fully resolved job: what `run`, `plan`, `verify` and the coordinator execute. */
export interface JobSpec {
  base: string;
  aligned: string;
  /** One output location per alpha, in the same order. */
  alphas: number[];
  outs: string[];
  arith: Arith;
  unitSize: number;
  /** When non-empty, only matching tensors are extrapolated; the rest are copied. */
  include: string[];
  /** Matching tensors are copied from aligned (also tensors the base checkpoint does not have). */
  exclude: string[];
  /** Matching aligned tensors are left out of the output. */
  drop: string[];
  /** Dtype of every float tensor of the output; null: each tensor keeps the aligned checkpoint's dtype. */
  outDtype: OutDtype | null;
  /** Per-tensor alpha, first match wins; alpha 0 copies the tensor from aligned. */
  alphaRules: AlphaRule[];
  onNonfinite: NonfinitePolicy;
  overwrite: boolean;
}

/**
 * A job from its inputs, alphas and outputs, every other field as the CLI leaves it when no flag is given (fp32,
 * 64 MiB units, every float tensor extrapolated, dtypes kept, non-finite values an error, no overwrite).
 */
export function jobSpecWith(fields: Pick<JobSpec, "base" | "aligned" | "alphas" | "outs"> & Partial<JobSpec>): JobSpec {
  // Fields in the order the CLI builds them: the job's identity hashes the spec as JSON, so the same job built
  // here and by the CLI must serialize the same way (a journal written by one is resumed by the other).
  const { base, aligned, alphas, outs, ...rest } = fields;
  return {
    base,
    aligned,
    alphas,
    outs,
    arith: "fp32",
    unitSize: DEFAULT_UNIT_SIZE,
    include: [],
    exclude: [],
    drop: [],
    outDtype: null,
    alphaRules: [],
    onNonfinite: "error",
    overwrite: false,
    ...rest,
  };
}
