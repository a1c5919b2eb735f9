// Who holds which unit. A lease expires unless heartbeated; an expired unit goes back to the
// queue; a Complete or Fail for a lease that is no longer current is ignored, so a worker that was
// paused past its deadline cannot overwrite the bookkeeping of the unit's new holder.
import { randomBytes } from "node:crypto";
import type { UnitState } from "../core/leaseService.js";

interface Entry {
  state: UnitState;
  attempts: number;
  leaseId?: string;
  deadline?: number;
  lastError?: string;
}

export interface Grant {
  unitId: number;
  leaseId: string;
  deadline: number;
  attempt: number;
}

/** A unit that went back to the queue (or failed the job): a failed attempt or an expired lease. */
export interface AttemptFailure {
  unitId: number;
  attempt: number;
  error: string;
  requeued: boolean;
  /** The worker gave up on unreachable storage: the unit went back without spending the attempt. */
  transient?: boolean;
}

/** Random lease ids (12 bytes, hex) cut from one larger random draw: one getrandom call per 512 leases. */
const ID_BYTES = 12;
const ID_POOL = ID_BYTES * 512;
let idPool = Buffer.alloc(0);
let idNext = ID_POOL;

function newLeaseId(): string {
  if (idNext >= ID_POOL) {
    idPool = randomBytes(ID_POOL);
    idNext = 0;
  }
  const id = idPool.toString("hex", idNext, idNext + ID_BYTES);
  idNext += ID_BYTES;
  return id;
}

export interface LeaseTableOptions {
  ttlMs: number;
  maxAttempts: number;
  now?: () => number;
}

export class LeaseTable {
  private readonly entries = new Map<number, Entry>();
  /** Pending units in lease order from `head` on; entries no longer pending (done by replay) are skipped. */
  private queue: number[] = [];
  private head = 0;
  private readonly byLease = new Map<string, number>();
  private readonly count: Record<UnitState, number> = { pending: 0, leased: 0, done: 0, failed: 0 };
  private readonly now: () => number;
  /** No lease deadline is earlier than this: expire() has nothing to do before then. */
  private earliestDeadline = Number.POSITIVE_INFINITY;
  /** Set when the job failed: the unit that exhausted its attempts (none when cancelled), and why. */
  failure?: { unitId?: number; error: string };
  retries = 0;

  constructor(
    unitIds: readonly number[],
    private readonly options: LeaseTableOptions,
  ) {
    this.now = options.now ?? Date.now;
    for (const id of unitIds) {
      this.entries.set(id, { state: "pending", attempts: 0 });
      this.queue.push(id);
    }
    this.count.pending = unitIds.length;
  }

  /** Journal replay: a unit finished by an earlier coordinator of this job (its queue entry is skipped). */
  markDone(unitId: number): void {
    const e = this.entries.get(unitId);
    if (!e || e.state !== "pending") return;
    this.setState(e, "done");
  }

  /** Journal replay: attempts an earlier coordinator of this job already spent on a pending unit. */
  restoreAttempts(unitId: number, attempts: number): void {
    const e = this.entries.get(unitId);
    if (e && e.state === "pending") e.attempts = Math.max(e.attempts, attempts);
  }

  /** The next pending unit; expired leases are requeued by expire(), which the caller runs first. */
  lease(): Grant | undefined {
    if (this.failure) return undefined;
    let unitId: number | undefined;
    let e: Entry | undefined;
    while (this.head < this.queue.length) {
      const id = this.queue[this.head++] as number;
      const entry = this.entries.get(id) as Entry;
      if (entry.state === "pending") {
        unitId = id;
        e = entry;
        break;
      }
    }
    // Drop the taken part of the queue now and then: O(1) per lease, a bounded array.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (unitId === undefined || !e) return undefined;
    this.setState(e, "leased");
    e.attempts++;
    e.leaseId = newLeaseId();
    e.deadline = this.now() + this.options.ttlMs;
    this.earliestDeadline = Math.min(this.earliestDeadline, e.deadline);
    this.byLease.set(e.leaseId, unitId);
    return { unitId, leaseId: e.leaseId, deadline: e.deadline, attempt: e.attempts };
  }

