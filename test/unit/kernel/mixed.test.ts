// Mixed dtypes and conversions (docs/arithmetic.md): the native kernel against the TypeScript oracle, bit for bit,
// outputs and statistics, on every SIMD path this CPU has: every (dtype, baseDtype, outDtype) triple of BF16, F16,
// F32, F64 in both arithmetic modes, every conversion, K = 1 to 3, separate outputs and in place (over aligned or
// base where the dtypes allow it), random bit patterns with NaNs, infinities, signed zeros, subnormals and values
// on the output dtype's rounding ties; segments around the staging chunk; and the requests the kernel refuses.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import type { Arith, FloatDtype } from "../../../core/dtypes.js";
import type { SegmentStats } from "../../../core/statistics.js";
import { extrapolate } from "../../../kernel/extrapolate.js";
import { extrapolateSync, kernelInfo, type Simd, setKernelSimd } from "../../../kernel/testing.js";
import type { ExtrapolateRequest, Segment, SegmentOp } from "../../../kernel/types.js";
import { alphaArb, bitsOf, mixedPairArb, writeBits } from "../../support/floatBits.js";
import {
  BF16_FORMAT,
  DTYPE_SIZE,
  F16_FORMAT,
  F32_FORMAT,
  f32FromBits,
  f64Bits,
  oracleSegment,
  roundDoubleExact,
  roundToFormat,
} from "../../support/oracle.js";

const DTYPES: FloatDtype[] = ["BF16", "F16", "F32", "F64"];
const ARITHS: Arith[] = ["fp32", "torch"];
const PATHS: Simd[] = kernelInfo().available;
const RUNS = Math.max(4, Math.ceil(Number(process.env.EXPO_KERNEL_TEST_RUNS ?? 60) / 5));

after(() => setKernelSimd("auto"));

interface MixedCase {
  op: SegmentOp;
  arith: Arith;
  dtype: FloatDtype;
  baseDtype: FloatDtype;
  outDtype: FloatDtype;
  a: bigint[];
  b: bigint[];
  alphas: number[];
  /** The output written over an input's own bytes (K = 1), or K separate outputs. */
  inPlace: "aligned" | "base" | false;
  offsets: [number, number, number];
}

interface Run {
  outs: Uint8Array[];
  stats: SegmentStats;
}

function bytesOf(dtype: FloatDtype, values: readonly bigint[]): Uint8Array {
  const u = new Uint8Array(values.length * DTYPE_SIZE[dtype]);
  writeBits(dtype, u, 0, values);
  return u;
}

/** Runs a case on one path with fresh buffers; the bytes around every output are checked untouched. */
function runCase(c: MixedCase, simd: Simd): Run {
  setKernelSimd(simd);
  const n = c.a.length;
  const [oa, ob, oo] = c.offsets;
  const aligned = Buffer.alloc(oa + n * DTYPE_SIZE[c.dtype] + 5, 0xa5);
  const base = Buffer.alloc(ob + n * DTYPE_SIZE[c.baseDtype] + 3, 0x5a);
  writeBits(c.dtype, aligned, oa, c.a);
  writeBits(c.baseDtype, base, ob, c.b);
  const outBytes = n * DTYPE_SIZE[c.outDtype];
  const outs =
    c.inPlace === "aligned"
      ? [aligned]
      : c.inPlace === "base"
        ? [base]
        : c.alphas.map(() => Buffer.alloc(oo + outBytes + 7, 0x33));
  const fill = c.inPlace === "aligned" ? 0xa5 : c.inPlace === "base" ? 0x5a : 0x33;
  const outOffset = c.inPlace === "aligned" ? oa : c.inPlace === "base" ? ob : oo;
  const segment: Segment = {
    op: c.op,
    dtype: c.dtype,
    baseDtype: c.baseDtype,
    outDtype: c.outDtype,
    count: n,
    alignedOffset: oa,
    baseOffset: ob,
    outOffset,
    // A conversion's alphas are unused: sometimes none at all.
    alphas: c.op === "convert" && n % 2 === 1 ? [] : c.alphas,
  };
  const [stats] = extrapolateSync({ arith: c.arith, aligned, base, outs, segments: [segment] });
  for (const o of outs) {
    assert.ok(
      o.subarray(0, outOffset).every((x) => x === fill),
      `[${simd}] bytes before the output changed`,
    );
    assert.ok(
      o.subarray(outOffset + outBytes).every((x) => x === fill),
      `[${simd}] bytes after the output changed`,
    );
  }
  return {
    outs: outs.map((o) => Uint8Array.from(o.subarray(outOffset, outOffset + outBytes))),
    stats: stats as SegmentStats,
  };
}

