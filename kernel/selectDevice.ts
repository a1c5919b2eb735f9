import type { DeviceChoice, KernelDevice } from "../core/device.js";
import { UsageError } from "../core/errors.js";
import { cudaStatus } from "./cudaStatus.js";

/**
 * The device for --device, decided once at the edge and passed to every kernel call. `auto`: CUDA when the
 * CUDA kernel library loads (npm run build:cuda) and a device is visible (CUDA_VISIBLE_DEVICES applies), else
 * the CPU. `cuda`: CUDA or a usage error saying why not, never a silent CPU fallback. `cpu`: the CPU.
 */
export function selectDevice(choice: DeviceChoice): KernelDevice {
  if (choice === "cpu") return "cpu";
  const status = cudaStatus();
  if (status.available) return "cuda";
  if (choice === "cuda") throw new UsageError(`--device cuda: ${status.reason} (use --device cpu or auto)`);
  return "cpu";
}
