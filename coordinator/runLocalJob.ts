// `llm-expo run` on one machine: the coordinator and its workers in this process, talking
// through the same LeaseService interface a remote worker uses.
import { JobError, UsageError } from "../checkpoint/errors.js";
import { INDEX_FILE, SINGLE_FILE } from "../checkpoint/types.js";
import { runWorker } from "../worker/runWorker.js";
import type { ExpoReport } from "./buildReport.js";
import { Coordinator } from "./coordinator.js";
import { abortUploads, finalize } from "./finalize.js";
import type { PreparedJob } from "./prepareJob.js";

export interface LocalRunOptions {
  workers: number;
  concurrency: number;
  leaseTtlMs?: number;
  maxAttempts?: number;
  onCoordinator?: (c: Coordinator) => void;
}

export async function runLocalJob(job: PreparedJob, options: LocalRunOptions): Promise<ExpoReport[]> {
  const coordinator = new Coordinator(job.spec, job.plan, job.outputs, {
    leaseTtlMs: options.leaseTtlMs ?? 60_000,
    maxAttempts: options.maxAttempts ?? 3,
  });
  options.onCoordinator?.(coordinator);
  const interrupt = (signal: NodeJS.Signals) => coordinator.cancel(`interrupted by ${signal}: uploads aborted`);
  process.once("SIGINT", interrupt);
  process.once("SIGTERM", interrupt);
  try {
    if (job.spec.overwrite) {
      // The old commit point goes first, so the folder never looks complete while it is rewritten.
      for (const o of job.outputs) for (const f of [INDEX_FILE, SINGLE_FILE]) await o.delete(f);
    }
    await coordinator.start();
    const workers = Array.from({ length: options.workers }, (_, i) =>
      runWorker(coordinator, { workerId: `local-${i}`, concurrency: options.concurrency }),
    );
    // A worker that crashes (rather than failing a unit) must not leave the job waiting forever.
    const failure = await Promise.race([coordinator.finished, Promise.all(workers).then(() => coordinator.finished)]);
    await Promise.allSettled(workers);
    if (failure) throw new JobError(failure);
    return await finalize(coordinator, job.aligned, job.base);
  } catch (e) {
    await abortUploads(coordinator);
    // Refusals met before any data was written (e.g. no write permission at the output) stay usage errors.
    if (e instanceof JobError || e instanceof UsageError) throw e;
    throw new JobError(e instanceof Error ? e.message : String(e));
  } finally {
    process.off("SIGINT", interrupt);
    process.off("SIGTERM", interrupt);
    coordinator.close();
    await Promise.all([job.aligned.storage.close(), job.base.storage.close(), ...job.outputs.map((o) => o.close())]);
  }
}