function readBits(dtype: FloatDtype, u: Uint8Array, i: number): bigint {
  const v = new DataView(u.buffer, u.byteOffset, u.byteLength);
  const size = DTYPE_SIZE[dtype];
  if (size === 8) return v.getBigUint64(8 * i, true);
  return BigInt(size === 4 ? v.getUint32(4 * i, true) : v.getUint16(2 * i, true));
}

function describeCase(c: MixedCase): string {
  return `${c.op} ${c.arith} ${c.dtype}+${c.baseDtype}->${c.outDtype} n=${c.a.length} K=${c.alphas.length} inPlace=${c.inPlace}`;
}

function firstDifference(c: MixedCase, got: Uint8Array, want: Uint8Array, k: number): string {
  for (let i = 0; i < c.a.length; i++) {
    const g = readBits(c.outDtype, got, i);
    const w = readBits(c.outDtype, want, i);
    if (g !== w)
      return `${describeCase(c)} element ${i}: a=0x${(c.a[i] as bigint).toString(16)} b=0x${(c.b[i] as bigint).toString(16)} alpha=${c.alphas[k]} got 0x${g.toString(16)} want 0x${w.toString(16)}`;
  }
  return "no difference";
}

/** Every path == the oracle, outputs and statistics bit for bit; the paths' statistics equal each other. */
function checkCase(c: MixedCase): void {
  const want = oracleSegment({
    op: c.op,
    arith: c.arith,
    dtype: c.dtype,
    baseDtype: c.baseDtype,
    outDtype: c.outDtype,
    aligned: bytesOf(c.dtype, c.a),
    base: bytesOf(c.baseDtype, c.b),
    alphas: c.alphas,
  });
  let first: Run | undefined;
  for (const simd of PATHS) {
    const got = runCase(c, simd);
    got.outs.forEach((o, k) => {
      const w = want.outs[k] as Uint8Array;
      if (!Buffer.from(o).equals(Buffer.from(w))) assert.fail(`[${simd}] ${firstDifference(c, o, w, k)}`);
    });
    const g = got.stats;
    const e = want.stats;
    const where = `[${simd}] ${describeCase(c)}`;
    assert.equal(g.nonfiniteInputs, e.nonfiniteInputs, `${where}: nonfiniteInputs`);
    assert.equal(g.nonfiniteOutputs, e.nonfiniteOutputs, `${where}: nonfiniteOutputs`);
    assert.ok(Object.is(g.maxAbsDiff, e.maxAbsDiff), `${where}: maxAbsDiff ${g.maxAbsDiff} oracle ${e.maxAbsDiff}`);
    for (const key of ["sumA2", "sumB2", "sumD2"] as const)
      assert.ok(Object.is(g[key], e[key]), `${where}: ${key} kernel ${g[key]} oracle ${e[key]}`);
    assert.equal(g.sumOut2.length, e.sumOut2.length, `${where}: sumOut2 length`);
    g.sumOut2.forEach((v, k) => {
      assert.ok(Object.is(v, e.sumOut2[k]), `${where}: sumOut2[${k}] kernel ${v} oracle ${e.sumOut2[k]}`);
    });
    if (first) assert.deepEqual(g, first.stats, `${where}: statistics differ from [${PATHS[0]}]`);
    else first = got;
  }
}

const mixedLengthArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 70 }) },
  { weight: 3, arbitrary: fc.integer({ min: 71, max: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom(1023, 1024, 1025, 2085) }, // around the staging chunk (1024 elements)
);

function caseArb(
  op: SegmentOp,
  arith: Arith,
  dtype: FloatDtype,
  baseDtype: FloatDtype,
  outDtype: FloatDtype,
): fc.Arbitrary<MixedCase> {
  const places: MixedCase["inPlace"][] = [false];
  if (outDtype === dtype) places.push("aligned");
  if (op === "extrapolate" && outDtype === baseDtype) places.push("base");
  return fc
    .record({
      pairs: mixedLengthArb.chain((n) =>
        fc.array(mixedPairArb(dtype, baseDtype, outDtype), { minLength: n, maxLength: n }),
      ),
      k: fc.integer({ min: 1, max: 3 }),
      inPlace: fc.constantFrom(...places),
      alphas: fc.tuple(alphaArb, alphaArb, alphaArb),
      offsets: fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 })),
    })
    .map(({ pairs, k, inPlace, alphas, offsets }) => ({
      op,
      arith,
      dtype,
      baseDtype,
      outDtype,
      a: pairs.map((p) => p[0]),
      b: pairs.map((p) => p[1]),
      alphas: alphas.slice(0, inPlace ? 1 : k),
      inPlace,
      offsets,
    }));
}

// ---- the oracle's conversions --------------------------------------------------------------------------------

describe("mixed dtypes: the oracle's roundings from fp64", () => {
  it("rounds doubles to BF16, F16 and F32 as the exact BigInt rounding does (ties, subnormals, overflow)", () => {
    const doubleArb = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      // near ties of bf16 (2^-8 relative), f16 (2^-11) and f32 (2^-24): a midpoint plus or minus a few ulps
      fc
        .tuple(fc.integer({ min: -140, max: 130 }), fc.constantFrom(8, 11, 24), fc.integer({ min: -3, max: 3 }))
        .map(([e, p, k]) => 2 ** e * (1 + 2 ** -p + k * 2 ** -52)),
      fc.double({ min: 2 ** -150, max: 2 ** -120, noNaN: true }), // bf16/f32 subnormals
      fc.double({ min: 2 ** -26, max: 2 ** -13, noNaN: true }), // f16 subnormals
      fc.double({ min: 65000, max: 66000, noNaN: true }), // f16 overflow threshold
    );
    fc.assert(
      fc.property(doubleArb, (x) =>
        [BF16_FORMAT, F16_FORMAT, F32_FORMAT].every((fmt) =>
          Object.is(roundToFormat(x, fmt), roundDoubleExact(x, fmt)),
        ),
      ),
      { numRuns: 5000 },
    );
    assert.equal(roundToFormat(1 + 2 ** -8 + 2 ** -40, BF16_FORMAT), 1 + 2 ** -7);
    assert.equal(roundToFormat(1 + 2 ** -8, BF16_FORMAT), 1);
  });
});

// ---- known answers ----------------------------------------------------------------------------------------

function one(
  seg: Omit<Segment, "count" | "alignedOffset" | "baseOffset" | "outOffset" | "alphas">,
  arith: Arith,
  a: bigint,
  b: bigint,
  alpha = 0.5,
): { out: bigint; stats: SegmentStats } {
  const outDtype = seg.outDtype ?? seg.dtype;
  const results = new Set<string>();
  let got: { out: bigint; stats: SegmentStats } | undefined;
  for (const simd of PATHS) {
    setKernelSimd(simd);
    // 37 copies: vector blocks and a tail.
    const n = 37;
    const aligned = Buffer.from(bytesOf(seg.dtype, Array(n).fill(a)));
    const base = Buffer.from(bytesOf(seg.baseDtype ?? seg.dtype, Array(n).fill(b)));
    const out = Buffer.alloc(n * DTYPE_SIZE[outDtype]);
    const [stats] = extrapolateSync({
      arith,
      aligned,
      base,
      outs: [out],
      segments: [{ ...seg, count: n, alignedOffset: 0, baseOffset: 0, outOffset: 0, alphas: [alpha] }],
    });
    const bits = Array.from({ length: n }, (_, i) => readBits(outDtype, out, i));
    assert.equal(new Set(bits.map(String)).size, 1, `[${simd}] elements of one repeated pair differ`);
    got = { out: bits[0] as bigint, stats: stats as SegmentStats };
    results.add(`${got.out} ${JSON.stringify(stats)}`);
  }
  assert.equal(results.size, 1, "paths disagree");
  return got as { out: bigint; stats: SegmentStats };
}

