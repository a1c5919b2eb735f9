import type { ExpoReport } from "../core/report.js";
import { formatBytes } from "./parseSize.js";

/** What `run` and `coordinator` print on stdout once the output is committed. */
export function printSummary(reports: ExpoReport[], seconds: number, bytesRead: number, json: boolean): void {
  if (json) {
    const summary = reports.map((r) => ({
      output: r.output.location,
      alpha: r.parameters.alpha,
      model: r.statistics.model,
    }));
    process.stdout.write(`${JSON.stringify({ seconds, bytesRead, outputs: summary })}\n`);
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
    `read ${formatBytes(bytesRead)} in ${seconds.toFixed(2)} s (${formatBytes(bytesRead / Math.max(seconds, 1e-6))}/s)\n`,
  );
}
