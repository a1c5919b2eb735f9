// The coordinator of one job: opens the output uploads, serves leases, collects unit reports and
// finalizes (or aborts). It implements the transport-neutral LeaseService that workers call.
import { EventEmitter } from "node:events";
import type { Storage } from "../storage/types.js";
import type { JobSpec } from "./jobSpec.js";
import type { JobContext, LeaseReply, LeaseService, UnitReport } from "./leaseService.js";
import { LeaseTable } from "./leaseTable.js";
import type { JobPlan } from "./plan.js";

export interface CoordinatorOptions {
  leaseTtlMs: number;
  maxAttempts: number;
}

export interface Progress {
  unitsDone: number;
  unitsTotal: number;
  bytesRead: number;
  bytesWritten: number;
}

export class Coordinator extends EventEmitter implements LeaseService {
  readonly table: LeaseTable;
  readonly reports = new Map<number, UnitReport>();
  /** uploads[k][shard] = upload id of output k's shard. */
  private uploads: Array<Record<string, string>> = [];
  private readonly expiry: NodeJS.Timeout;
  private settle!: (failure?: string) => void;
  /** Resolves with undefined when every unit is done, or with the failing unit's error. */
  readonly finished: Promise<string | undefined>;
  readonly progress: Progress;

  constructor(
    readonly spec: JobSpec,
    readonly plan: JobPlan,
    readonly outputs: Storage[],
    private readonly options: CoordinatorOptions,
  ) {
    super();
    this.table = new LeaseTable(
      plan.units.map((u) => u.id),
      { ttlMs: options.leaseTtlMs, maxAttempts: options.maxAttempts },
    );
    this.finished = new Promise((resolve) => {
      this.settle = resolve;
    });
    this.expiry = setInterval(() => this.checkExpired(), Math.max(50, options.leaseTtlMs / 4));
    this.expiry.unref();
    this.progress = { unitsDone: 0, unitsTotal: plan.units.length, bytesRead: 0, bytesWritten: 0 };
  }

  /** Opens one multipart upload per output shard. */
  async start(): Promise<void> {
    this.uploads = await Promise.all(
      this.plan.outputs.map(async (o, k) => {
        const ids: Record<string, string> = {};
        for (const s of o.shards) ids[s.file] = await (this.outputs[k] as Storage).createMultipart(s.file, s.size);
        return ids;
      }),
    );
    if (this.plan.units.length === 0) this.settle(undefined);
  }

  uploadIds(): Array<Record<string, string>> {
    return this.uploads;
  }

  async describeJob(): Promise<JobContext> {
    return {
      base: this.spec.base,
      aligned: this.spec.aligned,
      arith: this.spec.arith,
      onNonfinite: this.spec.onNonfinite,
      outputs: this.plan.outputs.map((o, k) => ({
        location: o.location,
        shards: Object.fromEntries(
          o.shards.map((s) => [
            s.file,
            { uploadId: (this.uploads[k] as Record<string, string>)[s.file] as string, header: s.header },
          ]),
        ),
      })),
      maxUnitBytes: this.plan.maxUnitBytes,
      maxBaseBytes: this.plan.maxBaseBytes,
      inputVersions: this.plan.inputVersions,
      leaseTtlMs: this.options.leaseTtlMs,
    };
  }

  async lease(_workerId: string): Promise<LeaseReply> {
    if (this.table.failure) return { kind: "failed", error: this.table.failure.error };
    const grant = this.table.lease();
    this.checkFinished();
    const failure = this.table.failure as { error: string } | undefined;
    if (failure) return { kind: "failed", error: failure.error };
    if (!grant) return this.table.finished ? { kind: "done" } : { kind: "wait", retryMs: 100 };
    const unit = this.plan.units[grant.unitId];
    if (!unit) throw new Error(`unit ${grant.unitId} is not in the plan`);
    return { kind: "unit", leaseId: grant.leaseId, unit, deadline: grant.deadline, attempt: grant.attempt };
  }

  async heartbeat(leaseId: string): Promise<boolean> {
    return this.table.heartbeat(leaseId) !== undefined;
  }

  async complete(leaseId: string, report: UnitReport): Promise<void> {
    const unitId = this.table.unitOf(leaseId);
    if (unitId === undefined || unitId !== report.unitId || !this.table.complete(leaseId)) return;
    this.reports.set(unitId, report);
    this.progress.unitsDone++;
    this.progress.bytesRead += report.bytes.aligned + report.bytes.base;
    this.progress.bytesWritten += report.bytes.written;
    this.emit("unit", report);
    this.checkFinished();
  }

  async fail(leaseId: string, error: string, retryable: boolean): Promise<void> {
    const unitId = this.table.unitOf(leaseId);
    if (unitId === undefined) return;
    this.table.fail(leaseId, error, retryable);
    this.emit("unitFailed", { unitId, error, retryable });
    this.checkFinished();
  }

  /** Stops the job: workers are told it failed, and the runner aborts every upload. */
  cancel(reason: string): void {
    this.table.cancel(reason);
    this.checkFinished();
  }

  close(): void {
    clearInterval(this.expiry);
  }

  private checkExpired(): void {
    this.table.expire();
    this.checkFinished();
  }

  private checkFinished(): void {
    const failure = this.table.failure;
    if (failure) {
      const unit = failure.unitId === undefined ? undefined : this.plan.units[failure.unitId];
      this.settle(
        unit
          ? `unit ${unit.id} (${unit.shard} part ${unit.partNumber}) failed after ${this.table.attemptsOf(unit.id)} attempt(s): ${failure.error}`
          : failure.error,
      );
    } else if (this.table.finished) {
      this.settle(undefined);
    }
  }
}
