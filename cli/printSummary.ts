import type { JobPlan } from "../core/plan.js";
import type { ExpoReport } from "../core/report.js";
import { cpuCost } from "./cpuCost.js";
import { formatBytes } from "./parseSize.js";

/** Readings taken when the job started to run (after planning). */
export interface JobStart {
  /** `performance.now()` */
  time: number;
  cpu: NodeJS.CpuUsage;
}

/**
 * What `run` and `coordinator` print on stdout once the output is committed: each output's statistics, then what
 * the job moved (the plan's bytes), how long it took and what it cost this process (with `run`, the in-process
 * worker's share too).
 */
export function printSummary(reports: ExpoReport[], plan: JobPlan, start: JobStart, json: boolean): void {
  const seconds = (performance.now() - start.time) / 1000;
  const bytesRead = plan.bytes.alignedRead + plan.bytes.baseRead;
  const bytesWritten = plan.bytes.writtenPerOutput * plan.outputs.length;
  const cost = cpuCost(start.cpu, bytesRead + bytesWritten);
  if (json) {
    const summary = reports.map((r) => ({
      output: r.output.location,
      alpha: r.parameters.alpha,
      model: r.statistics.model,
    }));
    process.stdout.write(`${JSON.stringify({ seconds, bytesRead, bytesWritten, ...cost, outputs: summary })}\n`);
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
    `read ${formatBytes(bytesRead)} in ${seconds.toFixed(2)} s (${formatBytes(bytesRead / Math.max(seconds, 1e-6))}/s), ` +
      `wrote ${formatBytes(bytesWritten)}; cpu ${cost.cpuSeconds.toFixed(2)} s (${cost.cpuSecondsPerGiB.toFixed(2)} s per GiB moved)\n`,
  );
}