  /** Extends a current lease; undefined when the lease is no longer current. */
  heartbeat(leaseId: string): number | undefined {
    const e = this.current(leaseId);
    if (!e) return undefined;
    e.deadline = this.now() + this.options.ttlMs;
    return e.deadline;
  }

  /** The unit of a current lease, or undefined for a stale one. */
  unitOf(leaseId: string): number | undefined {
    return this.current(leaseId) ? this.byLease.get(leaseId) : undefined;
  }

  /** Returns false (and changes nothing) when the lease is stale. */
  complete(leaseId: string): boolean {
    const e = this.current(leaseId);
    if (!e) return false;
    this.setState(e, "done");
    this.release(leaseId, e);
    return true;
  }

  /**
   * undefined (and nothing changes) when the lease is stale. A transient failure (storage unreachable) hands the
   * unit back without spending the attempt: an outage is not the unit's fault.
   */
  fail(leaseId: string, error: string, retryable: boolean, transient = false): AttemptFailure | undefined {
    const e = this.current(leaseId);
    if (!e) return undefined;
    const unitId = this.byLease.get(leaseId) as number;
    this.release(leaseId, e);
    if (transient) {
      e.attempts = Math.max(0, e.attempts - 1);
      this.setState(e, "pending");
      this.queue.push(unitId);
      return { unitId, attempt: e.attempts, error, requeued: true, transient: true };
    }
    return this.retryOrFail(unitId, e, error, retryable);
  }

  /** Fails the job from outside (cancellation): no more leases, current holders' reports are ignored. */
  cancel(reason: string): void {
    this.failure ??= { error: reason };
  }

  /** Requeues units whose lease deadline passed; returns them. */
  expire(): AttemptFailure[] {
    const now = this.now();
    if (now <= this.earliestDeadline) return [];
    const expired: AttemptFailure[] = [];
    let earliest = Number.POSITIVE_INFINITY;
    for (const [unitId, e] of this.entries) {
      if (e.state !== "leased") continue;
      const deadline = e.deadline as number;
      if (deadline < now) {
        this.release(e.leaseId as string, e);
        expired.push(this.retryOrFail(unitId, e, `lease expired (attempt ${e.attempts})`, true));
      } else {
        earliest = Math.min(earliest, deadline);
      }
    }
    this.earliestDeadline = earliest;
    return expired;
  }

  counts(): Readonly<Record<UnitState, number>> {
    return this.count;
  }

  attemptsOf(unitId: number): number {
    return this.entries.get(unitId)?.attempts ?? 0;
  }

  get size(): number {
    return this.entries.size;
  }

  get finished(): boolean {
    return this.failure !== undefined || this.count.done === this.entries.size;
  }

  private current(leaseId: string): Entry | undefined {
    const unitId = this.byLease.get(leaseId);
    if (unitId === undefined) return undefined;
    const e = this.entries.get(unitId) as Entry;
    return e.state === "leased" && e.leaseId === leaseId ? e : undefined;
  }

  private setState(e: Entry, state: UnitState): void {
    this.count[e.state]--;
    this.count[state]++;
    e.state = state;
  }

  private release(leaseId: string, e: Entry): void {
    this.byLease.delete(leaseId);
    e.leaseId = undefined;
    e.deadline = undefined;
  }

  private retryOrFail(unitId: number, e: Entry, error: string, retryable: boolean): AttemptFailure {
    e.lastError = error;
    if (retryable && e.attempts < this.options.maxAttempts) {
      this.setState(e, "pending");
      this.queue.push(unitId);
      this.retries++;
      return { unitId, attempt: e.attempts, error, requeued: true };
    }
    this.setState(e, "failed");
    this.failure ??= { unitId, error };
    return { unitId, attempt: e.attempts, error, requeued: false };
  }
}
