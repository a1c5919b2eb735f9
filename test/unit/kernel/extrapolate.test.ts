// The native kernel against the TypeScript oracle, bit for bit, on every SIMD path this CPU has: random bit
// patterns with NaNs (quiet and signaling, any payload), infinities, signed zeros, subnormals, pairs built to
// land on rounding ties, both arithmetic modes, all four dtypes, in place and with separate outputs.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import type { Arith, FloatDtype } from "../../../core/dtypes.js";
import type { SegmentStats } from "../../../core/statistics.js";
import { extrapolate } from "../../../kernel/extrapolate.js";
import { checkKernelLayout, DTYPE_CODE } from "../../../kernel/layout.js";
import { extrapolateSync, kernelInfo, kernelLayout, type Simd, setKernelSimd } from "../../../kernel/testing.js";
import type { ExtrapolateRequest, Segment } from "../../../kernel/types.js";
import {
  alphaArb,
  compose,
  LAYOUT,
  type Layout,
  lengthArb,
  pairArb,
  specials,
  writeBits,
} from "../../support/floatBits.js";
import {
  BF16_FORMAT,
  bf16ToF32,
  DTYPE_SIZE,
  exactFma,
  F16_FORMAT,
  F32_FORMAT,
  f16ToF32,
  f32Bits,
  f32FromBits,
  f32ToBf16,
  f32ToF16,
  f64Bits,
  fmaf,
  oracleExtrapolate,
  roundToFormat,
} from "../../support/oracle.js";

const DTYPES: FloatDtype[] = ["BF16", "F16", "F32", "F64"];
const ARITHS: Arith[] = ["fp32", "torch"];
const PATHS: Simd[] = kernelInfo().available;

