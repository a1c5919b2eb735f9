// TypeScript face of the native kernel (kernel/src; the CUDA kernel of kernel/cuda through it): packs a request
// into the compact descriptor the addon reads, runs it off the JS thread, unpacks the per-segment statistics.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Arith, ExtrapolateRequest, FloatDtype, KernelDevice, Segment, SegmentStats } from "./types.js";

export type Simd = "scalar" | "avx2" | "avx512";

export interface KernelInfo {
  /** The code path calls use now. All paths give identical bits, outputs and statistics alike. */
  simd: Simd;
  /** Paths this CPU supports. */
  available: Simd[];
  /** Most output buffers (values of α) one call accepts. */
  maxOutputs: number;
}

/** The addon's extrapolate arguments (async and sync take the same). */
type ExtrapolateArgs = [
  arith: Arith,
  aligned: Uint8Array,
  base: Uint8Array,
  outs: Uint8Array[],
  desc: Float64Array,
  results: Float64Array,
  device?: KernelDevice,
];

interface Addon {
  extrapolate(...args: ExtrapolateArgs): Promise<Float64Array>;
  extrapolateSync(...args: ExtrapolateArgs): Float64Array;
  info(): KernelInfo;
  layout(): KernelLayout;
  setSimd(simd: Simd | "auto"): Simd;
  memcpy(dst: Uint8Array, src: Uint8Array): void;
  cudaProbe(libraryPath: string): CudaStatus;
  sha256(chunks: Uint8Array[]): Promise<Buffer>;
}

export interface CudaStatus {
  /** The CUDA kernel library loaded and a context is open on a visible device. */
  available: boolean;
  /** Why not, when not available (one line). */
  reason: string;
  /** The device, when available: "NVIDIA H100 80GB HBM3 (device 0, sm_90, 132 SMs)". */
  description: string;
}

/** The descriptor and result layout the addon was built with (kernel/src/layout.h). */
export interface KernelLayout {
  descHead: number;
  resultHead: number;
  maxOutputs: number;
  dtypes: Record<string, number>;
  arith: Record<string, number>;
  desc: string[];
  result: string[];
}

/** Dtype codes of the descriptor, as kernel/src/layout.h numbers them. */
export const DTYPE_CODE: Readonly<Record<FloatDtype, number>> = { BF16: 0, F16: 1, F32: 2, F64: 3 };
const ARITH_CODE: Readonly<Record<Arith, number>> = { fp32: 0, torch: 1 };
/** The words packSegments writes per segment before the alphas, and unpack reads before the K sumOut2. */
const DESC_FIELDS = ["dtype", "count", "alignedOffset", "baseOffset", "outOffset"];
const RESULT_FIELDS = ["sumA2", "sumB2", "sumD2", "maxAbsDiff", "nonfiniteInputs", "nonfiniteOutputs"];
const DESC_HEAD = 5;
const RESULT_HEAD = 6;

/**
 * Throws a one-line error naming the first difference between the addon's layout and this wrapper's constants
 * (an addon built from other sources, e.g. a stale build, would misread every descriptor).
 */
export function checkKernelLayout(native: KernelLayout | undefined): void {
  const ours = {
    descHead: DESC_HEAD,
    resultHead: RESULT_HEAD,
    dtypes: DTYPE_CODE,
    arith: ARITH_CODE,
    desc: DESC_FIELDS,
    result: RESULT_FIELDS,
  };
  // Maps compare by their entries, not their key order.
  const text = (v: unknown) =>
    JSON.stringify(v, v && typeof v === "object" && !Array.isArray(v) ? Object.keys(v).sort() : undefined) ?? "missing";
  const rebuild = "rebuild it: npm run build";
  if (typeof native !== "object" || native === null)
    throw new Error(`llm-expo: the native kernel has no layout (a stale build?); ${rebuild}`);
  for (const [key, want] of Object.entries(ours)) {
    const got = (native as unknown as Record<string, unknown>)[key];
    if (text(got) !== text(want))
      throw new Error(
        `llm-expo: native kernel layout differs in ${key}: addon ${text(got)}, wrapper ${text(want)}; ${rebuild}`,
      );
  }
}

let addon: Addon | undefined;
let device: KernelDevice = "cpu";
let cuda: CudaStatus | undefined;

/** The package root: the nearest folder above this file with llm-expo's package.json (works from dist/ too). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown }).name === "llm-expo") return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error(`llm-expo: cannot find the package root (package.json) above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

function load(): Addon {
  if (addon) return addon;
  const path = join(packageRoot(), "kernel", "build", "Release", "expo_kernel.node");
  if (!existsSync(path))
    throw new Error(`llm-expo: native kernel not built: run npm ci / npm run build (missing ${path})`);
  const loaded = createRequire(import.meta.url)(path) as Addon;
  checkKernelLayout(typeof loaded.layout === "function" ? loaded.layout() : undefined);
  addon = loaded;
  return addon;
}

/** Where libexpo_cuda.so is looked for: LLM_EXPO_CUDA_LIBRARY, else kernel/build-cuda/ (npm run build:cuda). */
export function cudaLibraryPath(): string {
  return process.env.LLM_EXPO_CUDA_LIBRARY || join(packageRoot(), "kernel", "build-cuda", "libexpo_cuda.so");
}

