// A worker's own metrics: its units' bytes and phase times, units in flight and their outcomes.
import { Counter, Gauge, Registry } from "prom-client";
import type { UnitReport } from "../core/leaseService.js";
import { registerProcessMetrics } from "../metrics/processMetrics.js";
import { storageMetrics } from "../metrics/storageMetrics.js";
import { unitMetrics } from "../metrics/unitMetrics.js";
import type { StorageRetry } from "../storage/storageRetry.js";
import type { WorkerObserver } from "./runWorker.js";

export function workerMetrics(storage: StorageRetry): { registry: Registry; observer: WorkerObserver } {
  const registry = new Registry();
  registry.setDefaultLabels({ role: "worker" });
  registerProcessMetrics(registry);
  storageMetrics(registry, storage);
  const units = unitMetrics(registry);
  const inFlight = new Gauge({
    name: "expo_units",
    help: "This worker's units by state (leased: in flight).",
    labelNames: ["state"],
    registers: [registry],
  });
  const outcomes = new Counter({
    name: "expo_worker_units_total",
    help: "Units this worker finished: done (report accepted), stale (re-leased meanwhile: ignored), failed.",
    labelNames: ["result"],
    registers: [registry],
  });
  inFlight.set({ state: "leased" }, 0);
  for (const result of ["done", "stale", "failed"]) outcomes.inc({ result }, 0);
  return {
    registry,
    observer: {
      started: () => inFlight.inc({ state: "leased" }),
      finished: (report: UnitReport, accepted: boolean) => {
        inFlight.dec({ state: "leased" });
        units.observe(report);
        outcomes.inc({ result: accepted ? "done" : "stale" });
      },
      failed: () => {
        inFlight.dec({ state: "leased" });
        outcomes.inc({ result: "failed" });
      },
    },
  };
}
