// A worker: lease a unit, fetch, compute, upload, report; several units in flight (p-queue) so
// one unit's reads overlap another's compute and writes, as many as --concurrency and the memory
// budget allow. Ends when the coordinator says the job is done or failed, or when asked to stop.
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import PQueue from "p-queue";
import { UsageError } from "../checkpoint/errors.js";
import type { JobContext, LeaseReply, LeaseService, UnitReport } from "../coordinator/leaseService.js";
import type { WorkUnit } from "../coordinator/plan.js";
import { openStorage } from "../storage/openStorage.js";
import { ObjectChangedError } from "../storage/s3Errors.js";
import type { Storage } from "../storage/types.js";
import { computeUnit, type SegmentResult } from "./computeUnit.js";
import { fetchUnit } from "./fetchUnit.js";
import type { TestFaults } from "./testFaults.js";
import { UnitBufferPool, type UnitBuffers, unitBufferBytes } from "./unitBuffers.js";
import { uploadUnit } from "./uploadUnit.js";

export interface WorkerObserver {
  started(unit: WorkUnit): void;
  finished(report: UnitReport, accepted: boolean): void;
  failed(unit: WorkUnit, error: string): void;
}

export interface WorkerOptions {
  workerId: string;
  /** Units in flight at most; each holds its own buffers. */
  concurrency: number;
  /** Bytes the units' buffers may take together (undefined: no limit beyond concurrency). */
  memoryBudget?: number;
  /** Once aborted: lease nothing more, finish the units in hand within drainMs, release the rest. */
  stop?: AbortSignal;
  drainMs?: number;
  observer?: WorkerObserver;
  faults?: TestFaults;
  /** Called once the job is known, with the number of units this worker will keep in flight. */
  onStart?: (job: JobContext, concurrency: number) => void;
}

export type WorkerOutcome =
  | { kind: "done" }
  | { kind: "failed"; error: string }
  | { kind: "stopped"; released: number };

/** Raised for unit failures that a retry cannot fix (the job's non-finite policy). */
export class PermanentUnitError extends Error {}

export async function runWorker(service: LeaseService, options: WorkerOptions): Promise<WorkerOutcome> {
  const job = await service.describeJob(options.workerId);
  const concurrency = unitsInFlight(job, options);
  options.onStart?.(job, concurrency);
  const aligned = openStorage(job.aligned);
  const base = openStorage(job.base);
  const outputs = job.outputs.map((o) => openStorage(o.location));
  for (const [file, etag] of Object.entries(job.inputVersions.aligned)) aligned.pin(file, etag);
  for (const [file, etag] of Object.entries(job.inputVersions.base)) base.pin(file, etag);
  const pool = new UnitBufferPool(job.maxUnitBytes, job.maxBaseBytes, job.outputs.length);
  const queue = new PQueue({ concurrency });
  const held = new Map<string, WorkUnit>();
  const stopped = options.stop
    ? new Promise<"stop">((resolve) => {
        if (options.stop?.aborted) resolve("stop");
        options.stop?.addEventListener("abort", () => resolve("stop"), { once: true });
      })
    : new Promise<"stop">(() => {});
  let outcome: WorkerOutcome | undefined;
  // A slot that cannot reach the coordinator any more (past --coordinator-timeout) ends the worker.
  let fatal: { error: unknown } | undefined;
  try {
    while (!outcome && !fatal) {
      // Each slot is one queue task, added as soon as its first lease is granted: the queue's own
      // counts say how many are taken, and "next" fires when one ends.
      if (queue.pending + queue.size >= concurrency) {
        if ((await Promise.race([once(queue as never, "next"), stopped])) === "stop") break;
        continue;
      }
      if (options.stop?.aborted) break;
      const reply = await service.lease(options.workerId);
      if (reply.kind === "done") outcome = { kind: "done" };
      else if (reply.kind === "failed") outcome = { kind: "failed", error: reply.error };
      else if (reply.kind === "wait") await Promise.race([sleep(reply.retryMs), stopped]);
      else {
        // A slot: this unit, then the next ones its Complete replies grant (one round trip per unit),
        // until a reply has no unit for it or the worker is stopping.
        let grant: { leaseId: string; unit: WorkUnit } | undefined = reply;
        const buffers = pool.take();
        void queue.add(async () => {
          try {
            while (grant) {
              const { leaseId, unit } = grant;
              held.set(leaseId, unit);
              const io = { aligned, base, outputs, buffers };
              const next = await processLease(service, job, leaseId, unit, io, options, !options.stop?.aborted);
              held.delete(leaseId);
              grant = undefined;
              if (next?.kind === "unit" && !outcome && !options.stop?.aborted) grant = next;
              else if (next?.kind === "unit")
                await service.fail(next.leaseId, "worker stopping", true, options.workerId);
              else if (next?.kind === "done") outcome ??= { kind: "done" };
              else if (next?.kind === "failed") outcome ??= { kind: "failed", error: next.error };
            }
          } catch (error) {
            fatal ??= { error };
          } finally {
            pool.give(buffers);
          }
        });
      }
    }
    if (fatal) {
      await queue.onIdle();
      throw fatal.error;
    }
    if (outcome) {
      await queue.onIdle();
      return outcome;
    }
    // Asked to stop: finish what is in hand if it fits the drain time, release the rest.
    const drained = await Promise.race([queue.onIdle().then(() => true), sleep(options.drainMs ?? 20_000, false)]);
    if (drained) return { kind: "stopped", released: 0 };
    const release = [...held.keys()];
    await Promise.all(
      release.map((leaseId) =>
        service.fail(leaseId, "worker stopped before finishing the unit", true, options.workerId).catch(() => false),
      ),
    );
    return { kind: "stopped", released: release.length };
  } finally {
    if (!options.stop?.aborted || queue.pending === 0) {
      await Promise.all([aligned.close(), base.close(), ...outputs.map((o) => o.close())]);
    }
  }
}