/**
 * Loads the CUDA kernel and opens the visible device (CUDA_VISIBLE_DEVICES applies; LLM_EXPO_CUDA_DEVICE picks
 * among them), once per process; the outcome is cached. Never throws: `reason` says why CUDA is unavailable.
 */
export function cudaStatus(): CudaStatus {
  if (cuda) return cuda;
  const path = cudaLibraryPath();
  if (!existsSync(path)) {
    cuda = {
      available: false,
      reason: `the CUDA kernel is not built (no ${path}; npm run build:cuda builds it where nvcc is installed)`,
      description: "",
    };
  } else {
    try {
      cuda = load().cudaProbe(path);
    } catch (e) {
      cuda = { available: false, reason: e instanceof Error ? e.message : String(e), description: "" };
    }
  }
  return cuda;
}

/** The device calls use when the request names none. "cuda" throws unless cudaStatus() is available. */
export function setKernelDevice(d: KernelDevice): void {
  if (d === "cuda") {
    const s = cudaStatus();
    if (!s.available) throw new Error(`llm-expo: CUDA kernel unavailable: ${s.reason}`);
  }
  device = d;
}

export function kernelDevice(): KernelDevice {
  return device;
}

/** Packs the segments: per segment dtype code, count, alignedOffset, baseOffset, outOffset, then K alphas. */
export function packSegments(segments: readonly Segment[], k: number): Float64Array {
  const stride = DESC_HEAD + k;
  const desc = new Float64Array(segments.length * stride);
  segments.forEach((s, i) => {
    const code = DTYPE_CODE[s.dtype];
    if (code === undefined)
      throw new TypeError(`segment ${i}: dtype ${String(s.dtype)} is not one of BF16, F16, F32, F64`);
    if (s.alphas.length !== k)
      throw new RangeError(`segment ${i}: ${s.alphas.length} alphas for ${k} output buffers (one alpha per output)`);
    const o = i * stride;
    desc[o] = code;
    desc[o + 1] = s.count;
    desc[o + 2] = s.alignedOffset;
    desc[o + 3] = s.baseOffset;
    desc[o + 4] = s.outOffset;
    for (let j = 0; j < k; j++) desc[o + DESC_HEAD + j] = s.alphas[j] as number;
  });
  return desc;
}

function resultsFor(segments: number, k: number, results?: Float64Array): Float64Array {
  const need = segments * (RESULT_HEAD + k);
  return results && results.length >= need ? results : new Float64Array(need);
}

function unpack(results: Float64Array, segments: number, k: number): SegmentStats[] {
  const stride = RESULT_HEAD + k;
  const stats: SegmentStats[] = [];
  for (let i = 0; i < segments; i++) {
    const o = i * stride;
    stats.push({
      sumA2: results[o] as number,
      sumB2: results[o + 1] as number,
      sumD2: results[o + 2] as number,
      maxAbsDiff: results[o + 3] as number,
      nonfiniteInputs: results[o + 4] as number,
      nonfiniteOutputs: results[o + 5] as number,
      sumOut2: Array.from(results.subarray(o + RESULT_HEAD, o + stride)),
    });
  }
  return stats;
}

/**
 * Computes every segment of the request into the output buffers, off the JS thread (libuv pool), and returns
 * each segment's statistics. `results` is optional scratch (6 + K doubles per segment) to reuse across calls.
 * The buffers must not be touched until the promise settles. Bad requests throw (TypeError, RangeError)
 * before any work starts.
 */
export async function extrapolate(req: ExtrapolateRequest, results?: Float64Array): Promise<SegmentStats[]> {
  const k = req.outs.length;
  const desc = packSegments(req.segments, k);
  const out = resultsFor(req.segments.length, k, results);
  await load().extrapolate(req.arith, req.aligned, req.base, req.outs, desc, out, req.device ?? device);
  return unpack(out, req.segments.length, k);
}

/** extrapolate on the calling thread: for tests, benchmarks and tools that have nothing else to do meanwhile. */
export function extrapolateSync(req: ExtrapolateRequest, results?: Float64Array): SegmentStats[] {
  const k = req.outs.length;
  const desc = packSegments(req.segments, k);
  const out = resultsFor(req.segments.length, k, results);
  load().extrapolateSync(req.arith, req.aligned, req.base, req.outs, desc, out, req.device ?? device);
  return unpack(out, req.segments.length, k);
}

export function kernelInfo(): KernelInfo {
  return load().info();
}

/** The layout the addon was built with (checked against this wrapper when it was loaded). */
export function kernelLayout(): KernelLayout {
  return load().layout();
}

/** Chooses the code path ("auto": the best the CPU has); throws if the CPU lacks it. Returns the path now used. */
export function setKernelSimd(simd: Simd | "auto"): Simd {
  return load().setSimd(simd);
}

/** SHA-256 of the concatenated chunks, computed on the libuv pool (Node's own OpenSSL). */
export function sha256(chunks: Uint8Array[]): Promise<Buffer> {
  return load().sha256(chunks);
}

/** Plain memcpy in native code, single thread: the baseline the kernel's throughput is compared with. */
export function nativeMemcpy(dst: Uint8Array, src: Uint8Array): void {
  load().memcpy(dst, src);
}
