// A job as every process sees it once the CLI (or a spec file) has been resolved.
import type { Arith, OutDtype } from "./dtypes.js";

export interface AlphaRule {
  /** Glob over tensor names: `*` any run of characters, `?` one character. */
  pattern: string;
  alpha: number;
}

export type NonfinitePolicy = "error" | "warn";

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