describe("mixed dtypes: known answers", () => {
  it("converts F64 to BF16 and F16 with one rounding, not two through F32", () => {
    // 1 + 2^-8 + 2^-40 lies just above the bf16 midpoint 1 + 2^-8: up to 1 + 2^-7 (0x3F81). Through f32 it would
    // first become the midpoint itself and then tie to even, 1.0 (0x3F80).
    const x = f64Bits(1 + 2 ** -8 + 2 ** -40);
    assert.equal(one({ op: "convert", dtype: "F64", outDtype: "BF16" }, "fp32", x, 0n).out, 0x3f81n);
    // The same for f16: 1 + 2^-11 + 2^-40 goes up to 1 + 2^-10 (0x3C01), not to 1.0.
    const y = f64Bits(1 + 2 ** -11 + 2 ** -40);
    assert.equal(one({ op: "convert", dtype: "F64", outDtype: "F16" }, "fp32", y, 0n).out, 0x3c01n);
    // And a fp32-mode result computed in fp64: a = 1 + 2^-8 + 2^-40 (F64), b = a (F32 rounds it to 1 + 2^-8),
    // α = 0: the output is R_bf16(a) exactly once.
    assert.equal(one({ dtype: "F64", baseDtype: "F32", outDtype: "BF16" }, "fp32", x, 0x3f808000n, 0).out, 0x3f81n);
  });

  it("conversions: ties to even, overflow to infinity, canonical NaN, and no statistics", () => {
    const convert = (dtype: FloatDtype, outDtype: FloatDtype, bits: bigint) =>
      one({ op: "convert", dtype, outDtype }, "torch", bits, 0n);
    assert.equal(convert("F32", "BF16", 0x3f808000n).out, 0x3f80n); // tie: even
    assert.equal(convert("F32", "BF16", 0x3f818000n).out, 0x3f82n); // tie: even (up)
    assert.equal(convert("F32", "BF16", 0x7f7fffffn).out, 0x7f80n); // beyond bf16's range: +Inf
    assert.equal(convert("F32", "F16", bitsOf("F32", 65520)).out, 0x7c00n);
    assert.equal(convert("F32", "F16", bitsOf("F32", 65519.99609375)).out, 0x7bffn);
    assert.equal(convert("F64", "F32", 0xfff0000000000001n).out, 0x7fc00000n); // any NaN: the canonical one
    assert.equal(convert("F16", "F64", 0x0001n).out, f64Bits(2 ** -24)); // widening is exact
    assert.equal(convert("BF16", "BF16", 0xffc1n).out, 0x7fc0n);
    const s = convert("F32", "BF16", 0x7f800000n).stats;
    assert.deepEqual(s, {
      sumA2: 0,
      sumB2: 0,
      sumD2: 0,
      maxAbsDiff: 0,
      nonfiniteInputs: 0,
      nonfiniteOutputs: 0,
      sumOut2: [0],
    });
  });

  it("fp32 SFT + bf16 DPO: torch rounds the fp32 base to bf16 first, fp32 mode uses it as it is", () => {
    // a = 1 (bf16), b = 0.5 + 2^-9 + 2^-12 (f32), α = 0.5.
    const a = 0x3f80n;
    const b = bitsOf("F32", 0.5 + 2 ** -9 + 2 ** -12);
    const seg = { dtype: "BF16" as const, baseDtype: "F32" as const, outDtype: "BF16" as const };
    // torch: b' = 0.5 + 2^-8 (bf16 rounds up), d = 0.49609375, m = 0.248046875, 1 + m rounds to 1.25 (0x3FA0).
    const t = one(seg, "torch", a, b);
    assert.equal(t.out, 0x3fa0n);
    assert.equal(t.stats.maxAbsDiff, 1 - (0.5 + 2 ** -8));
    assert.equal(t.stats.sumB2, 37 * (0.5 + 2 ** -8) ** 2);
    // fp32: d = 0.5 − 2^-9 − 2^-12 exactly, statistics of the f32 base as given.
    const f = one(seg, "fp32", a, b);
    assert.equal(f.out, 0x3fa0n);
    assert.equal(f.stats.maxAbsDiff, 0.5 - 2 ** -9 - 2 ** -12);
  });

  it("torch: a finite f32 that rounds to infinity in bf16 is a non-finite input; fp32 mode computes with it", () => {
    const seg = { dtype: "BF16" as const, baseDtype: "F32" as const, outDtype: "BF16" as const };
    const max = 0x7f7fffffn; // the largest f32
    const t = one(seg, "torch", 0x3f80n, max);
    assert.equal(t.out, 0xff80n); // 1 + 0.5 · (1 − Inf) = −Inf
    assert.equal(t.stats.nonfiniteInputs, 37);
    assert.equal(t.stats.sumB2, 0);
    const f = one(seg, "fp32", 0x3f80n, max);
    assert.equal(f.out, 0xff00n); // fma(0.5, 1 − max, 1) = −max/2 rounds to −2^127 in bf16
    assert.equal(f.stats.nonfiniteInputs, 0);
    assert.equal(f.stats.maxAbsDiff, f32FromBits(0x7f7fffff) - 1);
  });

  it("fp32 mode with an F64 input computes in fp64 (α as a double)", () => {
    // a = 1 (F64), b = 0 (F32), α = 1 + 2^-40: fp64 gives 2 + 2^-40, which rounds to 2 in F32; through fp32 α
    // would already be 1. Output F64 keeps it.
    const seg = { dtype: "F64" as const, baseDtype: "F32" as const, outDtype: "F64" as const };
    assert.equal(one(seg, "fp32", f64Bits(1), 0n, 1 + 2 ** -40).out, f64Bits(2 + 2 ** -40));
  });
});

