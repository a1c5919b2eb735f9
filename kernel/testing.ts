// Kernel entry points for tests and benchmarks only: the synchronous call, the code-path switch and the memcpy
// baseline. Product code calls extrapolate() (extrapolate.ts) with the device chosen at the edge.
import type { KernelDevice } from "../core/device.js";
import type { SegmentStats } from "../core/statistics.js";
import { type KernelInfo, loadAddon, type Simd } from "./addon.js";
import { extrapolateOnThisThread } from "./extrapolate.js";
import type { KernelLayout } from "./layout.js";
import type { ExtrapolateRequest } from "./types.js";

export type { KernelInfo, Simd } from "./addon.js";

export type TestRequest = Omit<ExtrapolateRequest, "device"> & { device?: KernelDevice };

/** extrapolate on the calling thread, on the CPU unless the request names a device. */
export function extrapolateSync(req: TestRequest, results?: Float64Array): SegmentStats[] {
  return extrapolateOnThisThread({ ...req, device: req.device ?? "cpu" }, results);
}

/** The layout the addon was built with (checked against the wrapper's when it was loaded). */
export function kernelLayout(): KernelLayout {
  return loadAddon().layout();
}

export function kernelInfo(): KernelInfo {
  return loadAddon().info();
}

/** Chooses the code path ("auto": the best the CPU has); throws if the CPU lacks it. Returns the path now used. */
export function setKernelSimd(simd: Simd | "auto"): Simd {
  return loadAddon().setSimd(simd);
}

/** Plain memcpy in native code, single thread: the baseline the kernel's throughput is compared with. */
export function nativeMemcpy(dst: Uint8Array, src: Uint8Array): void {
  loadAddon().memcpy(dst, src);
}
