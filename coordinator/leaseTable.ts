// Who holds which unit. A lease expires unless heartbeated; an expired unit goes back to the
// queue; a Complete or Fail for a lease that is no longer current is ignored, so a worker that was
// paused past its deadline cannot overwrite the bookkeeping of the unit's new holder.
import { randomBytes } from "node:crypto";

export type UnitState = "pending" | "leased" | "done" | "failed";

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

export interface LeaseTableOptions {
  ttlMs: number;
  maxAttempts: number;
  now?: () => number;
}

export class LeaseTable {
  private readonly entries = new Map<number, Entry>();
  private readonly queue: number[] = [];
  private readonly byLease = new Map<string, number>();
  private readonly now: () => number;
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
  }

  /** Marks units finished in an earlier run (journal replay). */
  markDone(unitId: number): void {
    const e = this.entries.get(unitId);
    if (!e) return;
    e.state = "done";
    const i = this.queue.indexOf(unitId);
    if (i >= 0) this.queue.splice(i, 1);
  }

  lease(): Grant | undefined {
    this.expire();
    if (this.failure) return undefined;
    const unitId = this.queue.shift();
    if (unitId === undefined) return undefined;
    const e = this.entries.get(unitId) as Entry;
    e.state = "leased";
    e.attempts++;
    e.leaseId = randomBytes(12).toString("hex");
    e.deadline = this.now() + this.options.ttlMs;
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
    e.state = "done";
    this.release(leaseId, e);
    return true;
  }

  fail(leaseId: string, error: string, retryable: boolean): boolean {
    const e = this.current(leaseId);
    if (!e) return false;
    const unitId = this.byLease.get(leaseId) as number;
    this.release(leaseId, e);
    this.retryOrFail(unitId, e, error, retryable);
    return true;
  }

  /** Fails the job from outside (cancellation): no more leases, current holders' reports are ignored. */
  cancel(reason: string): void {
    this.failure ??= { error: reason };
  }

  /** Requeues units whose lease deadline passed. */
  expire(): void {
    const now = this.now();
    for (const [unitId, e] of this.entries) {
      if (e.state === "leased" && (e.deadline as number) < now) {
        this.release(e.leaseId as string, e);
        this.retryOrFail(unitId, e, `lease expired (attempt ${e.attempts})`, true);
      }
    }
  }

  counts(): Record<UnitState, number> {
    const c: Record<UnitState, number> = { pending: 0, leased: 0, done: 0, failed: 0 };
    for (const e of this.entries.values()) c[e.state]++;
    return c;
  }

  attemptsOf(unitId: number): number {
    return this.entries.get(unitId)?.attempts ?? 0;
  }

  get finished(): boolean {
    return this.failure !== undefined || this.counts().done === this.entries.size;
  }

  private current(leaseId: string): Entry | undefined {
    const unitId = this.byLease.get(leaseId);
    if (unitId === undefined) return undefined;
    const e = this.entries.get(unitId) as Entry;
    return e.state === "leased" && e.leaseId === leaseId ? e : undefined;
  }

  private release(leaseId: string, e: Entry): void {
    this.byLease.delete(leaseId);
    e.leaseId = undefined;
    e.deadline = undefined;
  }

  private retryOrFail(unitId: number, e: Entry, error: string, retryable: boolean): void {
    e.lastError = error;
    if (retryable && e.attempts < this.options.maxAttempts) {
      e.state = "pending";
      this.queue.push(unitId);
      this.retries++;
      return;
    }
    e.state = "failed";
    this.failure ??= { unitId, error };
  }
}
