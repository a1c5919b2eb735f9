// prom-client's default process metrics, less the three gauges whose names end in _total
// (nodejs_active_{handles,requests,resources}_total): Prometheus reserves that suffix for counters
// and `promtool check metrics` rejects them. Their per-type breakdowns (same names without _total) stay.
import { collectDefaultMetrics, type Registry } from "prom-client";

export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) {
    registry.removeSingleMetric(name);
  }
}
