// Failures every layer raises and every process maps to an exit code: bad input or usage is found before
// anything is written (exit 2); a job that fails while running has cleaned up after itself (exit 1).

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export class JobError extends Error {
  override readonly name = "JobError";
}

/** An input changed since the job was planned: a retry would read the same changed bytes. */
export class ObjectChangedError extends Error {
  override readonly name = "ObjectChangedError";
}

/**
 * Storage stayed unreachable (connection refused or reset, DNS, timeouts, 5xx, throttling) for longer than
 * --storage-timeout. Not a fault of the job's data: a worker hands the unit back without spending an attempt,
 * a coordinator keeps its journal and uploads so that the job resumes when started again.
 */
export class StorageUnavailableError extends Error {
  override readonly name = "StorageUnavailableError";
}

/**
 * This coordinator no longer holds its output's lease (coordinator/outputLease.ts): another one took the job
 * over while this one was paused or cut off. It stops without touching the output, its uploads or the journal.
 */
export class LeaseLostError extends Error {
  override readonly name = "LeaseLostError";
}

/** A unit failure a retry cannot fix (the job's non-finite policy). */
export class PermanentUnitError extends Error {
  override readonly name = "PermanentUnitError";
}

export function exitCodeFor(error: unknown): number {
  return error instanceof UsageError ? 2 : 1;
}