// ---- properties -------------------------------------------------------------------------------------------

describe("mixed dtypes: kernel == oracle, bit for bit, on every SIMD path", () => {
  for (const dtype of DTYPES)
    for (const baseDtype of DTYPES)
      for (const outDtype of DTYPES) {
        if (dtype === baseDtype && dtype === outDtype) continue; // the equal-dtype tests (extrapolate.test.ts)
        for (const arith of ARITHS)
          it(`${dtype} + ${baseDtype} -> ${outDtype}, ${arith}`, () => {
            fc.assert(fc.property(caseArb("extrapolate", arith, dtype, baseDtype, outDtype), checkCase), {
              numRuns: RUNS,
            });
          });
      }

  for (const dtype of DTYPES)
    for (const outDtype of DTYPES)
      it(`convert ${dtype} -> ${outDtype}`, () => {
        fc.assert(fc.property(caseArb("convert", "fp32", dtype, dtype, outDtype), checkCase), { numRuns: RUNS });
      });

  it("every length around the staging chunk and the block, in place and not", () => {
    const triples: [FloatDtype, FloatDtype, FloatDtype][] = [
      ["BF16", "F32", "BF16"],
      ["F32", "BF16", "BF16"],
      ["F16", "F64", "F16"],
      ["F64", "F32", "F64"],
      ["BF16", "BF16", "F32"],
    ];
    for (const [dtype, baseDtype, outDtype] of triples) {
      const el = fc.sample(mixedPairArb(dtype, baseDtype, outDtype), { numRuns: 500, seed: 7 });
      for (const n of [31, 32, 33, 1023, 1024, 1025, 1055, 1056, 2047, 2049, 3100])
        for (const arith of ARITHS) {
          const pairs = Array.from({ length: n }, (_, i) => el[(i * 13 + n) % el.length] as [bigint, bigint]);
          const inPlace = n % 2 === 1 && outDtype === dtype ? "aligned" : false;
          checkCase({
            op: "extrapolate",
            arith,
            dtype,
            baseDtype,
            outDtype,
            a: pairs.map((p) => p[0]),
            b: pairs.map((p) => p[1]),
            alphas: inPlace ? [0.3] : [0.3, -1.25],
            inPlace,
            offsets: [n % 3, n % 5, n % 7],
          });
        }
    }
  });

  it("a segment of several MiB in place (fp32 SFT + bf16 DPO), scattered non-finite values, both modes", () => {
    let seed = 4242;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const n = 1_500_000 + 17;
    const a: bigint[] = [];
    const b: bigint[] = [];
    for (let i = 0; i < n; i++) {
      const w = 0.05 * (next() - 0.5);
      b.push(i % 10007 === 9 ? 0x7f800000n : bitsOf("F32", w));
      a.push(i % 7919 === 5 ? 0xffc1n : bitsOf("BF16", w + 0.001 * (next() - 0.5)));
    }
    for (const arith of ARITHS)
      checkCase({
        op: "extrapolate",
        arith,
        dtype: "BF16",
        baseDtype: "F32",
        outDtype: "BF16",
        a,
        b,
        alphas: [0.3],
        inPlace: "aligned",
        offsets: [2, 4, 0],
      });
  });

  it("many segments of different dtypes and ops in one call, shared buffers, K = 2", () => {
    const segArb = fc.record({
      op: fc.constantFrom<SegmentOp>("extrapolate", "extrapolate", "convert"),
      dtype: fc.constantFrom(...DTYPES),
      baseDtype: fc.constantFrom(...DTYPES),
      outDtype: fc.constantFrom(...DTYPES),
      n: mixedLengthArb,
      gaps: fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 })),
      alphas: fc.tuple(alphaArb, alphaArb),
      seed: fc.integer(),
    });
    fc.assert(
      fc.property(fc.array(segArb, { minLength: 1, maxLength: 8 }), fc.constantFrom(...ARITHS), (specs, arith) => {
        let posA = 0;
        let posB = 0;
        let posO = 0;
        const laid = specs.map((s) => {
          const pairs = fc
            .sample(mixedPairArb(s.dtype, s.baseDtype, s.outDtype), { numRuns: Math.max(s.n, 1), seed: s.seed })
            .slice(0, s.n);
          const at = { a: posA + s.gaps[0], b: posB + s.gaps[1], o: posO + s.gaps[2] };
          posA = at.a + s.n * DTYPE_SIZE[s.dtype];
          posB = at.b + s.n * DTYPE_SIZE[s.baseDtype];
          posO = at.o + s.n * DTYPE_SIZE[s.outDtype];
          return { ...s, a: pairs.map((p) => p[0]), b: pairs.map((p) => p[1]), at };
        });
        const aligned = Buffer.alloc(posA + 1);
        const base = Buffer.alloc(posB + 1);
        for (const s of laid) {
          writeBits(s.dtype, aligned, s.at.a, s.a);
          writeBits(s.baseDtype, base, s.at.b, s.b);
        }
        let first: SegmentStats[] | undefined;
        for (const simd of PATHS) {
          setKernelSimd(simd);
          const outs = [Buffer.alloc(posO + 1), Buffer.alloc(posO + 1)];
          const req: ExtrapolateRequest = {
            arith,
            device: "cpu",
            aligned,
            base,
            outs,
            segments: laid.map((s) => ({
              op: s.op,
              dtype: s.dtype,
              baseDtype: s.baseDtype,
              outDtype: s.outDtype,
              count: s.n,
              alignedOffset: s.at.a,
              baseOffset: s.at.b,
              outOffset: s.at.o,
              alphas: s.alphas,
            })),
          };
          const stats = extrapolateSync(req);
          laid.forEach((s, i) => {
            const want = oracleSegment({
              ...s,
              arith,
              aligned: bytesOf(s.dtype, s.a),
              base: bytesOf(s.baseDtype, s.b),
            });
            const bytes = s.n * DTYPE_SIZE[s.outDtype];
            outs.forEach((o, k) => {
              const w = Buffer.from(want.outs[k] as Uint8Array);
              assert.ok(o.subarray(s.at.o, s.at.o + bytes).equals(w), `[${simd}] segment ${i} output ${k}`);
            });
            assert.deepEqual(stats[i], want.stats, `[${simd}] segment ${i} statistics`);
          });
          if (first) assert.deepEqual(stats, first, `[${simd}] statistics differ between paths`);
          else first = stats;
        }
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });
});

