// Whether the CUDA kernel library can serve this process: probed once, never throws.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type CudaStatus, loadAddon, packageRoot } from "./addon.js";

let status: CudaStatus | undefined;

/** Where libexpo_cuda.so is looked for: LLM_EXPO_CUDA_LIBRARY, else kernel/build-cuda/ (npm run build:cuda). */
export function cudaLibraryPath(): string {
  return process.env.LLM_EXPO_CUDA_LIBRARY || join(packageRoot(), "kernel", "build-cuda", "libexpo_cuda.so");
}

/**
 * Loads the CUDA kernel and opens the visible device (CUDA_VISIBLE_DEVICES applies; LLM_EXPO_CUDA_DEVICE picks
 * among them), once per process; the outcome is cached. `reason` says why CUDA is unavailable.
 */
export function cudaStatus(): CudaStatus {
  if (status) return status;
  const path = cudaLibraryPath();
  if (!existsSync(path)) {
    status = {
      available: false,
      reason: `the CUDA kernel is not built (no ${path}; npm run build:cuda builds it where nvcc is installed)`,
      description: "",
    };
  } else {
    try {
      status = loadAddon().cudaProbe(path);
    } catch (e) {
      status = { available: false, reason: e instanceof Error ? e.message : String(e), description: "" };
    }
  }
  return status;
}
