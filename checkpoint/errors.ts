// Two kinds of failure, two exit codes: bad input or usage is found before anything is written
// (exit 2); a job that fails while running has cleaned up after itself (exit 1).

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export class JobError extends Error {
  override readonly name = "JobError";
}

export function exitCodeFor(error: unknown): number {
  return error instanceof UsageError ? 2 : 1;
}