/** The paths the CPU supports by its own account (Linux x86-64: /proc/cpuinfo; elsewhere only scalar is known). */
function cpuPaths(): Simd[] {
  if (process.arch !== "x64" || !existsSync("/proc/cpuinfo")) return ["scalar"];
  const flags = new Set(
    (/^flags\s*:(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "").trim().split(/\s+/),
  );
  const avx2 = ["avx2", "fma", "f16c"].every((f) => flags.has(f));
  const avx512 = avx2 && flags.has("avx512f") && flags.has("avx512dq");
  return avx512 ? ["scalar", "avx2", "avx512"] : avx2 ? ["scalar", "avx2"] : ["scalar"];
}
const RUNS = Number(process.env.EXPO_KERNEL_TEST_RUNS ?? 60);

after(() => setKernelSimd("auto"));

// ---- running the kernel on every path -------------------------------------------------------------------

interface Case {
  dtype: FloatDtype;
  arith: Arith;
  a: bigint[];
  b: bigint[];
  alphas: number[];
  inPlace: boolean;
  offsets: [number, number, number];
}

interface Run {
  outs: Uint8Array[];
  stats: SegmentStats;
}

/** Runs one case on the given path with fresh buffers (in place overwrites aligned). */
function runCase(c: Case, simd: Simd): Run {
  setKernelSimd(simd);
  const size = DTYPE_SIZE[c.dtype];
  const bytes = c.a.length * size;
  const [oa, ob, oo] = c.offsets;
  const aligned = Buffer.alloc(oa + bytes + 5, 0xa5);
  const base = Buffer.alloc(ob + bytes + 3, 0x5a);
  writeBits(c.dtype, aligned, oa, c.a);
  writeBits(c.dtype, base, ob, c.b);
  const outs = c.inPlace ? [aligned] : c.alphas.map(() => Buffer.alloc(oo + bytes + 7, 0x33));
  const outOffset = c.inPlace ? oa : oo;
  const segment: Segment = {
    dtype: c.dtype,
    count: c.a.length,
    alignedOffset: oa,
    baseOffset: ob,
    outOffset,
    alphas: c.alphas,
  };
  const [stats] = extrapolateSync({ arith: c.arith, aligned, base, outs, segments: [segment] });
  for (const o of outs) {
    // Bytes around the segment are untouched.
    assert.ok(
      o.subarray(0, outOffset).every((x) => x === (c.inPlace ? 0xa5 : 0x33)),
      "bytes before the output changed",
    );
    assert.ok(
      o.subarray(outOffset + bytes).every((x) => x === (c.inPlace ? 0xa5 : 0x33)),
      "bytes after the output changed",
    );
  }
  return {
    outs: outs.map((o) => Uint8Array.from(o.subarray(outOffset, outOffset + bytes))),
    stats: stats as SegmentStats,
  };
}

function close(x: number, y: number, rel = 1e-12): boolean {
  if (x === y) return true;
  return Number.isFinite(x) && Number.isFinite(y) && Math.abs(x - y) <= rel * Math.max(Math.abs(x), Math.abs(y));
}

function hex(v: bigint, width: number): string {
  return `0x${v.toString(16).padStart(width / 4, "0")}`;
}

function firstDifference(c: Case, got: Uint8Array, want: Uint8Array, k: number): string {
  const size = DTYPE_SIZE[c.dtype];
  const w = LAYOUT[c.dtype].width;
  const read = (u: Uint8Array, i: number) => {
    const v = new DataView(u.buffer, u.byteOffset, u.byteLength);
    return size === 8
      ? v.getBigUint64(i * size, true)
      : BigInt(size === 4 ? v.getUint32(i * 4, true) : v.getUint16(i * 2, true));
  };
  for (let i = 0; i < c.a.length; i++) {
    if (read(got, i) !== read(want, i))
      return `${c.dtype} ${c.arith} element ${i}/${c.a.length}: a=${hex(c.a[i] as bigint, w)} b=${hex(c.b[i] as bigint, w)} alpha=${c.alphas[k]} got ${hex(read(got, i), w)} want ${hex(read(want, i), w)}`;
  }
  return "no difference";
}

/** Kernel on every path == oracle, outputs and statistics bit for bit, counts exactly. */
function checkCase(c: Case): void {
  const alignedBytes = new Uint8Array(c.a.length * DTYPE_SIZE[c.dtype]);
  const baseBytes = new Uint8Array(alignedBytes.length);
  writeBits(c.dtype, alignedBytes, 0, c.a);
  writeBits(c.dtype, baseBytes, 0, c.b);
  const want = oracleExtrapolate(c.dtype, c.arith, alignedBytes, baseBytes, c.alphas);
  let first: Run | undefined;
  for (const simd of PATHS) {
    const got = runCase(c, simd);
    got.outs.forEach((o, k) => {
      const w = want.outs[k] as Uint8Array;
      if (!Buffer.from(o).equals(Buffer.from(w))) assert.fail(`[${simd}] ${firstDifference(c, o, w, k)}`);
    });
    const g = got.stats;
    const e = want.stats;
    assert.equal(g.nonfiniteInputs, e.nonfiniteInputs, `[${simd}] nonfiniteInputs`);
    assert.equal(g.nonfiniteOutputs, e.nonfiniteOutputs, `[${simd}] nonfiniteOutputs`);
    assert.equal(g.maxAbsDiff, e.maxAbsDiff, `[${simd}] maxAbsDiff`);
    // The oracle mirrors the kernel's summation (element.h), so the sums agree bit for bit.
    for (const key of ["sumA2", "sumB2", "sumD2"] as const)
      assert.ok(Object.is(g[key], e[key]), `[${simd}] ${key}: kernel ${g[key]} oracle ${e[key]}`);
    assert.equal(g.sumOut2.length, e.sumOut2.length, `[${simd}] sumOut2 length`);
    g.sumOut2.forEach((v, k) => {
      assert.ok(Object.is(v, e.sumOut2[k]), `[${simd}] sumOut2[${k}]: kernel ${v} oracle ${e.sumOut2[k]}`);
    });
    // The paths share one summation order, so their statistics agree exactly, not only closely.
    if (first) assert.deepEqual(g, first.stats, `[${simd}] statistics differ from [${PATHS[0]}]`);
    else first = got;
  }
}

function caseArb(dtype: FloatDtype, arith: Arith, alphas: fc.Arbitrary<number> = alphaArb): fc.Arbitrary<Case> {
  const l = LAYOUT[dtype];
  return fc
    .record({
      pairs: lengthArb.chain((n) => fc.array(pairArb(l), { minLength: n, maxLength: n })),
      inPlace: fc.boolean(),
      alphas3: fc.tuple(alphas, alphas, alphas),
      offsets: fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 })),
    })
    .map(({ pairs, inPlace, alphas3, offsets }) => ({
      dtype,
      arith,
      a: pairs.map((p) => p[0]),
      b: pairs.map((p) => p[1]),
      alphas: inPlace ? [alphas3[0]] : [...alphas3],
      inPlace,
      offsets,
    }));
}

// ---- the oracle itself ----------------------------------------------------------------------------------

