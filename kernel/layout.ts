// The descriptor and result layout the TypeScript wrapper writes and reads, and the check that the addon was
// built with the same one (kernel/src/layout.h): an addon from other sources, e.g. a stale build, would misread
// every descriptor.
import type { Arith, FloatDtype } from "../core/dtypes.js";
import type { SegmentOp } from "./types.js";

/** The layout the addon reports it was built with. */
export interface KernelLayout {
  descHead: number;
  resultHead: number;
  maxOutputs: number;
  dtypes: Record<string, number>;
  arith: Record<string, number>;
  ops: Record<string, number>;
  desc: string[];
  result: string[];
}

/** Dtype codes of the descriptor, as kernel/src/layout.h numbers them. */
export const DTYPE_CODE: Readonly<Record<FloatDtype, number>> = { BF16: 0, F16: 1, F32: 2, F64: 3 };
const ARITH_CODE: Readonly<Record<Arith, number>> = { fp32: 0, torch: 1 };
/** Op codes of the descriptor. */
export const OP_CODE: Readonly<Record<SegmentOp, number>> = { extrapolate: 0, convert: 1 };
/** The words packSegments writes per segment before its K alphas, in this order. */
export const DESC_FIELDS = [
  "op",
  "dtype",
  "baseDtype",
  "outDtype",
  "count",
  "alignedOffset",
  "baseOffset",
  "outOffset",
] as const;
const RESULT_FIELDS = ["sumA2", "sumB2", "sumD2", "maxAbsDiff", "nonfiniteInputs", "nonfiniteOutputs"];
export const DESC_HEAD = DESC_FIELDS.length;
export const RESULT_HEAD = 6;

/** Throws a one-line error naming the first difference between the addon's layout and this wrapper's. */
export function checkKernelLayout(native: KernelLayout | undefined): void {
  const ours = {
    descHead: DESC_HEAD,
    resultHead: RESULT_HEAD,
    dtypes: DTYPE_CODE,
    arith: ARITH_CODE,
    ops: OP_CODE,
    desc: DESC_FIELDS,
    result: RESULT_FIELDS,
  };
  // Maps compare by their entries, not their key order.
  const text = (v: unknown) =>
    JSON.stringify(v, v && typeof v === "object" && !Array.isArray(v) ? Object.keys(v).sort() : undefined) ?? "missing";
  const rebuild = "rebuild it: npm run build";
  if (typeof native !== "object" || native === null)
    throw new Error(`llm-expo: the native kernel has no layout (a stale build?); ${rebuild}`);
  for (const [key, want] of Object.entries(ours)) {
    const got = (native as unknown as Record<string, unknown>)[key];
    if (text(got) !== text(want))
      throw new Error(
        `llm-expo: native kernel layout differs in ${key}: addon ${text(got)}, wrapper ${text(want)}; ${rebuild}`,
      );
  }
}
