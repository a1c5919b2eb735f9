// Where and how wide a local job runs: --device, --workers, --concurrency (run, plan, demo).
import type { Argv } from "yargs";
import { UsageError } from "../core/errors.js";

export function executionOptions<T>(y: Argv<T>) {
  return y
    .option("device", { choices: ["auto", "cpu", "cuda"] as const, default: "auto" as const })
    .option("workers", { type: "number", default: 1, describe: "worker processes" })
    .option("concurrency", {
      type: "number",
      default: 2,
      describe: "units in flight per worker (each holds its own buffers)",
    })
    .option("metrics-port", { type: "number", describe: "serve the coordinator's Prometheus /metrics on 127.0.0.1" });
}

export function positive(n: number, flag: string): number {
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} ${n}: must be a whole number >= 1`);
  return n;
}