describe("oracle", () => {
  it("converts every f16 and bf16 bit pattern to f32 and back unchanged (NaN to the canonical one)", () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = f16ToF32(h);
      assert.equal(f32ToF16(x), Number.isNaN(x) ? 0x7e00 : h);
      const y = bf16ToF32(h);
      assert.equal(f32ToBf16(y), Number.isNaN(y) ? 0x7fc0 : h);
    }
  });

  it("rounds known f16 and bf16 cases", () => {
    assert.equal(f32ToF16(65504), 0x7bff);
    assert.equal(f32ToF16(65519.99609375), 0x7bff);
    assert.equal(f32ToF16(65520), 0x7c00); // tie above the largest finite goes to infinity
    assert.equal(f32ToF16(2 ** -25), 0x0000); // tie between 0 and the smallest subnormal: even
    assert.equal(f32ToF16(3 * 2 ** -25), 0x0002);
    assert.equal(f32ToF16(-(2 ** -14) * (1 - 2 ** -12)), 0x8400); // rounds up to the smallest normal
    assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80); // tie to even
    assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82);
    assert.equal(f32ToBf16(f32FromBits(0x7f7fffff)), 0x7f80);
  });

  it("roundToFormat(·, F32) agrees with Math.fround", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true }), (x) => Object.is(roundToFormat(x, F32_FORMAT), Math.fround(x))),
      { numRuns: 2000 },
    );
  });

  it("fmaf (TwoSum) agrees with the exact BigInt fma, ties included", () => {
    const f32Arb = fc.oneof(
      fc.float({ noNaN: true }).map(Math.fround),
      fc.integer({ min: -(2 ** 12), max: 2 ** 12 }).map((i) => Math.fround(1 + i * 2 ** -23)),
    );
    fc.assert(
      fc.property(f32Arb, f32Arb, f32Arb, (a, b, c) => Object.is(fmaf(a, b, c), exactFma(a, b, c, F32_FORMAT))),
      { numRuns: 5000 },
    );
    // a·b = 1 + 2^-11 + 2^-24 exactly; c cancels the top: only a fused operation keeps 2^-24.
    const a = 1 + 2 ** -12;
    assert.equal(fmaf(a, a, -(1 + 2 ** -11)), 2 ** -24);
    // Exactly halfway between two f32 in double, with an error term deciding the direction.
    assert.equal(
      fmaf(1 + 2 ** -23, 1 + 2 ** -23, -(2 ** -30)),
      exactFma(1 + 2 ** -23, 1 + 2 ** -23, -(2 ** -30), F32_FORMAT),
    );
  });

  it("rounds to bf16 and f16 formats like the bit-level definitions", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (bits) => {
        const x = f32FromBits(bits);
        if (Number.isNaN(x)) return true;
        const bf = f32Bits(roundToFormat(x, BF16_FORMAT)) >>> 16;
        const viaCarry = ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
        return bf === viaCarry && f16ToF32(f32ToF16(x)) === roundToFormat(x, F16_FORMAT);
      }),
      { numRuns: 5000 },
    );
  });
});

// ---- known answers --------------------------------------------------------------------------------------

/** Runs one element pair repeated n times (vector blocks plus a tail) on every path; returns the output bits. */
function known(dtype: FloatDtype, arith: Arith, a: bigint, b: bigint, alpha: number, n = 37): bigint[] {
  const results = new Set<string>();
  let bits: bigint[] = [];
  for (const simd of PATHS) {
    const run = runCase(
      { dtype, arith, a: Array(n).fill(a), b: Array(n).fill(b), alphas: [alpha], inPlace: false, offsets: [1, 3, 5] },
      simd,
    );
    const out = run.outs[0] as Uint8Array;
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    const size = DTYPE_SIZE[dtype];
    bits = Array.from({ length: n }, (_, i) =>
      size === 8
        ? view.getBigUint64(8 * i, true)
        : BigInt(size === 4 ? view.getUint32(4 * i, true) : view.getUint16(2 * i, true)),
    );
    assert.equal(new Set(bits.map(String)).size, 1, `[${simd}] elements of one repeated pair differ`);
    results.add(String(bits[0]));
  }
  assert.equal(results.size, 1, "paths disagree");
  return bits;
}

