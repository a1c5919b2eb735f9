// A worker: lease a unit, fetch, compute, upload, report; several units in flight (p-queue) so
// one unit's reads overlap another's compute and writes. Exits when the coordinator says done.
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import PQueue from "p-queue";
import { UsageError } from "../checkpoint/errors.js";
import type { JobContext, LeaseService, UnitReport } from "../coordinator/leaseService.js";
import type { WorkUnit } from "../coordinator/plan.js";
import { openStorage } from "../storage/openStorage.js";
import { ObjectChangedError } from "../storage/s3Errors.js";
import type { Storage } from "../storage/types.js";
import { computeUnit, type SegmentResult } from "./computeUnit.js";
import { fetchUnit } from "./fetchUnit.js";
import { UnitBufferPool, type UnitBuffers } from "./unitBuffers.js";
import { uploadUnit } from "./uploadUnit.js";

export interface WorkerOptions {
  workerId: string;
  /** Units in flight at once; each holds its own buffers. */
  concurrency: number;
}

/** Raised for unit failures that a retry cannot fix (the job's non-finite policy). */
export class PermanentUnitError extends Error {}

export async function runWorker(service: LeaseService, options: WorkerOptions): Promise<void> {
  const job = await service.describeJob();
  const aligned = openStorage(job.aligned);
  const base = openStorage(job.base);
  const outputs = job.outputs.map((o) => openStorage(o.location));
  for (const [file, etag] of Object.entries(job.inputVersions.aligned)) aligned.pin(file, etag);
  for (const [file, etag] of Object.entries(job.inputVersions.base)) base.pin(file, etag);
  const pool = new UnitBufferPool(job.maxUnitBytes, job.maxBaseBytes, job.outputs.length);
  const queue = new PQueue({ concurrency: options.concurrency });
  try {
    for (;;) {
      while (queue.pending + queue.size >= options.concurrency) await once(queue as never, "next");
      const reply = await service.lease(options.workerId);
      if (reply.kind === "done" || reply.kind === "failed") break;
      if (reply.kind === "wait") {
        await sleep(reply.retryMs);
        continue;
      }
      const buffers = pool.take();
      void queue.add(async () => {
        try {
          await processLease(service, job, reply.leaseId, reply.unit, { aligned, base, outputs, buffers });
        } finally {
          pool.give(buffers);
        }
      });
    }
    await queue.onIdle();
  } finally {
    await Promise.all([aligned.close(), base.close(), ...outputs.map((o) => o.close())]);
  }
}

interface UnitIo {
  aligned: Storage;
  base: Storage;
  outputs: Storage[];
  buffers: UnitBuffers;
}

async function processLease(
  service: LeaseService,
  job: JobContext,
  leaseId: string,
  unit: WorkUnit,
  io: UnitIo,
): Promise<void> {
  const heartbeat = setInterval(() => void service.heartbeat(leaseId).catch(() => undefined), job.leaseTtlMs / 3);
  try {
    const t0 = performance.now();
    await fetchUnit(unit, io.aligned, io.base, io.buffers);
    const t1 = performance.now();
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
    await service.complete(leaseId, report);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const permanent = e instanceof PermanentUnitError || e instanceof ObjectChangedError || e instanceof UsageError;
    await service.fail(leaseId, message, !permanent);
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
