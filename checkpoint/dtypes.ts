import type { FloatDtype } from "../kernel/types.js";

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
