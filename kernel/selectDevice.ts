import { UsageError } from "../checkpoint/errors.js";
import { cudaStatus, setKernelDevice } from "./extrapolate.js";
import type { KernelDevice } from "./types.js";

export type DeviceChoice = "auto" | "cpu" | "cuda";

/**
 * Chooses the device the kernel runs on in this process (--device) and returns it. `auto`: CUDA when the CUDA
 * kernel library loads (npm run build:cuda) and a device is visible (CUDA_VISIBLE_DEVICES applies), else the
 * CPU. `cuda`: CUDA or a usage error saying why not, never a silent CPU fallback. `cpu`: the CPU.
 */
export function selectDevice(choice: DeviceChoice): KernelDevice {
  if (choice === "cpu") {
    setKernelDevice("cpu");
    return "cpu";
  }
  const status = cudaStatus();
  if (!status.available) {
    if (choice === "cuda") throw new UsageError(`--device cuda: ${status.reason} (use --device cpu or auto)`);
    setKernelDevice("cpu");
    return "cpu";
  }
  setKernelDevice("cuda");
  return "cuda";
}
