// Plain TypeScript reference of docs/arithmetic.md, written independently of the C++ kernel: roundings are
// computed from exact values (double arithmetic where it is exact, BigInt where it is not) instead of bit
// tricks, so a shared mistake is unlikely. Slow by design; only tests use it.
import type { Arith, FloatDtype } from "../../core/dtypes.js";
import type { SegmentStats } from "../../core/statistics.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

export function f32FromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0] as number;
}
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0] as number;
}
export function f64FromBits(bits: bigint): number {
  u64[0] = BigInt.asUintN(64, bits);
  return f64[0] as number;
}
export function f64Bits(x: number): bigint {
  f64[0] = x;
  return u64[0] as bigint;
}

/** A binary floating-point format: p significand bits (with the implicit one), exponent range of normals. */
export interface Format {
  p: number;
  emin: number;
  emax: number;
}
export const BF16_FORMAT: Format = { p: 8, emin: -126, emax: 127 };
export const F16_FORMAT: Format = { p: 11, emin: -14, emax: 15 };
export const F32_FORMAT: Format = { p: 24, emin: -126, emax: 127 };
export const F64_FORMAT: Format = { p: 53, emin: -1022, emax: 1023 };

function maxFinite(fmt: Format): number {
  return (2 - 2 ** (1 - fmt.p)) * 2 ** fmt.emax;
}

/** floor(log2(ax)) for a positive finite double, exactly. */
function exponentOf(ax: number): number {
  let e = Math.floor(Math.log2(ax));
  if (2 ** e > ax) e--;
  if (2 ** (e + 1) <= ax) e++;
  return e;
}

/**
 * Rounds a double (not a NaN) to the nearest value of fmt, ties to even, overflowing to ±Infinity; the
 * result is returned as a double. Exact for inputs of at most 53 significant bits above 2^-1074.
 */
export function roundToFormat(x: number, fmt: Format): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const ax = Math.abs(x);
  const ulp = 2 ** (Math.max(exponentOf(ax), fmt.emin) - (fmt.p - 1));
  const q = ax / ulp; // exact: a power-of-two scaling to below 2^(p+1)
  let n = Math.floor(q);
  const rem = q - n;
  if (rem > 0.5 || (rem === 0.5 && n % 2 === 1)) n += 1;
  const r = n * ulp;
  const signed = r > maxFinite(fmt) ? Number.POSITIVE_INFINITY : r;
  return x < 0 ? -signed : signed;
}

export function bf16ToF32(h: number): number {
  return f32FromBits((h & 0xffff) << 16);
}

/** Nearest bf16 (ties to even) of a value, as bits; NaN gives the canonical 0x7FC0. */
export function f32ToBf16(x: number): number {
  if (Number.isNaN(x)) return 0x7fc0;
  return f32Bits(roundToFormat(x, BF16_FORMAT)) >>> 16;
}

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** Nearest f16 (ties to even) of a value, as bits; NaN gives the canonical 0x7E00. */
export function f32ToF16(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const r = roundToFormat(x, F16_FORMAT);
  const sign = r < 0 || Object.is(r, -0) ? 0x8000 : 0;
  const ar = Math.abs(r);
  if (ar === Number.POSITIVE_INFINITY) return sign | 0x7c00;
  if (ar < 2 ** -14) return sign | (ar * 2 ** 24);
  const e = exponentOf(ar);
  return sign | ((e + 15) << 10) | ((ar / 2 ** e - 1) * 1024);
}

/** x = m · 2^e exactly, for a finite double. */
function decompose(x: number): { m: bigint; e: number } {
  const bits = f64Bits(x);
  const neg = bits >> 63n === 1n;
  const exp = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  const m = exp === 0 ? frac : frac | (1n << 52n);
  return { m: neg ? -m : m, e: exp === 0 ? -1074 : exp - 1075 };
}

/** Rounds m · 2^e (exact, m ≠ 0) to fmt, ties to even; returned as a double. */
function roundExact(m: bigint, e: number, fmt: Format): number {
  const neg = m < 0n;
  const am = neg ? -m : m;
  const top = e + am.toString(2).length - 1; // exponent of the leading bit
  const ulpExp = Math.max(top, fmt.emin) - (fmt.p - 1);
  let value: number;
  if (ulpExp <= e) {
    value = Number(am) * 2 ** e; // at most p bits: exact
  } else {
    const shift = BigInt(ulpExp - e);
    let q = am >> shift;
    const r = am - (q << shift);
    const half = 1n << (shift - 1n);
    if (r > half || (r === half && (q & 1n) === 1n)) q += 1n;
    value = Number(q) * 2 ** ulpExp;
  }
  if (value > maxFinite(fmt)) value = Number.POSITIVE_INFINITY;
  return neg ? -value : value;
}

