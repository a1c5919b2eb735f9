import type { ExpoReport } from "../core/report.js";
import { formatBytes } from "./parseSize.js";

/** What a job moved and what it cost this process. */
export interface JobTotals {
  seconds: number;
  bytesRead: number;
  bytesWritten: number;
  /** This process's user + system CPU seconds over the job (with `run`, the in-process worker's too). */
  cpuSeconds: number;
}

/** What `run` and `coordinator` print on stdout once the output is committed. */
export function printSummary(reports: ExpoReport[], totals: JobTotals, json: boolean): void {
  const moved = totals.bytesRead + totals.bytesWritten;
  const cpuSecondsPerGiB = moved > 0 ? totals.cpuSeconds / (moved / 1024 ** 3) : 0;
  if (json) {
    const summary = reports.map((r) => ({
      output: r.output.location,
      alpha: r.parameters.alpha,
      model: r.statistics.model,
    }));
    process.stdout.write(`${JSON.stringify({ ...totals, cpuSecondsPerGiB, outputs: summary })}\n`);
    return;
  }
  for (const r of reports) {
    const m = r.statistics.model;
    process.stdout.write(
      `wrote ${r.output.location} (alpha ${r.parameters.alpha}, ${r.parameters.arith}): ${m.tensorsExtrapolated} tensors extrapolated, ${m.tensorsCopied} copied; ` +
        `|θ0| ${m.normBase.toPrecision(6)}  |θ1| ${m.normAligned.toPrecision(6)}  |θ2| ${m.normOutput.toPrecision(6)}  |Δ|/|θ0| ${m.relativeShift.toExponential(3)}\n`,
    );
  }
  process.stdout.write(
    `read ${formatBytes(totals.bytesRead)} in ${totals.seconds.toFixed(2)} s (${formatBytes(totals.bytesRead / Math.max(totals.seconds, 1e-6))}/s), ` +
      `wrote ${formatBytes(totals.bytesWritten)}; cpu ${totals.cpuSeconds.toFixed(2)} s (${cpuSecondsPerGiB.toFixed(2)} s per GiB moved)\n`,
  );
}
