// The coordinator's metrics: job totals from every accepted unit report, units by state, workers,
// retries, and the norm statistics computed exactly as expo-report.json computes them (in unit
// order, over the units finished so far), so the last scrape shows the report's numbers.
import { Counter, Gauge, Registry } from "prom-client";
import { registerProcessMetrics } from "../metrics/processMetrics.js";
import { storageMetrics } from "../metrics/storageMetrics.js";
import { unitMetrics } from "../metrics/unitMetrics.js";
import { aggregateStatistics } from "../report/aggregateStatistics.js";
import { outputShapes } from "../report/buildReport.js";
import type { StorageRetry } from "../storage/storageRetry.js";
import type { Coordinator } from "./coordinator.js";

export function coordinatorMetrics(coordinator: Coordinator, storage: StorageRetry): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role: "coordinator" });
  registerProcessMetrics(registry);
  storageMetrics(registry, storage);
  const units = unitMetrics(registry);
  coordinator.on("unit", (r) => units.observe(r));
  const retries = new Counter({
    name: "expo_unit_retries_total",
    help: "Unit attempts that failed or whose lease expired and went back to the queue.",
    registers: [registry],
  });
  coordinator.on("attemptFailed", (f) => {
    // Transient failures (storage unreachable) spend no attempt: they show as storage retries and outages.
    if (f.requeued && !f.transient) retries.inc();
  });
  new Gauge({
    name: "expo_units",
    help: "Work units by state.",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      for (const [state, n] of Object.entries(coordinator.unitCounts())) this.set({ state }, n);
    },
  });
  new Gauge({
    name: "expo_workers",
    help: "Workers heard from within two lease TTLs.",
    registers: [registry],
    collect() {
      this.set(coordinator.workers());
    },
  });
  const states = ["running", "finalizing", "done", "failed"] as const;
  new Gauge({
    name: "expo_job_state",
    help: "1 for the job's current state.",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      const now = coordinator.state;
      for (const s of states) this.set({ state: s }, s === now ? 1 : 0);
    },
  });

  // The norms, recomputed at most once per finished unit, shared by the gauges of one scrape.
  let cachedAt = -1;
  let cached: Array<ReturnType<typeof aggregateStatistics>> = [];
  const statistics = () => {
    const done = coordinator.reports.size;
    if (cachedAt !== done) {
      cachedAt = done;
      const segmentsOf = (id: number) => coordinator.reports.get(id)?.segments ?? [];
      const shapes = outputShapes(coordinator.plan);
      cached = coordinator.plan.outputs.map((_, k) => aggregateStatistics(coordinator.plan, segmentsOf, k, shapes));
    }
    return cached;
  };
  new Gauge({
    name: "expo_param_norm",
    help: "L2 norm over the extrapolated tensors: base θ0, aligned θ1, output θ2 for each alpha (finished units so far).",
    labelNames: ["model", "alpha"],
    registers: [registry],
    collect() {
      for (const [k, s] of statistics().entries()) {
        const alpha = String(coordinator.plan.outputs[k]?.alpha);
        if (k === 0) {
          this.set({ model: "base", alpha: "" }, s.model.normBase);
          this.set({ model: "aligned", alpha: "" }, s.model.normAligned);
        }
        this.set({ model: "output", alpha }, s.model.normOutput);
      }
    },
  });
  new Gauge({
    name: "expo_delta_norm",
    help: "L2 norm of θ1 − θ0 over the extrapolated tensors (finished units so far).",
    registers: [registry],
    collect() {
      const s = statistics()[0];
      if (s) this.set(s.model.normDelta);
    },
  });
  new Gauge({
    name: "expo_tensor_relative_shift",
    help: "|θ1 − θ0| / |θ0| per extrapolated tensor (finished units so far).",
    labelNames: ["tensor"],
    registers: [registry],
    collect() {
      const s = statistics()[0];
      if (s) for (const [tensor, t] of Object.entries(s.tensors)) this.set({ tensor }, t.relativeShift);
    },
  });
  return registry;
}
