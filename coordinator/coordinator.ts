// The coordinator of one job: opens (or, resuming, reuses) the output uploads, serves leases,
// journals and collects unit reports. It implements the transport-neutral LeaseService that the
// gRPC server exposes; what others may read of it are read-only views and typed events.
import { EventEmitter } from "node:events";
import type { JobSpec } from "../core/jobSpec.js";
import type {
  CompleteRequest,
  CompleteResult,
  FailRequest,
  JobContext,
  JobState,
  JobStatus,
  LeaseReply,
  LeaseService,
  UnitReport,
  UnitState,
} from "../core/leaseService.js";
import type { JobPlan } from "../core/plan.js";
import type { Storage } from "../storage/types.js";
import type { JournalRecord } from "./journal.js";
import { type AttemptFailure, LeaseTable } from "./leaseTable.js";
import { type PackedReport, packReport } from "./packReport.js";
import type { Resume } from "./replayJournal.js";
import { UnitReports } from "./unitReports.js";

export interface CoordinatorOptions {
  jobId: string;
  leaseTtlMs: number;
  maxAttempts: number;
  /** Records finished units and failed attempts; a Complete is acknowledged once journaled. */
  journal?: { append(...records: JournalRecord[]): Promise<void> };
  /**
   * Whether the journal's storage is in an outage right now: then no unit is leased (work that cannot be
   * recorded would only pile up), and a Complete is acknowledged after at most ACK_WAIT_MS even if its record
   * has not landed yet (it stays queued; the worker's call must not time out).
   */
  journalStalled?: () => boolean;
}

export interface Progress {
  unitsDone: number;
  unitsTotal: number;
  bytesRead: number;
  bytesWritten: number;
}

/** A report or failure for a lease that is no longer current: ignored. */
export interface StaleReport {
  unitId?: number;
  leaseId: string;
  workerId: string;
}

export interface CoordinatorEvents {
  /** An accepted unit report (journaled). */
  unit: [report: UnitReport];
  /** A failed attempt or an expired lease: requeued, or the job fails. */
  attemptFailed: [failure: AttemptFailure];
  stale: [report: StaleReport];
}

/** How long a wait reply asks a worker to wait before asking again. */
const WAIT_MS = 250;
/** Longest a Complete or Fail waits for its journal record while storage is out: well within a call's deadline. */
const ACK_WAIT_MS = 20_000;

export class Coordinator extends EventEmitter<CoordinatorEvents> implements LeaseService {
  private readonly table: LeaseTable;
  private readonly accepted: UnitReports;
  /** uploads[k][shard] = upload id of output k's shard. */
  private uploads: Array<Record<string, string>> = [];
  private readonly expiry: NodeJS.Timeout;
  private readonly seen = new Map<string, number>();
  private settle!: (failure?: string) => void;
  /** Resolves with undefined when every unit is done, or with the failing unit's error. */
  readonly finished: Promise<string | undefined>;
  private readonly totals: Progress;
  private jobState: JobState = "running";
  private jobError?: string;
  /** Why the journal could not be written (the job stopped on it). */
  private journalError?: Error;

  constructor(
    readonly spec: JobSpec,
    readonly plan: JobPlan,
    private readonly outputs: readonly Storage[],
    private readonly options: CoordinatorOptions,
  ) {
    super();
    this.accepted = new UnitReports(plan);
    this.table = new LeaseTable(
      Array.from({ length: plan.units.length }, (_, id) => id),
      { ttlMs: options.leaseTtlMs, maxAttempts: options.maxAttempts },
    );
    this.finished = new Promise((resolve) => {
      this.settle = resolve;
    });
    this.expiry = setInterval(() => this.checkExpired(), Math.max(50, options.leaseTtlMs / 4));
    this.expiry.unref();
    this.totals = { unitsDone: 0, unitsTotal: plan.units.length, bytesRead: 0, bytesWritten: 0 };
  }

  get jobId(): string {
    return this.options.jobId;
  }

  /** Accepted reports of finished units, by unit id (kept packed, unpacked when read). */
  get reports(): ReadonlyMap<number, UnitReport> {
    return this.accepted;
  }

