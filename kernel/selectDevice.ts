import { UsageError } from "../checkpoint/errors.js";

export type DeviceChoice = "auto" | "cpu" | "cuda";

/**
 * The device the kernel runs on. This build has the CPU kernel only: `auto` means CPU, and an
 * explicit `cuda` is refused rather than silently falling back.
 */
export function selectDevice(choice: DeviceChoice): "cpu" {
  if (choice === "cuda")
    throw new UsageError("--device cuda: this build has no CUDA kernel (use --device cpu or auto)");
  return "cpu";
}
