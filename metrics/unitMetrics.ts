// The unit-level metrics that coordinator and workers both export (docs/architecture.md, Metrics): the
// coordinator counts every accepted report of the job, a worker its own units.
import { Counter, Histogram, type Registry } from "prom-client";
import type { UnitReport } from "../core/leaseService.js";

export interface UnitMetrics {
  observe(report: UnitReport): void;
}

export function unitMetrics(registry: Registry): UnitMetrics {
  const bytesRead = new Counter({
    name: "expo_bytes_read_total",
    help: "Checkpoint bytes read, by source checkpoint (base = θ0, aligned = θ1).",
    labelNames: ["source"],
    registers: [registry],
  });
  const bytesWritten = new Counter({
    name: "expo_bytes_written_total",
    help: "Output bytes written (all outputs).",
    registers: [registry],
  });
  const phase = new Histogram({
    name: "expo_unit_phase_seconds",
    help: "Time per work unit in each phase.",
    labelNames: ["phase"],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const nonfinite = new Counter({
    name: "expo_nonfinite_total",
    help: "Non-finite values met: inputs (NaN/Inf in base or aligned) and outputs (from finite inputs).",
    labelNames: ["kind"],
    registers: [registry],
  });
  // Series exist from the start, so a dashboard shows 0 rather than nothing.
  for (const source of ["base", "aligned"]) bytesRead.inc({ source }, 0);
  for (const p of ["fetch", "compute", "upload"]) phase.zero({ phase: p });
  for (const kind of ["input", "output"]) nonfinite.inc({ kind }, 0);
  return {
    observe(report) {
      bytesRead.inc({ source: "aligned" }, report.bytes.aligned);
      bytesRead.inc({ source: "base" }, report.bytes.base);
      bytesWritten.inc(report.bytes.written);
      phase.observe({ phase: "fetch" }, report.seconds.fetch);
      phase.observe({ phase: "compute" }, report.seconds.compute);
      phase.observe({ phase: "upload" }, report.seconds.upload);
      for (const { stats } of report.segments) {
        nonfinite.inc({ kind: "input" }, stats.nonfiniteInputs);
        nonfinite.inc({ kind: "output" }, stats.nonfiniteOutputs);
      }
    },
  };
}