describe("kernel known answers", () => {
  it("bf16 1.0, 0.5, α 0.5 gives 1.25 (0x3FA0) with the hand-computed statistics", () => {
    assert.equal(known("BF16", "fp32", 0x3f80n, 0x3f00n, 0.5)[0], 0x3fa0n);
    assert.equal(known("BF16", "torch", 0x3f80n, 0x3f00n, 0.5)[0], 0x3fa0n);
    const aligned = Buffer.from([0x80, 0x3f]);
    const base = Buffer.from([0x00, 0x3f]);
    const out = Buffer.alloc(2);
    const [s] = extrapolateSync({
      arith: "fp32",
      aligned,
      base,
      outs: [out],
      segments: [{ dtype: "BF16", count: 1, alignedOffset: 0, baseOffset: 0, outOffset: 0, alphas: [0.5] }],
    });
    assert.deepEqual(s, {
      sumA2: 1,
      sumB2: 0.25,
      sumD2: 0.25,
      sumOut2: [1.5625],
      maxAbsDiff: 0.5,
      nonfiniteInputs: 0,
      nonfiniteOutputs: 0,
    });
  });

  it("α = −0.5 gives the midpoint of θ0 and θ1 (γ = 1 + α = 0.5): 1.0, 0.5 → 0.75", () => {
    assert.equal(known("BF16", "fp32", 0x3f80n, 0x3f00n, -0.5)[0], 0x3f40n);
    assert.equal(known("BF16", "torch", 0x3f80n, 0x3f00n, -0.5)[0], 0x3f40n);
    assert.equal(known("F16", "fp32", 0x3c00n, 0x3800n, -0.5)[0], 0x3a00n);
    assert.equal(known("F32", "torch", 0x3f800000n, 0x3f000000n, -0.5)[0], 0x3f400000n);
    assert.equal(known("F64", "fp32", 0x3ff0000000000000n, 0x3fe0000000000000n, -0.5)[0], 0x3fe8000000000000n);
  });

  it("other dtypes: 1.0, 0.5, α 0.5 gives 1.25", () => {
    assert.equal(known("F16", "fp32", 0x3c00n, 0x3800n, 0.5)[0], 0x3d00n);
    assert.equal(known("F32", "fp32", 0x3f800000n, 0x3f000000n, 0.5)[0], 0x3fa00000n);
    assert.equal(known("F64", "fp32", 0x3ff0000000000000n, 0x3fe0000000000000n, 0.5)[0], 0x3ff4000000000000n);
  });

  it("bf16 ties round to even", () => {
    // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7.
    assert.equal(known("BF16", "fp32", 0x3f80n, 0x3f7en, 0.5)[0], 0x3f80n);
    // 1 + 2^-7 + 2^-8 lies halfway between 0x3F81 and 0x3F82.
    assert.equal(known("BF16", "fp32", 0x3f81n, 0x3f80n, 0.5)[0], 0x3f82n);
  });

  it("fp32 mode fuses the multiply-add, torch mode rounds the product first", () => {
    // a = -(1 + 2^-11), b = -(2 + 2^-11 + 2^-12): a − b = 1 + 2^-12 exactly; α = 1 + 2^-12.
    const a = BigInt(f32Bits(-(1 + 2 ** -11)));
    const b = BigInt(f32Bits(-(2 + 2 ** -11 + 2 ** -12)));
    const alpha = 1 + 2 ** -12;
    assert.equal(known("F32", "fp32", a, b, alpha)[0], 0x33800000n); // 2^-24
    assert.equal(known("F32", "torch", a, b, alpha)[0], 0x00000000n); // +0
  });

  it("NaN outputs are the canonical quiet NaN of the dtype, whatever the input NaN", () => {
    assert.equal(known("BF16", "fp32", 0xffffn, 0x3f80n, 0.5)[0], 0x7fc0n);
    assert.equal(known("BF16", "torch", 0x3f80n, 0x7f81n, 0.5)[0], 0x7fc0n);
    assert.equal(known("F16", "fp32", 0x7c01n, 0x3c00n, 0.5)[0], 0x7e00n);
    assert.equal(known("F16", "torch", 0xfe55n, 0x3c00n, 0.5)[0], 0x7e00n);
    assert.equal(known("F32", "fp32", 0xff800001n, 0n, 0.5)[0], 0x7fc00000n);
    assert.equal(known("F64", "torch", 0xfff0000000000001n, 0n, 0.5)[0], 0x7ff8000000000000n);
  });

  it("infinities follow IEEE: Inf stays Inf, 0 · Inf is NaN, overflow gives Inf and is counted", () => {
    assert.equal(known("BF16", "fp32", 0x7f80n, 0x3f80n, 0.5)[0], 0x7f80n);
    assert.equal(known("BF16", "fp32", 0x7f80n, 0x3f80n, 0)[0], 0x7fc0n);
    assert.equal(known("F16", "fp32", 0x7bffn, 0xfbffn, 0.5)[0], 0x7c00n);
    const aligned = Buffer.from([0x7f, 0x7f, 0x80, 0x7f]); // bf16 largest finite, then +Inf
    const base = Buffer.from([0x7f, 0xff, 0x80, 0x3f]); // −largest, 1
    const out = Buffer.alloc(4);
    const [s] = extrapolateSync({
      arith: "fp32",
      aligned,
      base,
      outs: [out],
      segments: [{ dtype: "BF16", count: 2, alignedOffset: 0, baseOffset: 0, outOffset: 0, alphas: [0.5] }],
    });
    assert.equal(out.readUInt16LE(0), 0x7f80);
    assert.equal(s?.nonfiniteInputs, 1);
    assert.equal(s?.nonfiniteOutputs, 1);
  });
});

// ---- properties -----------------------------------------------------------------------------------------

