// The output a tensor must have, element by element, built from the oracle's arithmetic (oracle.ts) for
// any mix of float dtypes (docs/arithmetic.md): fp32 mode from the exact inputs (fp64 where an input is F64)
// rounded once to the output dtype; torch mode with each input first rounded to the output dtype, then
// that dtype's eager formula; a conversion as one rounding; rows only in aligned as conversions.
import type { Arith, FloatDtype } from "../../core/dtypes.js";
import { bf16ToF32, DTYPE_SIZE, elementResult, f16ToF32, f32ToBf16, f32ToF16 } from "./oracle.js";

function read(dtype: FloatDtype, bytes: Uint8Array, i: number): number {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "BF16":
      return bf16ToF32(v.getUint16(2 * i, true));
    case "F16":
      return f16ToF32(v.getUint16(2 * i, true));
    case "F32":
      return v.getFloat32(4 * i, true);
    case "F64":
      return v.getFloat64(8 * i, true);
  }
}

/** x rounded to the dtype (to nearest even, canonical NaN), written at element i; returns the stored value. */
function write(dtype: FloatDtype, bytes: Uint8Array, i: number, x: number): number {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "BF16":
      v.setUint16(2 * i, f32ToBf16(x), true);
      return bf16ToF32(v.getUint16(2 * i, true));
    case "F16":
      v.setUint16(2 * i, f32ToF16(x), true);
      return f16ToF32(v.getUint16(2 * i, true));
    case "F32":
      if (Number.isNaN(x)) v.setUint32(4 * i, 0x7fc00000, true);
      else v.setFloat32(4 * i, x, true);
      return v.getFloat32(4 * i, true);
    case "F64":
      if (Number.isNaN(x)) v.setBigUint64(8 * i, 0x7ff8000000000000n, true);
      else v.setFloat64(8 * i, x, true);
      return v.getFloat64(8 * i, true);
  }
}

/** R_out(x) as a value. */
function rounded(dtype: FloatDtype, x: number): number {
  return write(dtype, new Uint8Array(8), 0, x);
}

export interface ExpectedInput {
  dtype: FloatDtype;
  data: Uint8Array;
}

/**
 * The output bytes of one tensor: its first `sharedElems` elements extrapolated from aligned and base with
 * `alpha`, the rest (rows only in aligned; all of them for a copied tensor) converted from aligned.
 */
export function expectedTensor(
  aligned: ExpectedInput,
  base: ExpectedInput | undefined,
  outDtype: FloatDtype,
  arith: Arith,
  alpha: number,
  sharedElems: number,
): Uint8Array {
  const n = aligned.data.length / DTYPE_SIZE[aligned.dtype];
  const out = new Uint8Array(n * DTYPE_SIZE[outDtype]);
  const wide = aligned.dtype === "F64" || base?.dtype === "F64";
  for (let i = 0; i < n; i++) {
    const a = read(aligned.dtype, aligned.data, i);
    if (i >= sharedElems || !base) {
      write(outDtype, out, i, a);
      continue;
    }
    const b = read(base.dtype, base.data, i);
    const r =
      arith === "torch"
        ? elementResult(outDtype, "torch", rounded(outDtype, a), rounded(outDtype, b), alpha)
        : elementResult(wide ? "F64" : "F32", "fp32", a, b, alpha);
    write(outDtype, out, i, r);
  }
  return out;
}
