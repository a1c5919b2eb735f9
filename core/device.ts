/** The device a kernel call runs on. CUDA is used only where it was selected; it never falls back to the CPU. */
export type KernelDevice = "cpu" | "cuda";

/** --device: auto picks CUDA when it is built and a GPU is visible, else the CPU. */
export type DeviceChoice = "auto" | KernelDevice;
