// Where and how wide a local job runs: --device, --workers, --concurrency, --memory-budget (run, plan).
import type { Argv } from "yargs";
import { UsageError } from "../core/errors.js";
import { parseSize } from "./parseSize.js";

/** Unit buffers a local run may hold unless told otherwise (or one unit's, if more): keeps `run` within ~600 MiB. */
export const LOCAL_MEMORY_BUDGET = 448 * 1024 * 1024;

export function executionOptions<T>(y: Argv<T>) {
  return y
    .option("device", { choices: ["auto", "cpu", "cuda"] as const, default: "auto" as const })
    .option("workers", {
      type: "number",
      default: 1,
      describe: "workers: in a local run, workers × concurrency units in flight in this process",
    })
    .option("concurrency", {
      type: "number",
      default: 2,
      describe: "units in flight per worker (each holds its own buffers)",
    })
    .option("memory-budget", {
      type: "string",
      describe:
        "bytes the unit buffers may take together, e.g. 2GiB (default 448MiB, or one unit); fewer units in flight if they do not fit",
    })
    .option("metrics-port", { type: "number", describe: "serve the coordinator's Prometheus /metrics on 127.0.0.1" });
}

export function positive(n: number, flag: string): number {
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} ${n}: must be a whole number >= 1`);
  return n;
}

/** --memory-budget in bytes; undefined when not given (the run picks its default). */
export function memoryBudget(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseSize(text);
  } catch (e) {
    throw new UsageError(`--memory-budget: ${(e as Error).message}`);
  }
}
