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
