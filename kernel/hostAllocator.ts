// Where a worker's unit buffers live. On the CPU: ordinary Node memory. On CUDA: page-locked memory from the
// CUDA library, so that the GPU reads the inputs and writes the outputs by DMA straight from and to the unit
// buffers (kernel/cuda/pipeline.cc, the direct path) instead of through a host copy into its own pinned staging.
import type { KernelDevice } from "../core/device.js";
import { loadAddon } from "./addon.js";
import type { HostAllocator } from "./types.js";

const NODE_MEMORY: HostAllocator = {
  allocate: (bytes) => Buffer.allocUnsafeSlow(bytes),
  // The garbage collector frees it once nothing refers to it.
  release: () => {},
};

/** Host memory for kernel calls on `device` (selectDevice has already loaded the CUDA library for "cuda"). */
export function hostAllocator(device: KernelDevice): HostAllocator {
  if (device === "cpu") return NODE_MEMORY;
  const addon = loadAddon();
  return {
    allocate: (bytes) => addon.cudaHostAlloc(bytes),
    release: (buffer) => addon.cudaHostFree(buffer),
  };
}