// ---- invalid requests -------------------------------------------------------------------------------------

describe("mixed dtypes: the kernel refuses bad descriptors before any work", () => {
  const seg = (over: Partial<Segment> = {}): Segment => ({
    dtype: "BF16",
    baseDtype: "F32",
    outDtype: "BF16",
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
    base: Buffer.alloc(32),
    outs: [Buffer.alloc(16)],
    segments: [seg()],
    ...over,
  });
  const inPlace = (outDtype: FloatDtype) => {
    const aligned = Buffer.alloc(64, 0x11);
    return req({ aligned, outs: [aligned], segments: [seg({ outDtype })] });
  };
  const overBase = () => {
    const base = Buffer.alloc(64, 0x22);
    return req({ base, outs: [base], segments: [seg()] });
  };
  const cases: [string, ExtrapolateRequest, ErrorConstructor, RegExp][] = [
    ["unknown op", req({ segments: [seg({ op: "merge" as SegmentOp })] }), TypeError, /segment 0: op merge/],
    ["unknown baseDtype", req({ segments: [seg({ baseDtype: "I8" as FloatDtype })] }), TypeError, /baseDtype I8/],
    ["unknown outDtype", req({ segments: [seg({ outDtype: "F8" as FloatDtype })] }), TypeError, /outDtype F8/],
    ["base too short for its own dtype", req({ base: Buffer.alloc(31) }), RangeError, /base bytes .* 8 x 4\)/],
    [
      "output too short for the output dtype",
      req({ segments: [seg({ outDtype: "F64" })], outs: [Buffer.alloc(63)] }),
      RangeError,
      /output 0 bytes .* 8 x 8\)/,
    ],
    [
      "in place with another output dtype",
      inPlace("F32"),
      RangeError,
      /in place, which needs outDtype F32 = dtype BF16/,
    ],
    [
      "output over base with another dtype",
      overBase(),
      RangeError,
      /base input in place, which needs outDtype BF16 = baseDtype F32/,
    ],
    [
      "output of another element size overlapping aligned",
      (() => {
        const buf = Buffer.alloc(64);
        return req({ aligned: buf, outs: [buf], segments: [seg({ outDtype: "F32", outOffset: 8 })] });
      })(),
      RangeError,
      /partially overlaps/,
    ],
    [
      "alpha beyond float where the computation is fp32 (torch, BF16 output)",
      req({ arith: "torch", segments: [seg({ dtype: "F64", alphas: [1e39] })], aligned: Buffer.alloc(64) }),
      RangeError,
      /not a finite float/,
    ],
    [
      "convert with alphas neither empty nor one per output",
      req({ segments: [seg({ op: "convert", alphas: [1, 2] })] }),
      RangeError,
      /one alpha per output/,
    ],
  ];
  for (const [name, r, type, message] of cases) {
    it(name, async () => {
      const before = r.outs.map((o) => Buffer.from(o));
      assert.throws(
        () => extrapolateSync(r),
        (e: unknown) => e instanceof type && message.test((e as Error).message),
      );
      await assert.rejects(extrapolate(r), (e: unknown) => e instanceof type && message.test((e as Error).message));
      r.outs.forEach((o, k) => {
        assert.ok(o.equals(before[k] as Buffer), "nothing written");
      });
    });
  }

  it("accepts what is allowed: fp64 α with an F64 input in fp32 mode, a conversion without base bytes or alphas", () => {
    const [s] = extrapolateSync(
      req({
        aligned: Buffer.alloc(64),
        segments: [seg({ dtype: "F64", outDtype: "F32", alphas: [1e39] })],
        outs: [Buffer.alloc(32)],
      }),
    );
    assert.equal(s?.nonfiniteOutputs, 0); // zeros in, zeros out: 0 + 1e39 · 0
    const aligned = Buffer.from(bytesOf("F32", [0x3f800000n, 0xbf800000n]));
    const out = Buffer.alloc(4);
    extrapolateSync({
      arith: "fp32",
      aligned,
      base: Buffer.alloc(0),
      outs: [out],
      segments: [
        {
          op: "convert",
          dtype: "F32",
          outDtype: "BF16",
          count: 2,
          alignedOffset: 0,
          baseOffset: 99,
          outOffset: 0,
          alphas: [],
        },
      ],
    });
    assert.deepEqual([out.readUInt16LE(0), out.readUInt16LE(2)], [0x3f80, 0xbf80]);
    // In place with the same dtype is fine for a conversion too (NaNs become the canonical one).
    const nan = Buffer.from([0x81, 0xff]);
    extrapolateSync({
      arith: "fp32",
      aligned: nan,
      base: Buffer.alloc(0),
      outs: [nan],
      segments: [{ op: "convert", dtype: "BF16", count: 1, alignedOffset: 0, baseOffset: 0, outOffset: 0, alphas: [] }],
    });
    assert.equal(nan.readUInt16LE(0), 0x7fc0);
  });
});