/** A finite double rounded to fmt from its exact value m · 2^e (BigInt): roundToFormat's independent twin. */
export function roundDoubleExact(x: number, fmt: Format): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const { m, e } = decompose(x);
  return roundExact(m, e, fmt);
}

/** fma(a, b, c) with one rounding to fmt, from the exact value (BigInt); a, b, c must be values of fmt. */
export function exactFma(a: number, b: number, c: number, fmt: Format): number {
  if (!Number.isFinite(a) || !Number.isFinite(b) || !Number.isFinite(c)) return a * b + c; // IEEE specials
  const x = decompose(a);
  const y = decompose(b);
  const z = decompose(c);
  const ep = x.e + y.e;
  const e = Math.min(ep, z.e);
  const sum = ((x.m * y.m) << BigInt(ep - e)) + (z.m << BigInt(z.e - e));
  if (sum === 0n) return a * b === 0 && c === 0 ? a * b + c : 0; // exact zero: signed only for -0 + -0
  return roundExact(sum, e, fmt);
}

/** The f32 next to f (an f32) in the direction of t. */
function nextF32Toward(f: number, t: number): number {
  if (f === Number.POSITIVE_INFINITY) return maxFinite(F32_FORMAT);
  if (f === Number.NEGATIVE_INFINITY) return -maxFinite(F32_FORMAT);
  if (f === 0) return t > 0 ? 2 ** -149 : -(2 ** -149);
  const away = t > f === f > 0;
  return f32FromBits(f32Bits(f) + (away ? 1 : -1));
}

/**
 * fmaf: fp32 fused multiply-add. The product of two f32 values is exact in double; the sum is split by TwoSum
 * into its rounded double s and the exact error; rounding s to f32 is then correct unless s lies exactly
 * halfway between two f32 values, where the error's sign decides (the second rounding would otherwise tie).
 */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const f = Math.fround(s);
  if (!Number.isFinite(s)) return f;
  const bb = s - p;
  const err = p - (s - bb) + (c - bb);
  if (err === 0 || f === s) return f;
  const other = nextF32Toward(f, s);
  const fv = Number.isFinite(f) ? f : Math.sign(f) * 2 ** 128;
  if (s - fv !== other - s) return f;
  const pick = err > 0 ? Math.max(fv, other) : Math.min(fv, other);
  return Math.abs(pick) === 2 ** 128 ? Math.sign(pick) * Number.POSITIVE_INFINITY : pick;
}

export const DTYPE_SIZE: Readonly<Record<FloatDtype, number>> = { BF16: 2, F16: 2, F32: 4, F64: 8 };

function readValue(dtype: FloatDtype, view: DataView, i: number): number {
  switch (dtype) {
    case "BF16":
      return bf16ToF32(view.getUint16(2 * i, true));
    case "F16":
      return f16ToF32(view.getUint16(2 * i, true));
    case "F32":
      return view.getFloat32(4 * i, true);
    case "F64":
      return view.getFloat64(8 * i, true);
  }
}

/**
 * Writes a value rounded to the dtype (nearest even, straight from the double, canonical NaN); returns the stored
 * value.
 */
function writeValue(dtype: FloatDtype, view: DataView, i: number, r: number): number {
  switch (dtype) {
    case "BF16": {
      const h = f32ToBf16(r);
      view.setUint16(2 * i, h, true);
      return bf16ToF32(h);
    }
    case "F16": {
      const h = f32ToF16(r);
      view.setUint16(2 * i, h, true);
      return f16ToF32(h);
    }
    case "F32":
      if (Number.isNaN(r)) view.setUint32(4 * i, 0x7fc00000, true);
      else view.setFloat32(4 * i, r, true);
      return Math.fround(r);
    case "F64":
      if (Number.isNaN(r)) view.setBigUint64(8 * i, 0x7ff8000000000000n, true);
      else view.setFloat64(8 * i, r, true);
      return r;
  }
}

/** R: an fp32 result rounded through the storage dtype, for torch mode's intermediate steps. */
function through(dtype: FloatDtype, x: number): number {
  if (Number.isNaN(x)) return x;
  if (dtype === "BF16") return roundToFormat(x, BF16_FORMAT);
  if (dtype === "F16") return roundToFormat(x, F16_FORMAT);
  return x;
}

