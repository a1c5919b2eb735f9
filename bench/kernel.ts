// The CPU kernel against memcpy on the same machine, single thread, interleaved repetitions: bf16 tensors of
// 256 MiB per buffer (far beyond the caches). Kernel traffic is 2 reads + 1 write per element, memcpy's is
// 1 read + 1 write per byte; both are reported in bytes moved per second, and the ratio is the kernel's share
// of memcpy bandwidth (target >= 0.85). Mixed dtypes (issue 11): an fp32 SFT base with a bf16 DPO aligned
// model and bf16 output (2 + 4 bytes read, 2 written per element), both modes, and the conversion of an fp32
// tensor to bf16 (4 read, 2 written); the same elements per buffer.
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import type { Arith, FloatDtype } from "../core/dtypes.js";
import { extrapolateSync, kernelInfo, nativeMemcpy } from "../kernel/testing.js";

const DTYPE_BYTES: Readonly<Record<FloatDtype, number>> = { BF16: 2, F16: 2, F32: 4, F64: 8 };

export interface KernelBenchRow {
  name: string;
  simd: string;
  /** Bytes moved per run (reads + writes). */
  bytes: number;
  /** Median seconds per run. */
  seconds: number;
  gbps: number;
  /** memcpy's bandwidth in the same repetitions. */
  memcpyGbps: number;
  /** gbps / memcpyGbps. */
  ratio: number;
}

export interface KernelBenchOptions {
  /** MiB per buffer (default 256, env BENCH_KERNEL_MIB). */
  mib?: number;
  /** Repetitions of each case, interleaved (default 5, env BENCH_KERNEL_REPS). */
  reps?: number;
  log?: boolean;
}

/** An fp32 base: each bf16 base value with random low 16 bits (an fp32 checkpoint the bf16 one was rounded from). */
function widenBase(base: Buffer, base32: Buffer): void {
  const b = new Uint16Array(base.buffer, base.byteOffset, base.length / 2);
  const w = new Uint32Array(base32.buffer, base32.byteOffset, base32.length / 4);
  let x = 0x2545f491;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    w[i] = (((b[i] as number) << 16) | (x & 0x7fff)) >>> 0;
  }
}

/** Bf16 bit patterns of weights-like values (normal, σ 0.02), and a nearby "base" for each. */
function fill(aligned: Buffer, base: Buffer): void {
  const table = new Uint16Array(1 << 16);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < table.length; i++) {
    const g = Math.sqrt(-2 * Math.log((i + 0.5) / table.length)) * Math.cos(i * 2.399963);
    f[0] = 0.02 * g;
    table[i] = ((u[0] as number) + 0x7fff + (((u[0] as number) >>> 16) & 1)) >>> 16;
  }
  const a = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2);
  const b = new Uint16Array(base.buffer, base.byteOffset, base.length / 2);
  let x = 0x9e3779b9;
  for (let i = 0; i < a.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const v = table[x & 0xffff] as number;
    a[i] = v;
    // A few ulps away with the same sign: a small delta like a fine-tune's (zeros stay as they are).
    b[i] = (v & 0x7fff) < 2 ? v : v + ((x >>> 16) & 3) - 1;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((p, q) => p - q);
  return s[Math.floor(s.length / 2)] as number;
}

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

