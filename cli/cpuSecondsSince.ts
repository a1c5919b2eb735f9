/** User + system CPU seconds this process has spent since `start` (a `process.cpuUsage()` reading). */
export function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}
