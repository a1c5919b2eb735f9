// A worker: lease units and run them in slots (p-queue), as many at once as --concurrency and the memory
// budget allow, so one unit's reads overlap another's compute and writes. Ends when the coordinator says the
// job is done or failed, or when asked to stop: then it leases nothing more, finishes the units in hand
// within the drain time and releases the rest. Its storage and its unit buffers (page-locked memory on a GPU)
// are released however it ends.
import { setTimeout as sleep } from "node:timers/promises";
import PQueue from "p-queue";
import type { KernelDevice } from "../core/device.js";
import { UsageError } from "../core/errors.js";
import type { JobContext, LeaseService } from "../core/leaseService.js";
import type { WorkUnit } from "../core/plan.js";
import type { UnitHooks } from "../engine/executeUnit.js";
import { type BufferSizes, UnitBufferPool, unitBufferBytes } from "../engine/unitBuffers.js";
import { hostAllocator } from "../kernel/hostAllocator.js";
import type { StorageSettings } from "../storage/s3Settings.js";
import { openJobStorage } from "./openJobStorage.js";
import type { LeaseContext, WorkerObserver } from "./runLease.js";
import { type SlotEnd, WorkerSlot } from "./workerSlot.js";

export type { WorkerObserver } from "./runLease.js";

export interface WorkerOptions {
  workerId: string;
  device: KernelDevice;
  storage: StorageSettings;
  /** Units in flight at most; each holds its own buffers. */
  concurrency: number;
  /** Bytes the units' buffers may take together (undefined: no limit beyond concurrency). */
  memoryBudget?: number;
  /** Once aborted: lease nothing more, finish the units in hand within drainMs, release the rest. */
  stop?: AbortSignal;
  drainMs?: number;
  observer?: WorkerObserver;
  hooks?: UnitHooks;
  /** Called once the job is known, with the number of units this worker will keep in flight. */
  onStart?: (job: JobContext, concurrency: number) => void;
}

export type WorkerOutcome =
  | { kind: "done" }
  | { kind: "failed"; error: string }
  | { kind: "stopped"; released: number };

/** What ended a slot task, as the loop sees it: a slot never rejects into the queue. */
type SlotResult = { end: SlotEnd } | { fatal: unknown };