export async function benchKernel(
  opts: KernelBenchOptions = {},
): Promise<{ rows: KernelBenchRow[]; computeElementsPerSecond: number }> {
  const mib = opts.mib ?? Number(process.env.BENCH_KERNEL_MIB ?? 256);
  const reps = opts.reps ?? Number(process.env.BENCH_KERNEL_REPS ?? 5);
  const log = opts.log ?? true;
  const bytes = mib * 1024 * 1024;
  const count = bytes / 2;
  const simd = kernelInfo().simd;

  const aligned = Buffer.alloc(bytes);
  const base = Buffer.alloc(bytes);
  const out = Buffer.alloc(bytes); // allocated zeroed: pages are touched before timing
  const scratch = Buffer.alloc(bytes); // in place: extrapolated again each repetition (values drift by 1.3x)
  const base32 = Buffer.alloc(2 * bytes);
  const scratchMixed = Buffer.alloc(bytes); // the mixed cases' in place, drifting likewise
  fill(aligned, base);
  widenBase(base, base32);
  nativeMemcpy(scratch, aligned);
  nativeMemcpy(scratchMixed, aligned);

  const kernel = (arith: Arith, target: Buffer) => () => {
    extrapolateSync({
      arith,
      aligned: target === scratch ? scratch : aligned,
      base,
      outs: [target],
      segments: [{ dtype: "BF16", count, alignedOffset: 0, baseOffset: 0, outOffset: 0, alphas: [0.3] }],
    });
  };
  const mixed = (arith: Arith, target: Buffer) => () => {
    extrapolateSync({
      arith,
      aligned: target === scratchMixed ? scratchMixed : aligned,
      base: base32,
      outs: [target],
      segments: [
        { dtype: "BF16", baseDtype: "F32", count, alignedOffset: 0, baseOffset: 0, outOffset: 0, alphas: [0.3] },
      ],
    });
  };
  const convert = () => {
    extrapolateSync({
      arith: "fp32",
      aligned: base32,
      base: base32,
      outs: [out],
      segments: [
        {
          op: "convert",
          dtype: "F32",
          outDtype: "BF16",
          count,
          alignedOffset: 0,
          baseOffset: 0,
          outOffset: 0,
          alphas: [],
        },
      ],
    });
  };
  const cases = [
    { name: "bf16 fp32, separate output", traffic: 3 * bytes, run: kernel("fp32", out) },
    { name: "bf16 fp32, in place", traffic: 3 * bytes, run: kernel("fp32", scratch) },
    { name: "bf16 torch, separate output", traffic: 3 * bytes, run: kernel("torch", out) },
    { name: "f32 base + bf16 fp32, in place", traffic: 4 * bytes, run: mixed("fp32", scratchMixed) },
    { name: "f32 base + bf16 torch, in place", traffic: 4 * bytes, run: mixed("torch", scratchMixed) },
    { name: "f32 base + bf16 fp32, separate output", traffic: 4 * bytes, run: mixed("fp32", out) },
    { name: "convert f32 -> bf16", traffic: 3 * bytes, run: convert },
  ];
  const memcpyTimes: number[] = [];
  const times = cases.map((): number[] => []);

  kernel("fp32", out)(); // warm-up: code, page tables
  nativeMemcpy(out, aligned);
  for (let r = 0; r < reps; r++) {
    memcpyTimes.push(time(() => nativeMemcpy(out, aligned)));
    cases.forEach((c, i) => {
      times[i]?.push(time(c.run));
    });
  }

  // The compute ceiling: the same kernel on buffers that stay in L2, so memory plays no part; for mixed dtypes
  // too: each combination's inputs made from the bf16 aligned and fp32 base values by the kernel's conversions.
  const hot = 128 * 1024;
  const hotInputs: Record<FloatDtype, { aligned: Buffer; base: Buffer }> = {
    BF16: { aligned: Buffer.from(aligned.subarray(0, 2 * hot)), base: Buffer.from(base.subarray(0, 2 * hot)) },
    F16: { aligned: Buffer.alloc(2 * hot), base: Buffer.alloc(2 * hot) },
    F32: { aligned: Buffer.alloc(4 * hot), base: Buffer.from(base32.subarray(0, 4 * hot)) },
    F64: { aligned: Buffer.alloc(8 * hot), base: Buffer.alloc(8 * hot) },
  };
  const convertTo = (from: FloatDtype, src: Buffer, to: FloatDtype, dst: Buffer) =>
    extrapolateSync({
      arith: "fp32",
      aligned: src,
      base: src,
      outs: [dst],
      segments: [
        {
          op: "convert",
          dtype: from,
          outDtype: to,
          count: hot,
          alignedOffset: 0,
          baseOffset: 0,
          outOffset: 0,
          alphas: [],
        },
      ],
    });
  for (const to of ["F16", "F32", "F64"] as const) {
    convertTo("BF16", hotInputs.BF16.aligned, to, hotInputs[to].aligned);
    if (to !== "F32") convertTo("F32", hotInputs.F32.base, to, hotInputs[to].base);
  }
  const hotCase = (
    arith: Arith,
    dtype: FloatDtype,
    baseDtype: FloatDtype,
    outDtype: FloatDtype,
    op: "extrapolate" | "convert" = "extrapolate",
  ) => ({
    arith,
    aligned: hotInputs[dtype].aligned,
    base: hotInputs[baseDtype].base,
    outs: [Buffer.alloc(DTYPE_BYTES[outDtype] * hot)],
    segments: [
      { op, dtype, baseDtype, outDtype, count: hot, alignedOffset: 0, baseOffset: 0, outOffset: 0, alphas: [0.3] },
    ],
  });
  const hotCases = [
    { name: "bf16 fp32", req: hotCase("fp32", "BF16", "BF16", "BF16") },
    { name: "bf16 torch", req: hotCase("torch", "BF16", "BF16", "BF16") },
    { name: "f32 base + bf16 fp32", req: hotCase("fp32", "BF16", "F32", "BF16") },
    { name: "f32 base + bf16 torch", req: hotCase("torch", "BF16", "F32", "BF16") },
    { name: "f32 + f32 -> bf16 fp32", req: hotCase("fp32", "F32", "F32", "BF16") },
    { name: "f32 + f32 -> bf16 torch", req: hotCase("torch", "F32", "F32", "BF16") },
    { name: "bf16 + bf16 -> f32 fp32", req: hotCase("fp32", "BF16", "BF16", "F32") },
    { name: "f16 + f32 -> f16 torch", req: hotCase("torch", "F16", "F32", "F16") },
    { name: "f64 + f64 -> bf16 fp32", req: hotCase("fp32", "F64", "F64", "BF16") },
    { name: "f64 + f64 -> bf16 torch", req: hotCase("torch", "F64", "F64", "BF16") },
    { name: "bf16 + f64 -> bf16 fp32", req: hotCase("fp32", "BF16", "F64", "BF16") },
    { name: "convert f32 -> bf16", req: hotCase("fp32", "F32", "F32", "BF16", "convert") },
    { name: "convert f64 -> bf16", req: hotCase("fp32", "F64", "F64", "BF16", "convert") },
    { name: "convert bf16 -> f16", req: hotCase("fp32", "BF16", "BF16", "F16", "convert") },
  ];
  const hotTimes = hotCases.map((): number[] => []);
  for (let r = 0; r < reps; r++)
    hotCases.forEach((c, i) => {
      hotTimes[i]?.push(
        time(() => {
          for (let j = 0; j < 200; j++) extrapolateSync(c.req);
        }) / 200,
      );
    });
  const hotRates = hotTimes.map((t) => hot / median(t));
  const hotElementsPerSecond = hotRates[0] as number;

  const memcpyGbps = (2 * bytes) / median(memcpyTimes) / 1e9;
  const rows: KernelBenchRow[] = cases.map((c, i) => {
    const seconds = median(times[i] as number[]);
    const gbps = c.traffic / seconds / 1e9;
    return { name: c.name, simd, bytes: c.traffic, seconds, gbps, memcpyGbps, ratio: gbps / memcpyGbps };
  });
  if (log) {
    console.log(`kernel path ${simd}, ${mib} MiB per buffer, ${reps} interleaved repetitions, medians`);
    console.log(`  memcpy (1 read + 1 write)          ${memcpyGbps.toFixed(2)} GB/s`);
    for (const r of rows)
      console.log(
        `  ${r.name.padEnd(38)} ${r.gbps.toFixed(2)} GB/s  ${(count / r.seconds / 1e9).toFixed(2)} G elements/s  ratio ${r.ratio.toFixed(2)}${r.name.startsWith("bf16") ? " (target >= 0.85)" : ""}`,
      );
    hotCases.forEach((c, i) => {
      const rate = hotRates[i] as number;
      console.log(
        `  compute ceiling (in L2), ${c.name.padEnd(24)} ${(rate / 1e9).toFixed(2)} G elements/s` +
          `  (${(rate / hotElementsPerSecond).toFixed(2)} of bf16 fp32)`,
      );
    });
  }
  return { rows, computeElementsPerSecond: hotElementsPerSecond };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await benchKernel();
