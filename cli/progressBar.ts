import type { Coordinator } from "../coordinator/coordinator.js";
import type { Logger } from "../core/logger.js";
import { formatBytes } from "./parseSize.js";

/** A redrawn bar on a terminal; otherwise a progress log line every few seconds. */
export function followProgress(coordinator: Coordinator, log: Logger): () => void {
  const started = performance.now();
  const line = () => {
    const p = coordinator.progress();
    const seconds = (performance.now() - started) / 1000;
    const rate = p.bytesRead / Math.max(seconds, 1e-3);
    return { p, seconds, rate };
  };
  if (!log.json && process.stderr.isTTY) {
    const draw = () => {
      const { p, seconds, rate } = line();
      const width = 30;
      const filled = Math.round((p.unitsDone / Math.max(1, p.unitsTotal)) * width);
      process.stderr.write(
        `\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${p.unitsDone}/${p.unitsTotal} units  ${formatBytes(p.bytesRead)} read  ${formatBytes(rate)}/s  ${seconds.toFixed(1)}s `,
      );
    };
    coordinator.on("unit", draw);
    const timer = setInterval(draw, 500);
    return () => {
      clearInterval(timer);
      coordinator.off("unit", draw);
      draw();
      process.stderr.write("\n");
    };
  }
  const timer = setInterval(() => {
    const { p, seconds, rate } = line();
    log.info("progress", {
      unitsDone: p.unitsDone,
      unitsTotal: p.unitsTotal,
      bytesRead: p.bytesRead,
      bytesPerSecond: Math.round(rate),
      seconds,
    });
  }, 5000);
  timer.unref();
  return () => clearInterval(timer);
}
