// Random float bit patterns for the kernel tests (fast-check arbitraries): every dtype's specials (signed zeros,
// infinities, quiet and signaling NaNs with payloads, subnormals, the largest finite values), random bits,
// weights-like magnitudes, pairs a few ulps apart (ties after scaling by dyadic α) and pairs far apart.
import fc from "fast-check";
import type { FloatDtype } from "../../core/dtypes.js";
import {
  bf16ToF32,
  DTYPE_SIZE,
  f16ToF32,
  f32Bits,
  f32FromBits,
  f32ToBf16,
  f32ToF16,
  f64Bits,
  f64FromBits,
} from "./oracle.js";

export interface Layout {
  width: number;
  manBits: number;
  expBits: number;
}
export const LAYOUT: Record<FloatDtype, Layout> = {
  BF16: { width: 16, manBits: 7, expBits: 8 },
  F16: { width: 16, manBits: 10, expBits: 5 },
  F32: { width: 32, manBits: 23, expBits: 8 },
  F64: { width: 64, manBits: 52, expBits: 11 },
};

export function compose(l: Layout, sign: bigint, exp: bigint, man: bigint): bigint {
  return (sign << BigInt(l.width - 1)) | (exp << BigInt(l.manBits)) | man;
}

export function specials(l: Layout): bigint[] {
  const expMax = (1n << BigInt(l.expBits)) - 1n;
  const manMax = (1n << BigInt(l.manBits)) - 1n;
  const quiet = 1n << BigInt(l.manBits - 1);
  const out: bigint[] = [];
  for (const s of [0n, 1n]) {
    out.push(
      compose(l, s, 0n, 0n), // ±0
      compose(l, s, expMax, 0n), // ±Inf
      compose(l, s, expMax, quiet), // quiet NaN
      compose(l, s, expMax, quiet | 5n), // quiet NaN with payload
      compose(l, s, expMax, 1n), // signaling NaN
      compose(l, s, expMax, manMax), // all-ones NaN (wraps in a careless bf16 rounding)
      compose(l, s, 0n, 1n), // smallest subnormal
      compose(l, s, 0n, manMax), // largest subnormal
      compose(l, s, 1n, 0n), // smallest normal
      compose(l, s, expMax - 1n, manMax), // largest finite
      compose(l, s, expMax - 1n, manMax - 1n),
      compose(l, s, (expMax >> 1n) + 0n, 0n), // 1
    );
  }
  return out;
}

export function elementArb(l: Layout): fc.Arbitrary<bigint> {
  const bias = (1n << BigInt(l.expBits - 1)) - 1n;
  const expMax = (1n << BigInt(l.expBits)) - 1n;
  const sign = fc.bigInt({ min: 0n, max: 1n });
  const man = fc.bigInt({ min: 0n, max: (1n << BigInt(l.manBits)) - 1n });
  const withExp = (lo: bigint, hi: bigint) =>
    fc.tuple(sign, fc.bigInt({ min: lo, max: hi }), man).map(([s, e, m]) => compose(l, s, e, m));
  const lowTypical = bias > 12n ? bias - 12n : 1n;
  return fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(...specials(l)) },
    { weight: 2, arbitrary: fc.bigInt({ min: 0n, max: (1n << BigInt(l.width)) - 1n }) },
    { weight: 5, arbitrary: withExp(lowTypical, bias + 1n) }, // weights-like magnitudes
    { weight: 1, arbitrary: withExp(0n, 2n) }, // subnormals and the smallest normals
    { weight: 1, arbitrary: withExp(expMax - 3n, expMax - 1n) }, // near overflow
  );
}

/** a and b: independent, a few ulps apart (ties after scaling by dyadic α), or b far smaller (rounded a − b). */
export function pairArb(l: Layout): fc.Arbitrary<[bigint, bigint]> {
  const mask = (1n << BigInt(l.width)) - 1n;
  const el = elementArb(l);
  const expMask = (1n << BigInt(l.expBits)) - 1n;
  return fc.oneof(
    { weight: 3, arbitrary: fc.tuple(el, el) },
    {
      weight: 4,
      arbitrary: fc
        .tuple(el, fc.integer({ min: -6, max: 6 }))
        .map(([a, d]): [bigint, bigint] => [a, (a + BigInt(d)) & mask]),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(el, el, fc.integer({ min: 1, max: 30 })).map(([a, b, g]): [bigint, bigint] => {
        const e = (a >> BigInt(l.manBits)) & expMask;
        const lowered = e > BigInt(g) ? e - BigInt(g) : 0n;
        const keep = (1n << BigInt(l.width - 1)) | ((1n << BigInt(l.manBits)) - 1n); // b's sign and mantissa
        return [a, (b & keep) | (lowered << BigInt(l.manBits))];
      }),
    },
  );
}