describe("kernel == oracle, bit for bit, on every SIMD path", () => {
  it(`runs on every path this CPU has: ${PATHS.join(", ")}`, () => {
    assert.deepEqual(PATHS, cpuPaths(), "the addon offers other SIMD paths than this CPU supports");
    for (const simd of PATHS) {
      assert.equal(setKernelSimd(simd), simd, `setKernelSimd("${simd}")`);
      assert.equal(kernelInfo().simd, simd, `calls after setKernelSimd("${simd}") run on it`);
    }
    setKernelSimd("auto");
  });
  for (const dtype of DTYPES) {
    for (const arith of ARITHS) {
      it(`${dtype} ${arith}: random bit patterns, K = 1 in place and K = 3, unaligned offsets`, () => {
        fc.assert(fc.property(caseArb(dtype, arith), checkCase), { numRuns: RUNS });
      });
    }
  }

  // −1 < α < 0 interpolates (γ = 1 + α): the paper's first-order check. Only a number to the kernel, but
  // one the product code used to refuse, so it gets its own properties.
  const interpolationAlphaArb = fc.oneof(
    fc.constantFrom(-0.5, -0.25, -0.1, -0.75, -0.9, -0.999, -(2 ** -20)),
    fc.double({ min: -1, max: 0, minExcluded: true, maxExcluded: true, noNaN: true }),
  );
  for (const dtype of DTYPES) {
    for (const arith of ARITHS) {
      it(`${dtype} ${arith}: interpolation, −1 < α < 0`, () => {
        fc.assert(fc.property(caseArb(dtype, arith, interpolationAlphaArb), checkCase), { numRuns: RUNS });
      });
    }
  }

  it("every length 0..70 and a few larger ones (vector blocks and tails)", () => {
    for (const dtype of DTYPES) {
      const el = fc.sample(pairArb(LAYOUT[dtype]), { numRuns: 200, seed: 11 });
      for (const n of [...Array(71).keys(), 95, 96, 97, 127, 128, 129]) {
        const pairs = Array.from({ length: n }, (_, i) => el[(i * 7 + n) % el.length] as [bigint, bigint]);
        for (const arith of ARITHS)
          checkCase({
            dtype,
            arith,
            a: pairs.map((p) => p[0]),
            b: pairs.map((p) => p[1]),
            alphas: [0.5, 0.3, -1.25],
            inPlace: false,
            offsets: [n % 3, n % 5, n % 7],
          });
      }
    }
  });

  it("weights-like tensors (100k bf16, 20k of the others), both modes, in place", () => {
    let seed = 12345;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const gauss = () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
    const encode = (dtype: FloatDtype, x: number): bigint =>
      dtype === "BF16"
        ? BigInt(f32ToBf16(x))
        : dtype === "F16"
          ? BigInt(f32ToF16(x))
          : dtype === "F32"
            ? BigInt(f32Bits(x))
            : f64Bits(x);
    for (const dtype of DTYPES) {
      const n = dtype === "BF16" ? 100_000 : 20_000;
      const a: bigint[] = [];
      const b: bigint[] = [];
      for (let i = 0; i < n; i++) {
        const w = 0.02 * gauss();
        b.push(encode(dtype, w));
        a.push(encode(dtype, w + 0.0005 * gauss()));
      }
      for (const arith of ARITHS) checkCase({ dtype, arith, a, b, alphas: [0.3], inPlace: true, offsets: [2, 0, 2] });
    }
  });

  it("segments over 1 MiB with separate outputs and scattered non-finite values (redone blocks)", () => {
    let seed = 99;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const specialsOf = (dtype: FloatDtype) => specials(LAYOUT[dtype]);
    const encode = (dtype: FloatDtype, x: number): bigint =>
      dtype === "BF16"
        ? BigInt(f32ToBf16(x))
        : dtype === "F16"
          ? BigInt(f32ToF16(x))
          : dtype === "F32"
            ? BigInt(f32Bits(x))
            : f64Bits(x);
    for (const dtype of DTYPES) {
      const n = Math.ceil((1.2 * 2 ** 20) / DTYPE_SIZE[dtype]) + 13;
      const sp = specialsOf(dtype);
      const a: bigint[] = [];
      const b: bigint[] = [];
      for (let i = 0; i < n; i++) {
        const w = 0.05 * (next() - 0.5);
        a.push(i % 7919 === 5 ? (sp[i % sp.length] as bigint) : encode(dtype, w + 0.001 * (next() - 0.5)));
        b.push(i % 10007 === 9 ? (sp[(i >> 3) % sp.length] as bigint) : encode(dtype, w));
      }
      checkCase({
        dtype,
        arith: dtype === "F32" ? "torch" : "fp32",
        a,
        b,
        alphas: [0.3, -0.7],
        inPlace: false,
        offsets: [3, 1, 5],
      });
    }
  });

  it("statistics are bit-identical across paths where summation order shows (1-3 blocks)", () => {
    // Squares of full-mantissa values with exponents a few binades apart do not sum exactly in fp64, so any
    // change in the order of the partial sums shows; bf16 squares are short and sum exactly, so it is left out.
    const wide = (l: Layout) => {
      const bias = (1n << BigInt(l.expBits - 1)) - 1n;
      return fc
        .tuple(
          fc.bigInt({ min: 0n, max: 1n }),
          fc.bigInt({ min: bias - 6n, max: bias + 6n }),
          fc.bigInt({ min: 0n, max: (1n << BigInt(l.manBits)) - 1n }),
        )
        .map(([sgn, e, m]) => compose(l, sgn, e, m));
    };
    for (const dtype of ["F16", "F32", "F64"] as const) {
      const l = LAYOUT[dtype];
      fc.assert(
        fc.property(
          fc
            .integer({ min: 32, max: 100 })
            .chain((n) => fc.array(fc.tuple(wide(l), wide(l)), { minLength: n, maxLength: n })),
          fc.constantFrom(...ARITHS),
          (pairs, arith) =>
            checkCase({
              dtype,
              arith,
              a: pairs.map((p) => p[0]),
              b: pairs.map((p) => p[1]),
              alphas: [0.3, 0.7, 1.1],
              inPlace: false,
              offsets: [0, 1, 2],
            }),
        ),
        { numRuns: RUNS },
      );
    }
  });

  it("bf16 values of 2^64 and more: fp32 group sums that overflow are summed in fp64 instead", () => {
    // 2^70 squared overflows fp32; the statistics stay finite and exact (squares of powers of two).
    const big = BigInt(f32ToBf16(2 ** 70));
    const one = BigInt(f32ToBf16(1));
    const n = 70;
    const a = Array.from({ length: n }, (_, i) => (i % 9 === 4 ? big : one));
    const b = Array.from({ length: n }, (_, i) => (i % 13 === 7 ? big : one));
    for (const arith of ARITHS)
      checkCase({ dtype: "BF16", arith, a, b, alphas: [0, 0.5], inPlace: false, offsets: [0, 1, 2] });
    const aligned = Buffer.alloc(2 * n);
    const base = Buffer.alloc(2 * n);
    writeBits("BF16", aligned, 0, a);
    writeBits("BF16", base, 0, b);
    const [s] = extrapolateSync({
      arith: "fp32",
      aligned,
      base,
      outs: [Buffer.alloc(2 * n)],
      segments: [{ dtype: "BF16", count: n, alignedOffset: 0, baseOffset: 0, outOffset: 0, alphas: [0] }],
    });
    const nBigA = a.filter((x) => x === big).length;
    const nBigB = b.filter((x) => x === big).length;
    assert.equal(s?.sumA2, nBigA * 2 ** 140 + (n - nBigA));
    assert.equal(s?.sumB2, nBigB * 2 ** 140 + (n - nBigB));
    assert.ok(Number.isFinite(s?.sumD2));
  });

  it("max|a − b| is the fp64 difference even where fp32 rounds it onto the running maximum", () => {
    // Block 0 sets the maximum to 2^20 exactly; in block 1, 2^20 − (−2^-10) rounds to 2^20 in fp32 but not
    // in fp64, so the fp32 filter must let equal values through.
    for (const dtype of ["BF16", "F32"] as const) {
      const enc = (x: number) => (dtype === "BF16" ? BigInt(f32ToBf16(x)) : BigInt(f32Bits(x)));
      const n = 64;
      const a = Array.from({ length: n }, () => enc(0.5));
      const b = Array.from({ length: n }, () => enc(0.5));
      a[3] = enc(2 ** 20);
      b[3] = enc(0);
      a[40] = enc(2 ** 20);
      b[40] = enc(-(2 ** -10));
      for (const arith of ARITHS) checkCase({ dtype, arith, a, b, alphas: [0.3], inPlace: false, offsets: [0, 0, 0] });
      const aligned = Buffer.alloc(n * DTYPE_SIZE[dtype]);
      const base = Buffer.alloc(aligned.length);
      writeBits(dtype, aligned, 0, a);
      writeBits(dtype, base, 0, b);
      for (const simd of PATHS) {
        setKernelSimd(simd);
        const [s] = extrapolateSync({
          arith: "fp32",
          aligned,
          base,
          outs: [Buffer.alloc(aligned.length)],
          segments: [{ dtype, count: n, alignedOffset: 0, baseOffset: 0, outOffset: 0, alphas: [0.3] }],
        });
        assert.equal(s?.maxAbsDiff, 2 ** 20 + 2 ** -10, `[${simd}] ${dtype}`);
      }
      setKernelSimd("auto");
    }
  });

  it("the fp32 group sums stay within 1e-6 of the fp64 sums of squares (weights-like bf16)", () => {
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const gauss = () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
    const n = 50_000;
    const a: bigint[] = [];
    const b: bigint[] = [];
    for (let i = 0; i < n; i++) {
      const w = 0.02 * gauss();
      b.push(BigInt(f32ToBf16(w)));
      a.push(BigInt(f32ToBf16(w + 0.0005 * gauss())));
    }
    const aligned = Buffer.alloc(2 * n);
    const base = Buffer.alloc(2 * n);
    writeBits("BF16", aligned, 0, a);
    writeBits("BF16", base, 0, b);
    const out = Buffer.alloc(2 * n);
    const [s] = extrapolateSync({
      arith: "fp32",
      aligned,
      base,
      outs: [out],
      segments: [{ dtype: "BF16", count: n, alignedOffset: 0, baseOffset: 0, outOffset: 0, alphas: [0.3] }],
    });
    let a2 = 0;
    let b2 = 0;
    let d2 = 0;
    let o2 = 0;
    for (let i = 0; i < n; i++) {
      const x = aligned.readUInt16LE(2 * i);
      const y = base.readUInt16LE(2 * i);
      const av = f32FromBits(x << 16);
      const bv = f32FromBits(y << 16);
      const ov = f32FromBits(out.readUInt16LE(2 * i) << 16);
      a2 += av * av;
      b2 += bv * bv;
      d2 += (av - bv) * (av - bv);
      o2 += ov * ov;
    }
    assert.ok(close(s?.sumA2 as number, a2, 1e-6), `sumA2 ${s?.sumA2} vs ${a2}`);
    assert.ok(close(s?.sumB2 as number, b2, 1e-6), `sumB2 ${s?.sumB2} vs ${b2}`);
    assert.ok(close(s?.sumD2 as number, d2, 1e-6), `sumD2 ${s?.sumD2} vs ${d2}`);
    assert.ok(close(s?.sumOut2[0] as number, o2, 1e-6), `sumOut2 ${s?.sumOut2[0]} vs ${o2}`);
  });

  it("many segments of mixed dtypes in one call, shared buffers, unaligned offsets, K = 2", () => {
    const segArb = fc.record({
      dtype: fc.constantFrom(...DTYPES),
      n: lengthArb,
      gapA: fc.integer({ min: 0, max: 9 }),
      gapB: fc.integer({ min: 0, max: 9 }),
      alphas: fc.tuple(alphaArb, alphaArb),
      seed: fc.integer(),
    });
    fc.assert(
      fc.property(fc.array(segArb, { minLength: 1, maxLength: 8 }), fc.constantFrom(...ARITHS), (specs, arith) => {
        for (const simd of PATHS) {
          setKernelSimd(simd);
          let posA = 0;
          let posB = 0;
          const laid = specs.map((s) => {
            const l = LAYOUT[s.dtype];
            const pairs = fc.sample(pairArb(l), { numRuns: Math.max(s.n, 1), seed: s.seed }).slice(0, s.n);
            const bytes = s.n * DTYPE_SIZE[s.dtype];
            const at = { a: posA + s.gapA, b: posB + s.gapB };
            posA = at.a + bytes;
            posB = at.b + bytes;
            return { ...s, pairs, at, bytes };
          });
          const aligned = Buffer.alloc(posA + 1);
          const base = Buffer.alloc(posB + 1);
          for (const s of laid) {
            writeBits(
              s.dtype,
              aligned,
              s.at.a,
              s.pairs.map((p) => p[0]),
            );
            writeBits(
              s.dtype,
              base,
              s.at.b,
              s.pairs.map((p) => p[1]),
            );
          }
          const outs = [Buffer.alloc(posA + 1), Buffer.alloc(posA + 1)];
          const req: ExtrapolateRequest = {
            arith,
            device: "cpu",
            aligned,
            base,
            outs,
            segments: laid.map((s) => ({
              dtype: s.dtype,
              count: s.n,
              alignedOffset: s.at.a,
              baseOffset: s.at.b,
              outOffset: s.at.a,
              alphas: s.alphas,
            })),
          };
          const stats = extrapolateSync(req);
          laid.forEach((s, i) => {
            const want = oracleExtrapolate(
              s.dtype,
              arith,
              aligned.subarray(s.at.a, s.at.a + s.bytes),
              base.subarray(s.at.b, s.at.b + s.bytes),
              s.alphas,
            );
            outs.forEach((o, k) => {
              const w = Buffer.from(want.outs[k] as Uint8Array);
              assert.ok(o.subarray(s.at.a, s.at.a + s.bytes).equals(w), `segment ${i} output ${k}`);
            });
            assert.equal(stats[i]?.nonfiniteInputs, want.stats.nonfiniteInputs);
            assert.equal(stats[i]?.nonfiniteOutputs, want.stats.nonfiniteOutputs);
            assert.ok(Object.is(stats[i]?.sumD2, want.stats.sumD2), `segment ${i} sumD2`);
          });
        }
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  });

  it("the async call gives the same outputs and statistics as the sync one", async () => {
    setKernelSimd("auto");
    const n = 4099;
    const aligned = Buffer.alloc(n * 2);
    const base = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++) {
      aligned.writeUInt16LE(f32ToBf16(Math.sin(i) * 0.05), 2 * i);
      base.writeUInt16LE(f32ToBf16(Math.sin(i) * 0.05 + Math.cos(i) * 0.001), 2 * i);
    }
    const segments: Segment[] = [
      { dtype: "BF16", count: n, alignedOffset: 0, baseOffset: 0, outOffset: 0, alphas: [0.5, 0.3] },
    ];
    const outsA = [Buffer.alloc(n * 2), Buffer.alloc(n * 2)];
    const outsS = [Buffer.alloc(n * 2), Buffer.alloc(n * 2)];
    const [a, s] = await Promise.all([
      extrapolate({ arith: "torch", device: "cpu", aligned, base, outs: outsA, segments }),
      Promise.resolve(extrapolateSync({ arith: "torch", aligned, base, outs: outsS, segments })),
    ]);
    assert.deepEqual(a, s);
    assert.ok(outsA[0]?.equals(outsS[0] as Buffer) && outsA[1]?.equals(outsS[1] as Buffer));
    // Reused results scratch.
    const scratch = new Float64Array(64);
    const again = await extrapolate({ arith: "torch", device: "cpu", aligned, base, outs: outsA, segments }, scratch);
    assert.deepEqual(again, a);
  });
});

// ---- invalid requests -----------------------------------------------------------------------------------

describe("kernel rejects invalid requests before doing any work", () => {
  const seg = (over: Partial<Segment> = {}): Segment => ({
    dtype: "BF16",
    count: 8,
    alignedOffset: 0,
    baseOffset: 0,
    outOffset: 0,
    alphas: [0.5],
    ...over,
  });
  const req = (over: Partial<ExtrapolateRequest> = {}): ExtrapolateRequest => ({
    arith: "fp32",
    device: "cpu",
    aligned: Buffer.alloc(16),
    base: Buffer.alloc(16),
    outs: [Buffer.alloc(16)],
    segments: [seg()],
    ...over,
  });
  const cases: [string, ExtrapolateRequest, ErrorConstructor, RegExp][] = [
    ["aligned too short", req({ segments: [seg({ count: 9 })] }), RangeError, /segment 0: aligned bytes/],
    ["aligned offset past the end", req({ segments: [seg({ alignedOffset: 2 })] }), RangeError, /aligned bytes/],
    ["base too short", req({ base: Buffer.alloc(15) }), RangeError, /base bytes/],
    ["output too short", req({ outs: [Buffer.alloc(4)] }), RangeError, /output 0 bytes/],
    [
      "second segment out of bounds",
      req({ segments: [seg(), seg({ dtype: "F32", count: 5 })] }),
      RangeError,
      /segment 1/,
    ],
    ["negative offset", req({ segments: [seg({ baseOffset: -2 })] }), RangeError, /baseOffset must be an integer/],
    ["fractional count", req({ segments: [seg({ count: 1.5 })] }), RangeError, /count must be an integer/],
    ["NaN alpha", req({ segments: [seg({ alphas: [Number.NaN] })] }), RangeError, /alpha 0/],
    ["alpha beyond float", req({ segments: [seg({ alphas: [1e39] })] }), RangeError, /not a finite float/],
    ["alphas not one per output", req({ segments: [seg({ alphas: [0.5, 0.3] })] }), RangeError, /one alpha per output/],
    ["no outputs", req({ outs: [], segments: [seg({ alphas: [] })] }), RangeError, /1 to 32/],
    ["unknown dtype", req({ segments: [seg({ dtype: "I8" as FloatDtype })] }), TypeError, /dtype I8/],
    ["arith unknown", req({ arith: "fast" as Arith }), TypeError, /arith/],
    [
      "aligned not bytes",
      req({ aligned: new Float32Array(4) as unknown as Buffer }),
      TypeError,
      /aligned must be a Buffer/,
    ],
  ];

  for (const [name, r, type, message] of cases) {
    it(name, async () => {
      assert.throws(
        () => extrapolateSync(r),
        (e: unknown) => e instanceof type && message.test((e as Error).message),
      );
      await assert.rejects(extrapolate(r), (e: unknown) => e instanceof type && message.test((e as Error).message));
    });
  }

  it("an output that partially overlaps an input (but exact in place is fine)", () => {
    const buf = Buffer.alloc(64);
    const base = Buffer.alloc(64);
    assert.throws(
      () => extrapolateSync(req({ aligned: buf, base, outs: [buf], segments: [seg({ outOffset: 2 })] })),
      /partially overlaps/,
    );
    assert.throws(
      () => extrapolateSync(req({ aligned: buf, base, outs: [buf.subarray(1)], segments: [seg({ outOffset: 0 })] })),
      /partially overlaps/,
    );
    extrapolateSync(req({ aligned: buf, base, outs: [buf], segments: [seg({ outOffset: 0 })] }));
  });

  it("results sharing memory with an output", () => {
    const out = Buffer.alloc(64);
    const results = new Float64Array(out.buffer, out.byteOffset, 7);
    assert.throws(() => extrapolateSync(req({ outs: [out] }), results), /must not share memory/);
  });

  it("nothing is written when a later segment is invalid", () => {
    const out = Buffer.alloc(16, 0x77);
    assert.throws(() => extrapolateSync(req({ outs: [out], segments: [seg(), seg({ count: 99 })] })), RangeError);
    assert.ok(out.every((x) => x === 0x77));
  });

  it("DTYPE_CODE matches the native numbering", () => {
    assert.deepEqual(DTYPE_CODE, { BF16: 0, F16: 1, F32: 2, F64: 3 });
    assert.equal(F16_FORMAT.p, 11);
  });

  it("the addon's layout (kernel/src/layout.h) is the wrapper's; a differing one is refused in one line", () => {
    const native = kernelLayout();
    assert.deepEqual(native, {
      descHead: 8,
      resultHead: 6,
      maxOutputs: 32,
      dtypes: { BF16: 0, F16: 1, F32: 2, F64: 3 },
      arith: { fp32: 0, torch: 1 },
      ops: { extrapolate: 0, convert: 1 },
      desc: ["op", "dtype", "baseDtype", "outDtype", "count", "alignedOffset", "baseOffset", "outOffset"],
      result: ["sumA2", "sumB2", "sumD2", "maxAbsDiff", "nonfiniteInputs", "nonfiniteOutputs"],
    });
    checkKernelLayout(native);
    checkKernelLayout({ ...native, dtypes: { F64: 3, F32: 2, F16: 1, BF16: 0 } }); // key order is no difference
    const refused = (layout: Parameters<typeof checkKernelLayout>[0], field: RegExp) =>
      assert.throws(
        () => checkKernelLayout(layout),
        (e: Error) => field.test(e.message) && !e.message.includes("\n") && /npm run build/.test(e.message),
      );
    refused({ ...native, resultHead: 7 }, /differs in resultHead: addon 7, wrapper 6/);
    refused({ ...native, dtypes: { ...native.dtypes, F16: 9 } }, /differs in dtypes/);
    const swapped = ["op", "dtype", "outDtype", "baseDtype", "count", "alignedOffset", "baseOffset", "outOffset"];
    refused({ ...native, desc: swapped }, /differs in desc/);
    refused({ ...native, ops: { extrapolate: 1, convert: 0 } }, /differs in ops/);
    refused(undefined, /no layout \(a stale build\?\)/);
  });
});