/** --concurrency, lowered to what the memory budget holds; at least one unit must fit. */
function unitsInFlight(job: JobContext, options: WorkerOptions): number {
  const perUnit = unitBufferBytes(job.maxUnitBytes, job.maxBaseBytes, job.outputs.length);
  if (options.memoryBudget === undefined) return options.concurrency;
  const fit = Math.floor(options.memoryBudget / perUnit);
  if (fit < 1) {
    throw new UsageError(
      `--memory-budget ${options.memoryBudget} bytes: one unit of this job needs ${perUnit} bytes of buffers (raise the budget or plan the job with a smaller --unit-size)`,
    );
  }
  return Math.min(options.concurrency, fit);
}

interface UnitIo {
  aligned: Storage;
  base: Storage;
  outputs: Storage[];
  buffers: UnitBuffers;
}

/** Runs one unit and reports it; returns the next lease when one was asked for with the Complete. */
async function processLease(
  service: LeaseService,
  job: JobContext,
  leaseId: string,
  unit: WorkUnit,
  io: UnitIo,
  options: WorkerOptions,
  leaseNext: boolean,
): Promise<LeaseReply | undefined> {
  const { workerId, observer, faults } = options;
  const heartbeat = setInterval(
    () => void service.heartbeat(leaseId, workerId).catch(() => undefined),
    job.leaseTtlMs / 3,
  );
  observer?.started(unit);
  try {
    const t0 = performance.now();
    await fetchUnit(unit, io.aligned, io.base, io.buffers);
    const t1 = performance.now();
    if (faults) await faults.beforeCompute(unit);
    const segments = await computeUnit(unit, job.arith, io.buffers);
    checkNonfinite(unit, segments, job);
    const t2 = performance.now();
    const parts = await uploadUnit(unit, job, io.outputs, io.buffers.outs);
    const t3 = performance.now();
    const report: UnitReport = {
      unitId: unit.id,
      segments,
      parts,
      bytes: {
        aligned: unit.dataEnd - unit.dataStart,
        base: unit.baseLength,
        written: parts.reduce((n, p) => n + p.size, 0),
      },
      seconds: { fetch: (t1 - t0) / 1000, compute: (t2 - t1) / 1000, upload: (t3 - t2) / 1000 },
    };
    // Not inside `observer?.finished(...)`: optional chaining would skip the call when there is no observer.
    const { accepted, next } = await service.complete(leaseId, report, workerId, leaseNext);
    observer?.finished(report, accepted);
    return next;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const permanent = e instanceof PermanentUnitError || e instanceof ObjectChangedError || e instanceof UsageError;
    observer?.failed(unit, message);
    await service.fail(leaseId, message, !permanent, workerId);
    return undefined;
  } finally {
    clearInterval(heartbeat);
  }
}

/** Applies --on-nonfinite before anything is uploaded. */
function checkNonfinite(unit: WorkUnit, segments: SegmentResult[], job: JobContext): void {
  if (job.onNonfinite !== "error") return;
  for (const { tensor, stats } of segments) {
    if (stats.nonfiniteInputs > 0 || stats.nonfiniteOutputs > 0) {
      const what =
        stats.nonfiniteInputs > 0
          ? `${stats.nonfiniteInputs} element(s) non-finite in base or aligned`
          : `${stats.nonfiniteOutputs} non-finite output value(s) from finite inputs`;
      throw new PermanentUnitError(
        `${job.aligned}/${unit.shard}: tensor ${tensor}: ${what} (use --on-nonfinite warn to write them anyway)`,
      );
    }
  }
}
