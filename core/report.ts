// expo-report.json, written beside every output: parameters, provenance, per-part checksums and norm
// statistics. Read back by `verify`, and by anyone who wants to know how an output was made.
import type { Arith } from "./dtypes.js";
import type { AlphaRule, NonfinitePolicy } from "./jobSpec.js";
import type { Compatibility } from "./plan.js";

export const REPORT_FILE = "expo-report.json";

/** What relativeShift is, in the words `stats` prints and plots. */
export const RELATIVE_SHIFT_DEFINITION =
  "‖θ1 − θ0‖₂ / ‖θ0‖₂, both L2 norms taken over every element of the compared floating-point tensors at once (as one vector), θ0 the base and θ1 the aligned checkpoint";
export const REPORT_FORMAT = "llm-expo-report/1";

/** Norms over a set of extrapolated tensors (definitions: docs/arithmetic.md). */
export interface Norms {
  normBase: number;
  normAligned: number;
  normDelta: number;
  normOutput: number;
  /** |θ1 − θ0| / |θ0| (0 when |θ0| is 0): RELATIVE_SHIFT_DEFINITION. */
  relativeShift: number;
  maxAbsDiff: number;
  nonfiniteInputs: number;
  nonfiniteOutputs: number;
}

export interface TensorStatistics extends Norms {
  dtype: string;
  shape: number[];
  alpha: number;
}

export interface Statistics {
  model: Norms & { tensorsExtrapolated: number; tensorsCopied: number };
  tensors: Record<string, TensorStatistics>;
}

export interface FileProvenance {
  name: string;
  size: number;
  etag: string;
  mtime: string;
}

export interface ReportPart {
  partNumber: number | undefined;
  offset: number | undefined;
  size: number | undefined;
  sha256: string | undefined;
}

export interface ExpoReport {
  format: typeof REPORT_FORMAT;
  tool: { name: string; version: string };
  createdAt: string;
  parameters: {
    alpha: number;
    arith: Arith;
    unitSize: number;
    include: string[];
    exclude: string[];
    drop: string[];
    /** --out-dtype (BF16, F16, F32); null: the aligned checkpoint's dtypes. */
    outDtype: string | null;
    alphaRules: AlphaRule[];
    onNonfinite: NonfinitePolicy;
  };
  inputs: {
    base: { location: string; files: FileProvenance[] };
    aligned: { location: string; files: FileProvenance[] };
  };
  output: { location: string; shards: Array<{ file: string; size: number; parts: ReportPart[] }> };
  /** Dtype conversions, resized vocabularies, dropped, aligned-only, base-only and tied tensors. */
  compatibility: Compatibility;
  statistics: Statistics;
}