export async function runWorker(service: LeaseService, options: WorkerOptions): Promise<WorkerOutcome> {
  const job = await service.describeJob(options.workerId);
  const concurrency = unitsInFlight(job, options);
  options.onStart?.(job, concurrency);
  const storage = openJobStorage(job, options.storage);
  const ctx: LeaseContext = {
    service,
    job,
    workerId: options.workerId,
    how: { arith: job.arith, device: options.device },
    ...(options.observer ? { observer: options.observer } : {}),
    ...(options.hooks ? { hooks: options.hooks } : {}),
  };
  // Slots × one unit's buffers at most (a slot takes a set only while fewer than `concurrency` run): the memory
  // budget's count, page-locked memory included.
  const pool = new UnitBufferPool(bufferSizes(job), hostAllocator(options.device));
  const queue = new PQueue({ concurrency });
  const slots = new Set<WorkerSlot>();
  const running = new Set<Promise<void>>();
  // Slot results wait here until the loop takes them in: only the loop decides the outcome.
  const ended: SlotResult[] = [];
  const stopped = new Promise<"stop">((resolve) => {
    if (options.stop?.aborted) resolve("stop");
    options.stop?.addEventListener("abort", () => resolve("stop"), { once: true });
  });
  const stopping = () => options.stop?.aborted === true;
  // Set only here, in the loop: the first word from the coordinator that the job is over, or a lost coordinator.
  let outcome: WorkerOutcome | undefined;
  let fatal: { error: unknown } | undefined;
  const wantMore = () => !outcome && !fatal && !stopping();
  const takeEnded = () => {
    for (const result of ended.splice(0)) {
      if ("fatal" in result) fatal ??= { error: result.fatal };
      else if (result.end.kind === "done") outcome ??= { kind: "done" };
      else if (result.end.kind === "failed") outcome ??= { kind: "failed", error: result.end.error };
    }
  };
  const startSlot = (leaseId: string, unit: WorkUnit) => {
    const buffers = pool.take();
    const slot = new WorkerSlot(ctx, storage, buffers);
    slots.add(slot);
    const task: Promise<void> = queue
      .add(() => slot.run({ leaseId, unit }, wantMore))
      .then(
        (end) => ({ end: end as SlotEnd }),
        (error: unknown) => ({ fatal: error }),
      )
      .then((result) => {
        ended.push(result);
        slots.delete(slot);
        running.delete(task);
        pool.give(buffers);
      });
    running.add(task);
  };
  try {
    for (;;) {
      takeEnded();
      if (!wantMore()) break;
      if (running.size >= concurrency) {
        await Promise.race([...running, stopped]);
        continue;
      }
      const reply = await service.lease(options.workerId);
      if (reply.kind === "done") outcome = { kind: "done" };
      else if (reply.kind === "failed") outcome = { kind: "failed", error: reply.error };
      // Nothing to lease until the units in flight finish: ask again after the wait, or as soon as a slot
      // of ours ends (its Complete may have finished the job).
      else if (reply.kind === "wait") await sleepUnless(reply.retryMs, undefined, [stopped, ...running]);
      // A unit granted is in hand, even if the stop came while it was asked for: it drains with the rest.
      else startSlot(reply.leaseId, reply.unit);
    }
    if (!stopping() || outcome || fatal) {
      await Promise.all(running);
      takeEnded();
      if (fatal) throw fatal.error;
      return outcome ?? { kind: "done" };
    }
    // Asked to stop: finish what is in hand if it fits the drain time, release the rest.
    const drained =
      (await sleepUnless(options.drainMs ?? 20_000, false, [Promise.all(running).then(() => true)])) === true;
    if (drained) return { kind: "stopped", released: 0 };
    const held = [...slots].flatMap((s) => (s.current ? [s.current] : []));
    await Promise.all(
      held.map(({ leaseId }) =>
        service
          .fail({
            workerId: options.workerId,
            leaseId,
            error: "worker stopped before finishing the unit",
            retryable: true,
          })
          .catch(() => false),
      ),
    );
    return { kind: "stopped", released: held.length };
  } finally {
    // Buffers of units still running (a stop past the drain time) are released when their slot ends.
    pool.close();
    await storage.close();
  }
}

/** --concurrency, lowered to what the memory budget holds; at least one unit must fit. */
function unitsInFlight(job: JobContext, options: WorkerOptions): number {
  const perUnit = unitBufferBytes(bufferSizes(job));
  if (options.memoryBudget === undefined) return options.concurrency;
  const fit = Math.floor(options.memoryBudget / perUnit);
  if (fit < 1) {
    throw new UsageError(
      `--memory-budget ${options.memoryBudget} bytes: one unit of this job needs ${perUnit} bytes of buffers (raise the budget or plan the job with a smaller --unit-size)`,
    );
  }
  return Math.min(options.concurrency, fit);
}

function bufferSizes(job: JobContext): BufferSizes {
  return {
    maxUnitBytes: job.maxUnitBytes,
    maxAlignedBytes: job.maxAlignedBytes,
    maxBaseBytes: job.maxBaseBytes,
    outputs: job.outputs.length,
    inPlace: job.inPlace,
  };
}

/**
 * The first of `others` to settle, or `value` after `ms`: the timer is cleared once the race is decided, so that
 * no sleep outlives it (a pending timer would keep the process alive after the job ended).
 */
async function sleepUnless(ms: number, value: unknown, others: Array<Promise<unknown>>): Promise<unknown> {
  const wake = new AbortController();
  try {
    return await Promise.race([sleep(ms, value, { signal: wake.signal }), ...others]);
  } finally {
    wake.abort();
  }
}
