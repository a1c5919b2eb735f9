// The output a tensor must have, from the oracle (oracle.ts, docs/arithmetic.md) for any mix of float dtypes:
// its first `sharedElems` elements extrapolated, the rest (rows only in aligned; all of them for a copied
// tensor) converted from aligned to the output dtype.
import type { Arith, FloatDtype } from "../../core/dtypes.js";
import { DTYPE_SIZE, oracleConvert, oracleSegment } from "./oracle.js";

export interface ExpectedInput {
  dtype: FloatDtype;
  data: Uint8Array;
}

export function expectedTensor(
  aligned: ExpectedInput,
  base: ExpectedInput | undefined,
  outDtype: FloatDtype,
  arith: Arith,
  alpha: number,
  sharedElems: number,
): Uint8Array {
  const shared = base ? sharedElems : 0;
  const cut = shared * DTYPE_SIZE[aligned.dtype];
  const head = base
    ? (oracleSegment({
        dtype: aligned.dtype,
        baseDtype: base.dtype,
        outDtype,
        arith,
        aligned: aligned.data.subarray(0, cut),
        base: base.data.subarray(0, shared * DTYPE_SIZE[base.dtype]),
        alphas: [alpha],
      }).outs[0] as Uint8Array)
    : new Uint8Array(0);
  const tail = oracleConvert(aligned.dtype, outDtype, aligned.data.subarray(cut));
  return Buffer.concat([head, tail]);
}