/** The unrounded result of one element (final rounding to the dtype is writeValue's). */
export function elementResult(dtype: FloatDtype, arith: Arith, a: number, b: number, alpha: number): number {
  if (dtype === "F64") return arith === "fp32" ? exactFma(alpha, a - b, a, F64_FORMAT) : a + alpha * (a - b);
  const al = Math.fround(alpha);
  const d = Math.fround(a - b); // double rounding is innocuous for one f32 operation (53 ≥ 2·24 + 2)
  if (arith === "fp32") return fmaf(al, d, a);
  const dr = through(dtype, d);
  const m = through(dtype, Math.fround(al * dr));
  return Math.fround(a + m);
}

export interface OracleResult {
  outs: Uint8Array[];
  stats: SegmentStats;
}

/** The coordinator's reduction of the 8 partial sums (job.cc). */
function reduceSlots(v: readonly number[]): number {
  const x = v as number[];
  return (
    (x[0] as number) +
    (x[1] as number) +
    ((x[2] as number) + (x[3] as number)) +
    ((x[4] as number) + (x[5] as number) + ((x[6] as number) + (x[7] as number)))
  );
}

/**
 * Sum of squares of a BF16, F16 or F32 segment as the CPU kernel forms it (docs/arithmetic.md): blocks of 32
 * (the last one padded with zeros) seen as two 16-lane vectors X and Y (bf16: X lane j = element 2j, Y lane
 * j = element 2j + 1; others: X lane j = element j, Y lane j = element 16 + j). Per block and partial sum l:
 * q[j] = fmaf(Y[j], Y[j], fround(X[j]²)), p = fround(q[l] + q[l + 8]), sum[l] += p in fp64; a p that
 * overflows is replaced by the same sums in fp64 from w (the fp64 values). v holds fp32 values.
 */
function narrowSums(dtype: FloatDtype, v: Float64Array, w: Float64Array): number {
  const n = v.length;
  const sums = new Array<number>(8).fill(0);
  const at = (arr: Float64Array, base: number, lane: number, j: number): number => {
    const e = base + (dtype === "BF16" ? 2 * j + lane : 16 * lane + j);
    return e < n ? (arr[e] as number) : 0;
  };
  for (let base = 0; base < n; base += 32) {
    for (let l = 0; l < 8; l++) {
      const q = (j: number): number => {
        const x = at(v, base, 0, j);
        const y = at(v, base, 1, j);
        return fmaf(y, y, Math.fround(x * x));
      };
      let p = Math.fround(q(l) + q(l + 8));
      if (p === Number.POSITIVE_INFINITY) {
        const r = (j: number): number => {
          const x = at(w, base, 0, j);
          const y = at(w, base, 1, j);
          return exactFma(y, y, x * x, F64_FORMAT);
        };
        p = r(l) + r(l + 8);
      }
      sums[l] = (sums[l] as number) + p;
    }
  }
  return reduceSlots(sums);
}

/**
 * One segment whose inputs are in one dtype: aligned and base hold exactly its elements; one output per alpha,
 * in outDtype (default: dtype; the result of dtype's arithmetic rounded once to it).
 */