export const alphaArb = fc.oneof(
  fc.constantFrom(0, 0.5, 0.25, 0.75, 1.5, 0.3, 0.1, 1, 2, -0.5, 0.125, 3),
  fc.double({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true }),
  fc.integer({ min: -64, max: 64 }).map((x) => x / 32),
);

export const lengthArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 70 }) },
  { weight: 3, arbitrary: fc.integer({ min: 71, max: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom(1000, 1031) },
);

export function writeBits(dtype: FloatDtype, buf: Uint8Array, offset: number, values: readonly bigint[]): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  values.forEach((v, i) => {
    const at = offset + i * DTYPE_SIZE[dtype];
    if (dtype === "F64") view.setBigUint64(at, v, true);
    else if (dtype === "F32") view.setUint32(at, Number(v), true);
    else view.setUint16(at, Number(v), true);
  });
}

/** The value of a dtype's bit pattern. */
export function valueOfBits(dtype: FloatDtype, bits: bigint): number {
  switch (dtype) {
    case "BF16":
      return bf16ToF32(Number(bits));
    case "F16":
      return f16ToF32(Number(bits));
    case "F32":
      return f32FromBits(Number(bits));
    case "F64":
      return f64FromBits(bits);
  }
}

/** The bit pattern of x rounded to a dtype (nearest even; NaN canonical). */
export function bitsOf(dtype: FloatDtype, x: number): bigint {
  switch (dtype) {
    case "BF16":
      return BigInt(f32ToBf16(x));
    case "F16":
      return BigInt(f32ToF16(x));
    case "F32":
      return BigInt(f32Bits(x));
    case "F64":
      return f64Bits(x);
  }
}

/**
 * Values of dtype `dtype` at or next to a rounding tie of dtype `to` (the midpoint of two neighbours of `to`,
 * the overflow threshold above its largest finite value included), so that rounding to `to` is decided by ties
 * to even or by the last bit: exact ties where `dtype` is wider, their rounding otherwise.
 */
export function tieArb(dtype: FloatDtype, to: FloatDtype): fc.Arbitrary<bigint> {
  const l = LAYOUT[to];
  const mask = (1n << BigInt(l.width)) - 1n;
  const dmask = (1n << BigInt(LAYOUT[dtype].width)) - 1n;
  return fc.tuple(elementArb(l), fc.integer({ min: -1, max: 1 })).map(([u, step]) => {
    const v = valueOfBits(to, u);
    const up = valueOfBits(to, (u + 1n) & mask);
    if (!Number.isFinite(v)) return bitsOf(dtype, v);
    const next = Number.isFinite(up) && Math.sign(up) === Math.sign(v || 1) ? up : v + (v - valueOfBits(to, u - 1n));
    const m = bitsOf(dtype, (v + next) / 2);
    const n = valueOfBits(dtype, m);
    return Number.isFinite(n) && n !== 0 ? (m + BigInt(step)) & dmask : m;
  });
}

/** Inputs of two dtypes: independent, ties of the output dtype on either side, or b near a in its own dtype. */
export function mixedPairArb(
  dtype: FloatDtype,
  baseDtype: FloatDtype,
  outDtype: FloatDtype,
): fc.Arbitrary<[bigint, bigint]> {
  const a = fc.oneof(
    { weight: 3, arbitrary: elementArb(LAYOUT[dtype]) },
    { weight: 1, arbitrary: tieArb(dtype, outDtype) },
  );
  const b = fc.oneof(
    { weight: 3, arbitrary: elementArb(LAYOUT[baseDtype]) },
    { weight: 1, arbitrary: tieArb(baseDtype, outDtype) },
  );
  const bMask = (1n << BigInt(LAYOUT[baseDtype].width)) - 1n;
  return fc.oneof(
    { weight: 2, arbitrary: fc.tuple(a, b) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(a, fc.integer({ min: -6, max: 6 }))
        .map(([x, d]): [bigint, bigint] => [x, (bitsOf(baseDtype, valueOfBits(dtype, x)) + BigInt(d)) & bMask]),
    },
  );
}