  /** Units done and bytes moved so far (a copy). */
  progress(): Progress {
    return { ...this.totals };
  }

  unitCounts(): Readonly<Record<UnitState, number>> {
    return { ...this.table.counts() };
  }

  /** Opens one multipart upload per output shard, or takes over a journal's uploads and finished units. */
  async start(resume?: Resume): Promise<void> {
    if (resume) {
      this.uploads = resume.uploads;
      for (const [unitId, packed] of resume.reports) {
        this.table.markDone(unitId);
        this.accepted.set(unitId, packed);
      }
      this.totals.unitsDone += resume.reports.size;
      this.totals.bytesRead += resume.bytes.read;
      this.totals.bytesWritten += resume.bytes.written;
      for (const [unitId, attempts] of resume.attempts) this.table.restoreAttempts(unitId, attempts);
    } else {
      this.uploads = await Promise.all(
        this.plan.outputs.map(async (o, k) => {
          const ids: Record<string, string> = {};
          for (const s of o.shards) ids[s.file] = await (this.outputs[k] as Storage).createMultipart(s.file, s.size);
          return ids;
        }),
      );
    }
    this.checkFinished();
  }

  /** uploads[k][shard file]: the multipart upload ids of every output shard. */
  uploadIds(): ReadonlyArray<Readonly<Record<string, string>>> {
    return this.uploads;
  }

  async describeJob(workerId: string): Promise<JobContext> {
    this.saw(workerId);
    return {
      jobId: this.jobId,
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
      maxAlignedBytes: this.plan.maxAlignedBytes,
      maxBaseBytes: this.plan.maxBaseBytes,
      inPlace: this.plan.inPlace,
      inputVersions: this.plan.inputVersions,
      leaseTtlMs: this.options.leaseTtlMs,
    };
  }

  async lease(workerId: string): Promise<LeaseReply> {
    this.saw(workerId);
    if (this.table.failure || this.jobState === "failed") return { kind: "failed", error: this.failureMessage() };
    if (this.options.journalStalled?.() && !this.table.finished) return { kind: "wait", retryMs: WAIT_MS };
    this.checkExpired();
    const grant = this.table.lease();
    if (!grant) {
      if (this.table.failure) return { kind: "failed", error: this.failureMessage() };
      return this.table.finished ? { kind: "done" } : { kind: "wait", retryMs: WAIT_MS };
    }
    const unit = this.plan.units.get(grant.unitId);
    if (!unit) throw new Error(`unit ${grant.unitId} is not in the plan`);
    return { kind: "unit", leaseId: grant.leaseId, unit, deadline: grant.deadline, attempt: grant.attempt };
  }

  async heartbeat(leaseId: string, workerId: string): Promise<boolean> {
    this.saw(workerId);
    return this.table.heartbeat(leaseId) !== undefined;
  }

  async complete({ workerId, leaseId, report, leaseNext }: CompleteRequest): Promise<CompleteResult> {
    this.saw(workerId);
    const unitId = this.table.unitOf(leaseId);
    const accepted = unitId !== undefined && unitId === report.unitId && this.table.complete(leaseId);
    if (accepted) {
      const packed = this.record(report);
      await this.durable(this.journal({ type: "unit", unit: packed }));
      // A unit is done once journaled: a report that came after the journal failed (the job stopped: an outage,
      // or the output lease lost to another coordinator) is not announced as done.
      if (!this.journalError) this.emit("unit", report);
      this.checkFinished();
    } else {
      this.emit("stale", { unitId: report.unitId, leaseId, workerId });
    }
    return leaseNext ? { accepted, next: await this.lease(workerId) } : { accepted };
  }

  async fail({ workerId, leaseId, error, retryable, transient }: FailRequest): Promise<boolean> {
    this.saw(workerId);
    const failure = this.table.fail(leaseId, error, retryable, transient === true);
    if (!failure) {
      this.emit("stale", { leaseId, workerId });
      return false;
    }
    // A transient failure is journaled too: if storage is out for the coordinator as well, that write is what
    // finds it out (and, beyond --storage-timeout, stops the job with its journal kept).
    await this.durable(this.attemptFailed([failure]));
    this.checkFinished();
    return true;
  }