export function oracleExtrapolate(
  dtype: FloatDtype,
  arith: Arith,
  alignedBytes: Uint8Array,
  baseBytes: Uint8Array,
  alphas: readonly number[],
  outDtype: FloatDtype = dtype,
): OracleResult {
  const size = DTYPE_SIZE[dtype];
  const n = alignedBytes.length / size;
  const av = new DataView(alignedBytes.buffer, alignedBytes.byteOffset, alignedBytes.byteLength);
  const bv = new DataView(baseBytes.buffer, baseBytes.byteOffset, baseBytes.byteLength);
  const outs = alphas.map(() => new Uint8Array(n * DTYPE_SIZE[outDtype]));
  const views = outs.map((o) => new DataView(o.buffer));
  // Per element: outputs, and the values the statistics see (0 where an element is left out).
  const K = alphas.length;
  const va = new Float64Array(n);
  const vb = new Float64Array(n);
  const vo = alphas.map(() => new Float64Array(n));
  let maxAbsDiff = 0;
  let nonfiniteInputs = 0;
  let nonfiniteOutputs = 0;
  for (let i = 0; i < n; i++) {
    const a = readValue(dtype, av, i);
    const b = readValue(dtype, bv, i);
    const finiteIn = Number.isFinite(a) && Number.isFinite(b);
    let nonfiniteOut = false;
    for (let k = 0; k < K; k++) {
      const r = elementResult(dtype, arith, a, b, alphas[k] as number);
      const o = writeValue(outDtype, views[k] as DataView, i, r);
      if (!finiteIn) continue;
      if (Number.isFinite(o)) (vo[k] as Float64Array)[i] = o;
      else nonfiniteOut = true;
    }
    if (!finiteIn) {
      nonfiniteInputs++;
      continue;
    }
    va[i] = a;
    vb[i] = b;
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a - b));
    if (nonfiniteOut) nonfiniteOutputs++;
  }
  const stats: SegmentStats = {
    sumA2: 0,
    sumB2: 0,
    sumD2: 0,
    sumOut2: [],
    maxAbsDiff,
    nonfiniteInputs,
    nonfiniteOutputs,
  };
  if (dtype === "F64") {
    // fp64: element i into partial sum i % 8 with one fused multiply-add each, in element order.
    const sums = (value: (i: number) => number): number => {
      const p = new Array<number>(8).fill(0);
      for (let i = 0; i < n; i++) p[i % 8] = exactFma(value(i), value(i), p[i % 8] as number, F64_FORMAT);
      return reduceSlots(p);
    };
    stats.sumA2 = sums((i) => va[i] as number);
    stats.sumB2 = sums((i) => vb[i] as number);
    stats.sumD2 = sums((i) => (va[i] as number) - (vb[i] as number));
    stats.sumOut2 = vo.map((o) => sums((i) => o[i] as number));
  } else {
    const vd = va.map((x, i) => Math.fround(x - (vb[i] as number)));
    const wd = va.map((x, i) => x - (vb[i] as number));
    stats.sumA2 = narrowSums(dtype, va, va);
    stats.sumB2 = narrowSums(dtype, vb, vb);
    stats.sumD2 = narrowSums(dtype, vd, wd);
    stats.sumOut2 = vo.map((o) => narrowSums(dtype, o, o));
  }
  return { outs, stats };
}

/** A segment of any op and dtypes, as kernel/types.ts describes it (aligned and base hold exactly its elements). */
export interface OracleSegment {
  op?: "extrapolate" | "convert";
  dtype: FloatDtype;
  baseDtype?: FloatDtype;
  outDtype?: FloatDtype;
  arith: Arith;
  aligned: Uint8Array;
  base: Uint8Array;
  /** One per output (a conversion writes every output alike; alphas unused). */
  alphas: readonly number[];
}

/** Every element of `bytes` (dtype `from`) rounded to dtype `to`: nearest even straight from its value. */
export function oracleConvert(from: FloatDtype, to: FloatDtype, bytes: Uint8Array): Uint8Array {
  const n = bytes.length / DTYPE_SIZE[from];
  const src = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint8Array(n * DTYPE_SIZE[to]);
  const dst = new DataView(out.buffer);
  for (let i = 0; i < n; i++) writeValue(to, dst, i, readValue(from, src, i));
  return out;
}

/**
 * docs/arithmetic.md, mixed dtypes and conversions. A conversion writes R_out(aligned) to every output and has no
 * statistics. An extrapolate segment computes in one dtype C: torch mode C is the output dtype and both inputs are
 * first rounded to it, after which it is exactly an equal-dtype segment of C; fp32 mode C is F64 when an input is
 * F64, else F32, both inputs widened exactly, C's fp32-mode arithmetic with the result rounded once to the output
 * dtype, and C's statistics over those values.
 */
export function oracleSegment(seg: OracleSegment): OracleResult {
  const baseDtype = seg.baseDtype ?? seg.dtype;
  const outDtype = seg.outDtype ?? seg.dtype;
  if (seg.op === "convert") {
    const out = oracleConvert(seg.dtype, outDtype, seg.aligned);
    return {
      outs: seg.alphas.map(() => Uint8Array.from(out)),
      stats: {
        sumA2: 0,
        sumB2: 0,
        sumD2: 0,
        maxAbsDiff: 0,
        nonfiniteInputs: 0,
        nonfiniteOutputs: 0,
        sumOut2: seg.alphas.map(() => 0),
      },
    };
  }
  if (seg.dtype === baseDtype && seg.dtype === outDtype)
    return oracleExtrapolate(seg.dtype, seg.arith, seg.aligned, seg.base, seg.alphas);
  const c: FloatDtype = seg.arith === "torch" ? outDtype : seg.dtype === "F64" || baseDtype === "F64" ? "F64" : "F32";
  const a = oracleConvert(seg.dtype, c, seg.aligned);
  const b = oracleConvert(baseDtype, c, seg.base);
  return oracleExtrapolate(c, seg.arith, a, b, seg.alphas, outDtype);
}
