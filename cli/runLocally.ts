// `llm-expo run` and `demo` on one machine: the coordinator and a worker in this process, the worker
// calling the coordinator's lease service directly. The same runWorker and unit pipeline a cluster runs, the
// same journal and commit; no worker processes to start, connect and end.
import type { Coordinator } from "../coordinator/coordinator.js";
import { serveJob } from "../coordinator/serveJob.js";
import type { KernelDevice } from "../core/device.js";
import { UsageError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { ExpoReport } from "../core/report.js";
import { unitBufferBytes } from "../engine/unitBuffers.js";
import type { PlannedJob } from "../plan/prepareJob.js";
import type { StorageSettings } from "../storage/s3Settings.js";
import { runWorker, type WorkerOutcome } from "../worker/runWorker.js";
import { LOCAL_MEMORY_BUDGET } from "./executionOptions.js";
import { formatBytes } from "./parseSize.js";
import { followProgress } from "./progressBar.js";

/** How long the job's end waits for the local worker's units in hand. */
const DRAIN_GRACE_MS = 10_000;

export interface LocalRunOptions {
  /** Units in flight: workers × concurrency, within the memory budget. */
  workers: number;
  concurrency: number;
  /** Bytes the unit buffers may take together; default LOCAL_MEMORY_BUDGET, or one unit's buffers if more. */
  memoryBudget: number | undefined;
  device: KernelDevice;
  storage: StorageSettings;
  log: Logger;
  maxAttempts?: number;
  leaseTtlMs?: number;
  outputLease?: { ttlMs: number; wait: boolean };
  journal?: string;
  metricsPort?: number;
  onCoordinator?: (c: Coordinator) => void;
  /** A progress bar (terminal) or progress log lines while the job runs. */
  progress?: boolean;
}

/** Units a local run keeps in flight; a usage error (before anything is written) when not even one fits. */
export function localUnitsInFlight(
  job: PlannedJob,
  options: Pick<LocalRunOptions, "workers" | "concurrency" | "memoryBudget">,
): number {
  const perUnit = unitBufferBytes({ ...job.plan, outputs: job.plan.outputs.length });
  const budget = options.memoryBudget ?? Math.max(LOCAL_MEMORY_BUDGET, perUnit);
  const fit = Math.floor(budget / perUnit);
  if (fit < 1) {
    throw new UsageError(
      `--memory-budget ${formatBytes(budget)}: one unit of this job needs ${formatBytes(perUnit)} of buffers (raise the budget or use a smaller --unit-size)`,
    );
  }
  return Math.min(options.workers * options.concurrency, fit);
}

export async function runLocally(job: PlannedJob, options: LocalRunOptions): Promise<ExpoReport[]> {
  const inFlight = localUnitsInFlight(job, options);
  let worker: Promise<WorkerOutcome> | undefined;
  let workerLost = (_: string) => {};
  const stopped = new Promise<string>((resolve) => {
    workerLost = resolve;
  });
  let stopProgress = () => {};
  // Once the job has ended, a unit the worker still had in hand is not logged after the job's last line.
  let ended = false;
  return serveJob(job, {
    storage: options.storage,
    leaseTtlMs: options.leaseTtlMs ?? 60_000,
    maxAttempts: options.maxAttempts ?? 3,
    ...(options.outputLease === undefined ? {} : { outputLease: options.outputLease }),
    ...(options.journal === undefined ? {} : { journal: options.journal }),
    ...(options.metricsPort === undefined ? {} : { metrics: { host: "127.0.0.1", port: options.metricsPort } }),
    lingerMs: 0,
    onSigterm: "abort",
    log: options.log,
    onCoordinator: (c) => {
      if (options.progress) stopProgress = followProgress(c, options.log);
      options.onCoordinator?.(c);
    },
    onServing: (coordinator) => {
      worker = runWorker(coordinator, {
        workerId: "local",
        device: options.device,
        storage: options.storage,
        concurrency: inFlight,
        observer: {
          started: (unit) => {
            if (!ended) options.log.debug("unit started", { unitId: unit.id });
          },
          finished: () => {},
          failed: (unit, error) => {
            if (!ended) options.log.warn(`unit ${unit.id} failed: ${error}`);
          },
        },
      });
      // The coordinator hears the worker's outcome through its own table; only a worker that dies stops the job.
      worker.catch((e: unknown) =>
        workerLost(`the local worker stopped: ${e instanceof Error ? e.message : String(e)}`),
      );
    },
    stopped,
    // The units in hand finish (the lease replies tell the worker the outcome); one stuck on I/O is not waited
    // for past the grace.
    drainWorkers: async () => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        worker?.catch(() => undefined),
        new Promise((resolve) => {
          timer = setTimeout(resolve, DRAIN_GRACE_MS);
        }),
      ]);
      clearTimeout(timer);
    },
  }).finally(() => {
    ended = true;
    stopProgress();
  });
}
