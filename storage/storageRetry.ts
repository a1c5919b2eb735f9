// The one retry policy of every storage operation in a process (storage/retryingStorage.ts applies it): a
// failure that an outage explains (isRetryable) is tried again with capped exponential backoff and jitter, for
// up to the storage timeout counted from that operation's first failure; then it fails with
// StorageUnavailableError. Anything else fails at once. The process's outage is tracked here: it starts when an
// operation first has to retry and ends when no operation is retrying any more, so an observer hears one line
// at each end however many operations wait it out.
import { setTimeout as sleep } from "node:timers/promises";
import { StorageUnavailableError } from "../core/errors.js";
import { isRetryable } from "./isRetryable.js";

/** What a retried call was doing: the label of the retry metrics. */
export type StorageOperation =
  | "list"
  | "stat"
  | "read"
  | "read_small"
  | "write_small"
  | "create_upload"
  | "write_part"
  | "complete_upload"
  | "abort_upload"
  | "list_uploads"
  | "delete"
  | "check"
  | "journal_read"
  | "journal_append"
  | "journal_compact"
  | "journal_remove";

export const STORAGE_OPERATIONS: readonly StorageOperation[] = [
  "list",
  "stat",
  "read",
  "read_small",
  "write_small",
  "create_upload",
  "write_part",
  "complete_upload",
  "abort_upload",
  "list_uploads",
  "delete",
  "check",
  "journal_read",
  "journal_append",
  "journal_compact",
  "journal_remove",
];

export interface StorageRetryObserver {
  /** The first operation that has to retry: the process's outage starts. */
  outageStarted?(event: { operation: StorageOperation; where: string; error: Error; timeoutMs: number }): void;
  /** Every retry, after a failure isRetryable() accepts. */
  retrying?(event: { operation: StorageOperation; where: string; error: Error; delayMs: number }): void;
  /** No operation is retrying any more: storage answered again (recovered) or the last one gave up. */
  outageEnded?(event: { seconds: number; retries: number; recovered: boolean }): void;
}

export interface StorageRetryOptions {
  /** How long one operation keeps trying after its first failure. */
  timeoutMs: number;
  observer?: StorageRetryObserver;
  /** For the policy's own tests: time, waiting and jitter under the test's control. */
  clock?: { now(): number; sleep(ms: number): Promise<void>; random(): number };
}

const FIRST_DELAY_MS = 100;
/** Backoff cap: an outage that ends is noticed within a few seconds, a long one costs a request per 5 s. */
const MAX_DELAY_MS = 5000;

export class StorageRetry {
  readonly timeoutMs: number;
  private readonly observer: StorageRetryObserver;
  private readonly clock: NonNullable<StorageRetryOptions["clock"]>;
  private readonly counts = new Map<StorageOperation, number>(STORAGE_OPERATIONS.map((o) => [o, 0]));
  /** Operations between their first retryable failure and their end. */
  private retrying = 0;
  private outageStart?: number;
  private outageRetries = 0;
  private outageEndedMs = 0;

  constructor(options: StorageRetryOptions) {
    this.timeoutMs = options.timeoutMs;
    this.observer = options.observer ?? {};
    this.clock = options.clock ?? { now: Date.now, sleep: (ms) => sleep(ms), random: Math.random };
  }

  /** Whether some operation of this process is waiting out a storage failure right now. */
  get inOutage(): boolean {
    return this.retrying > 0;
  }

  /** Retries so far, by operation (every operation present, 0 when none). */
  retries(): ReadonlyMap<StorageOperation, number> {
    return this.counts;
  }

  /** Seconds this process has spent in outages, the current one included. */
  outageSeconds(): number {
    const current = this.outageStart === undefined ? 0 : this.clock.now() - this.outageStart;
    return (this.outageEndedMs + current) / 1000;
  }

  async run<T>(operation: StorageOperation, where: string, attempt: () => Promise<T>): Promise<T> {
    let firstFailure: number | undefined;
    let gaveUp = false;
    try {
      for (let retry = 0; ; retry++) {
        try {
          return await attempt();
        } catch (e) {
          if (!isRetryable(e)) throw e;
          const error = e instanceof Error ? e : new Error(String(e));
          const now = this.clock.now();
          if (firstFailure === undefined) {
            firstFailure = now;
            this.enter(operation, where, error);
          }
          const left = firstFailure + this.timeoutMs - now;
          if (left <= 0) {
            gaveUp = true;
            throw new StorageUnavailableError(
              `storage unreachable for ${Math.round((now - firstFailure) / 1000)} s (--storage-timeout ${Math.round(this.timeoutMs / 1000)} s): ${error.message}`,
            );
          }
          const backoff = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(retry, 16));
          const delayMs = Math.min(left, backoff * (0.5 + this.clock.random() / 2));
          this.counts.set(operation, (this.counts.get(operation) ?? 0) + 1);
          this.outageRetries++;
          this.observer.retrying?.({ operation, where, error, delayMs });
          await this.clock.sleep(delayMs);
        }
      }
    } finally {
      if (firstFailure !== undefined) this.leave(!gaveUp);
    }
  }

  private enter(operation: StorageOperation, where: string, error: Error): void {
    if (this.retrying++ > 0) return;
    this.outageStart = this.clock.now();
    this.outageRetries = 0;
    this.observer.outageStarted?.({ operation, where, error, timeoutMs: this.timeoutMs });
  }

  private leave(recovered: boolean): void {
    if (--this.retrying > 0) return;
    const ms = this.clock.now() - (this.outageStart ?? this.clock.now());
    this.outageStart = undefined;
    this.outageEndedMs += ms;
    this.observer.outageEnded?.({ seconds: ms / 1000, retries: this.outageRetries, recovered });
  }
}
