// The CPU kernel against memcpy on the same machine, single thread, interleaved repetitions: bf16 tensors of
// 256 MiB per buffer (far beyond the caches). Kernel traffic is 2 reads + 1 write per element, memcpy's is
// 1 read + 1 write per byte; both are reported in bytes moved per second, and the ratio is the kernel's share
// of memcpy bandwidth (target >= 0.85).
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import type { Arith } from "../core/dtypes.js";
import { extrapolateSync, kernelInfo, nativeMemcpy } from "../kernel/testing.js";

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
  fill(aligned, base);
  nativeMemcpy(scratch, aligned);

  const kernel = (arith: Arith, target: Buffer) => () => {
    extrapolateSync({
      arith,
      aligned: target === scratch ? scratch : aligned,
      base,
      outs: [target],
      segments: [{ dtype: "BF16", count, alignedOffset: 0, baseOffset: 0, outOffset: 0, alphas: [0.3] }],
    });
  };
  const cases = [
    { name: "bf16 fp32, separate output", traffic: 3 * bytes, run: kernel("fp32", out) },
    { name: "bf16 fp32, in place", traffic: 3 * bytes, run: kernel("fp32", scratch) },
    { name: "bf16 torch, separate output", traffic: 3 * bytes, run: kernel("torch", out) },
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

  // The compute ceiling: the same kernel on buffers that stay in L2, so memory plays no part.
  const hot = 128 * 1024;
  const hotReq = {
    arith: "fp32" as Arith,
    aligned: Buffer.from(aligned.subarray(0, 2 * hot)),
    base: Buffer.from(base.subarray(0, 2 * hot)),
    outs: [Buffer.alloc(2 * hot)],
    segments: [{ dtype: "BF16" as const, count: hot, alignedOffset: 0, baseOffset: 0, outOffset: 0, alphas: [0.3] }],
  };
  const hotTimes: number[] = [];
  for (let r = 0; r < reps; r++)
    hotTimes.push(
      time(() => {
        for (let j = 0; j < 200; j++) extrapolateSync(hotReq);
      }) / 200,
    );
  const hotElementsPerSecond = hot / median(hotTimes);

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
        `  ${r.name.padEnd(34)} ${r.gbps.toFixed(2)} GB/s  (2 reads + 1 write)  ratio ${r.ratio.toFixed(2)} (target >= 0.85)`,
      );
    console.log(
      `  compute ceiling, bf16 fp32 in L2    ${(hotElementsPerSecond / 1e9).toFixed(2)} G elements/s ` +
        `= ${((6 * hotElementsPerSecond) / 1e9).toFixed(2)} GB/s at 6 bytes per element`,
    );
  }
  return { rows, computeElementsPerSecond: hotElementsPerSecond };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await benchKernel();
