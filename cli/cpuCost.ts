export interface CpuCost {
  /** User + system CPU seconds of this process. */
  cpuSeconds: number;
  /** The same per GiB moved (read + written): what moving the bytes costs, comparable across job sizes. */
  cpuSecondsPerGiB: number;
}

/** What this process has spent since `start` (a `process.cpuUsage()` reading) to move `bytesMoved` bytes. */
export function cpuCost(start: NodeJS.CpuUsage, bytesMoved: number): CpuCost {
  const used = process.cpuUsage(start);
  const cpuSeconds = (used.user + used.system) / 1e6;
  return { cpuSeconds, cpuSecondsPerGiB: bytesMoved > 0 ? cpuSeconds / (bytesMoved / 1024 ** 3) : 0 };
}
