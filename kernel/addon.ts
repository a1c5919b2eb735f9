// Loads the native addon (kernel/src, built by npm ci into kernel/build) once per process.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { KernelDevice } from "../core/device.js";
import type { Arith } from "../core/dtypes.js";
import { checkKernelLayout, type KernelLayout } from "./layout.js";

export type Simd = "scalar" | "avx2" | "avx512";

export interface KernelInfo {
  /** The code path calls use now. All paths give identical bits, outputs and statistics alike. */
  simd: Simd;
  /** Paths this CPU supports. */
  available: Simd[];
  /** Most output buffers (values of α) one call accepts. */
  maxOutputs: number;
}

export interface CudaStatus {
  /** The CUDA kernel library loaded and a context is open on a visible device. */
  available: boolean;
  /** Why not, when not available (one line). */
  reason: string;
  /** The device, when available: "NVIDIA H100 80GB HBM3 (device 0, sm_90, 132 SMs)". */
  description: string;
}

/** What the CUDA context has done since it was opened (kernel/cuda/expo_cuda.h, expo_cuda_counters). */
export interface CudaStats {
  /** Calls completed, the chunks they were planned into, and how many went by DMA straight from and to the caller. */
  calls: number;
  chunks: number;
  directChunks: number;
  /** The segments' data: input bytes (aligned, and base where read) and output bytes (all K outputs). */
  bytesIn: number;
  bytesOut: number;
  /** Wall time of those calls in the pipeline, context held (not the time queued behind other calls). */
  seconds: number;
  /** Page-locked host buffers handed out by cudaHostAlloc and not yet freed, and their bytes. */
  hostBuffers: number;
  hostBytes: number;
}

/** The addon's extrapolate arguments (async and sync take the same). */
export type ExtrapolateArgs = [
  arith: Arith,
  aligned: Uint8Array,
  base: Uint8Array,
  outs: Uint8Array[],
  desc: Float64Array,
  results: Float64Array,
  device: KernelDevice,
];

export interface Addon {
  extrapolate(...args: ExtrapolateArgs): Promise<Float64Array>;
  extrapolateSync(...args: ExtrapolateArgs): Float64Array;
  info(): KernelInfo;
  layout(): KernelLayout;
  setSimd(simd: Simd | "auto"): Simd;
  memcpy(dst: Uint8Array, src: Uint8Array): void;
  cudaProbe(libraryPath: string): CudaStatus;
  /** Page-locked host memory from the CUDA library (after a successful cudaProbe), as a Buffer over it. */
  cudaHostAlloc(bytes: number): Buffer;
  /** Frees a cudaHostAlloc Buffer: it is detached first (length 0 from then on), so nothing can reach the memory. */
  cudaHostFree(buffer: Buffer): void;
  cudaStats(): CudaStats;
  sha256(chunks: Uint8Array[]): Promise<Buffer>;
}

let addon: Addon | undefined;

/** The package root: the nearest folder above this file with llm-expo's package.json (works from dist/ too). */
export function packageRoot(): string {
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

export function loadAddon(): Addon {
  if (addon) return addon;
  const path = join(packageRoot(), "kernel", "build", "Release", "expo_kernel.node");
  if (!existsSync(path))
    throw new Error(`llm-expo: native kernel not built: run npm ci / npm run build (missing ${path})`);
  const loaded = createRequire(import.meta.url)(path) as Addon;
  checkKernelLayout(typeof loaded.layout === "function" ? loaded.layout() : undefined);
  addon = loaded;
  return addon;
}
