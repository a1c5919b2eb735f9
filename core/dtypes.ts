// Storage dtypes, what the kernel computes in, and how it rounds: the names every process shares.

/** Storage dtypes the kernel extrapolates; every other dtype is copied from aligned. */
export type FloatDtype = "BF16" | "F16" | "F32" | "F64";

/** Dtypes `--out-dtype` may ask for. */
export type OutDtype = "BF16" | "F16" | "F32";

/** fp32: out = R(fmaf(α, a − b, a)); torch: d = R(a − b); m = R(α·d); out = R(a + m) (docs/arithmetic.md). */
export type Arith = "fp32" | "torch";

/** Bytes per element of every dtype safetensors defines with a whole-byte size. */
export const ITEMSIZE: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

const EXTRAPOLATED = new Set<string>(["BF16", "F16", "F32", "F64"]);

export function isExtrapolatedDtype(dtype: string): dtype is FloatDtype {
  return EXTRAPOLATED.has(dtype);
}
