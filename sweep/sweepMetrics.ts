// The sweep's Prometheus metrics (label role="sweep"), read from its progress at every scrape: the score of
// every model evaluated so far by α (the baseline is alpha="0"), how long each evaluation took, evaluations by
// state, and the chosen model once the report is written.
import { Gauge, Registry } from "prom-client";
import { registerProcessMetrics } from "../metrics/processMetrics.js";
import type { SweepProgress } from "./sweepProgress.js";

export function sweepMetrics(progress: SweepProgress): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role: "sweep" });
  registerProcessMetrics(registry);
  new Gauge({
    name: "expo_sweep_score",
    help: "Evaluator score (higher is better) of the model extrapolated with this alpha; alpha 0 is the aligned model (the baseline).",
    labelNames: ["alpha"],
    registers: [registry],
    collect() {
      for (const r of progress.scored()) this.set({ alpha: String(r.alpha) }, r.score);
    },
  });
  new Gauge({
    name: "expo_sweep_evaluation_seconds",
    help: "Wall time of the evaluation that produced the score, by alpha.",
    labelNames: ["alpha"],
    registers: [registry],
    collect() {
      for (const r of progress.scored()) if (r.seconds !== null) this.set({ alpha: String(r.alpha) }, r.seconds);
    },
  });
  new Gauge({
    name: "expo_sweep_evaluations",
    help: "Evaluations of the sweep by state (pending, running, done, failed).",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      for (const [state, n] of Object.entries(progress.counts())) this.set({ state }, n);
    },
  });
  new Gauge({
    name: "expo_sweep_best",
    help: "The model the sweep chose, by its alpha (0: the aligned model itself scored best), with its score; present once the report is written.",
    labelNames: ["alpha"],
    registers: [registry],
    collect() {
      const best = progress.best === undefined ? undefined : progress.scored().find((r) => r.alpha === progress.best);
      if (best) this.set({ alpha: String(best.alpha) }, best.score);
    },
  });
  return registry;
}