  /** Why the job stopped when the journal could not be written (a StorageUnavailableError in an outage). */
  get journalFailure(): Error | undefined {
    return this.journalError;
  }

  /** The job's state alone (what every Heartbeat, Complete and Fail reply carries): cheaper than status(). */
  get state(): JobState {
    return this.jobState;
  }

  /** Workers heard from within two lease TTLs. */
  workers(): number {
    const horizon = Date.now() - 2 * this.options.leaseTtlMs;
    let n = 0;
    for (const t of this.seen.values()) if (t >= horizon) n++;
    return n;
  }

  retries(): number {
    return this.table.retries;
  }

  status(): JobStatus {
    return {
      jobId: this.jobId,
      state: this.jobState,
      ...(this.jobError === undefined ? {} : { error: this.jobError }),
      units: { ...this.table.counts(), total: this.table.size },
      bytesRead: this.totals.bytesRead,
      bytesWritten: this.totals.bytesWritten,
      retries: this.table.retries,
      workers: this.workers(),
    };
  }

  /** The job's verdict once the output is committed (done) or aborted (failed): what workers are told. */
  setOutcome(state: "done" | "failed", error?: string): void {
    this.jobState = state;
    this.jobError = error;
  }

  /** Stops the job: no more leases, workers are told it failed, current holders' reports are ignored. */
  cancel(reason: string): void {
    this.table.cancel(reason);
    this.checkFinished();
  }

  close(): void {
    clearInterval(this.expiry);
  }

  private record(report: UnitReport): PackedReport {
    const packed = packReport(report);
    this.accepted.set(report.unitId, packed);
    this.totals.unitsDone++;
    this.totals.bytesRead += report.bytes.aligned + report.bytes.base;
    this.totals.bytesWritten += report.bytes.written;
    return packed;
  }

  private async journal(...records: JournalRecord[]): Promise<void> {
    try {
      await this.options.journal?.append(...records);
    } catch (e) {
      // Progress that cannot be recorded cannot be resumed: stop rather than run on unrecorded.
      this.journalError ??= e as Error;
      this.cancel((e as Error).message);
    }
  }

  /** Waits for a journal write, but while storage is out at most ACK_WAIT_MS (the record stays queued). */
  private async durable(write: Promise<void>): Promise<void> {
    if (!this.options.journalStalled) return write;
    let timer: NodeJS.Timeout | undefined;
    const patience = new Promise<void>((resolve) => {
      const check = () => {
        if (this.options.journalStalled?.()) resolve();
        else timer = setTimeout(check, ACK_WAIT_MS / 4);
      };
      timer = setTimeout(check, ACK_WAIT_MS);
    });
    try {
      await Promise.race([write, patience]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async attemptFailed(failures: AttemptFailure[]): Promise<void> {
    for (const f of failures) this.emit("attemptFailed", f);
    await this.journal(
      ...failures.map((f) => ({
        type: "retry" as const,
        unitId: f.unitId,
        attempt: f.attempt,
        error: f.error,
        ...(f.transient ? { transient: true } : {}),
      })),
    );
  }

  private saw(workerId: string): void {
    this.seen.set(workerId, Date.now());
  }

  private checkExpired(): void {
    const expired = this.table.expire();
    if (expired.length > 0) void this.attemptFailed(expired);
    this.checkFinished();
  }

  private failureMessage(): string {
    const failure = this.table.failure;
    if (!failure) return this.jobError ?? "";
    const unit = failure.unitId === undefined ? undefined : this.plan.units.get(failure.unitId);
    return unit
      ? `unit ${unit.id} (${unit.shard} part ${unit.partNumber}) failed after ${this.table.attemptsOf(unit.id)} attempt(s): ${failure.error}`
      : failure.error;
  }

  private checkFinished(): void {
    if (this.table.failure) {
      this.settle(this.failureMessage());
    } else if (this.table.finished) {
      if (this.jobState === "running") this.jobState = "finalizing";
      this.settle(undefined);
    }
  }
}
