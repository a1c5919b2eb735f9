// Storage outages as both roles export them: retries by operation and time spent in outages, read at scrape
// time from the process's retry policy (storage/storageRetry.ts), which counts from the process's start.
import { Counter, Gauge, type Registry } from "prom-client";

/** What storage/storageRetry.ts's StorageRetry offers (kept structural: metrics/ sits beside storage/). */
export interface StorageRetryCounts {
  retries(): ReadonlyMap<string, number>;
  outageSeconds(): number;
  readonly inOutage: boolean;
}

export function storageMetrics(registry: Registry, source: StorageRetryCounts): void {
  new Counter({
    name: "expo_storage_retries_total",
    help: "Storage calls tried again after a connection error, timeout, 5xx or throttling, by operation.",
    labelNames: ["operation"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [operation, n] of source.retries()) this.inc({ operation }, n);
    },
  });
  new Counter({
    name: "expo_storage_outage_seconds_total",
    help: "Seconds during which some storage call of this process was waiting out a failure.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(source.outageSeconds());
    },
  });
  new Gauge({
    name: "expo_storage_outage",
    help: "1 while some storage call of this process is waiting out a failure (the coordinator then leases nothing).",
    registers: [registry],
    collect() {
      this.set(source.inOutage ? 1 : 0);
    },
  });
}
