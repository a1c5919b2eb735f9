// One leased unit: heartbeats while it runs, then its report (Complete) or its failure (Fail).
import { ObjectChangedError, PermanentUnitError, StorageUnavailableError, UsageError } from "../core/errors.js";
import type { JobContext, LeaseReply, LeaseService, UnitReport } from "../core/leaseService.js";
import type { WorkUnit } from "../core/plan.js";
import type { Arithmetic } from "../engine/computeUnit.js";
import { executeUnit, type UnitHooks, type UnitIo } from "../engine/executeUnit.js";

export interface WorkerObserver {
  started(unit: WorkUnit): void;
  finished(report: UnitReport, accepted: boolean): void;
  failed(unit: WorkUnit, error: string): void;
}

export interface LeaseContext {
  service: LeaseService;
  job: JobContext;
  workerId: string;
  how: Arithmetic;
  observer?: WorkerObserver;
  hooks?: UnitHooks;
}

export interface HeldLease {
  leaseId: string;
  unit: WorkUnit;
}

/** Runs the unit and reports it; returns the next lease when `leaseNext` asked for one with the Complete. */
export async function runLease(
  ctx: LeaseContext,
  lease: HeldLease,
  io: UnitIo,
  leaseNext: boolean,
): Promise<LeaseReply | undefined> {
  const { service, workerId, observer } = ctx;
  const { leaseId, unit } = lease;
  const heartbeat = setInterval(
    () => void service.heartbeat(leaseId, workerId).catch(() => undefined),
    ctx.job.leaseTtlMs / 3,
  );
  observer?.started(unit);
  try {
    const report = await executeUnit(unit, ctx.job, ctx.how, io, ctx.hooks);
    // Not inside `observer?.finished(...)`: optional chaining would skip the call when there is no observer.
    const { accepted, next } = await service.complete({ workerId, leaseId, report, leaseNext });
    observer?.finished(report, accepted);
    return next;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const permanent = e instanceof PermanentUnitError || e instanceof ObjectChangedError || e instanceof UsageError;
    // Storage that stayed unreachable past --storage-timeout is an outage, not the unit's fault.
    const transient = e instanceof StorageUnavailableError;
    observer?.failed(unit, message);
    await service.fail({ workerId, leaseId, error: message, retryable: !permanent, transient });
    return undefined;
  } finally {
    clearInterval(heartbeat);
  }
}
