// The transport-neutral contract between coordinator and workers. The worker's calls travel as
// gRPC (proto/llm_expo/v1/coordinator.proto); tests may also call a Coordinator directly.
import type { Arith } from "./dtypes.js";
import type { NonfinitePolicy } from "./jobSpec.js";
import type { WorkUnit } from "./plan.js";
import type { SegmentStats } from "./statistics.js";

/** Where a unit stands in the coordinator's lease table. */
export type UnitState = "pending" | "leased" | "done" | "failed";

/** What a worker needs to know about the job, fetched once. */
export interface JobContext {
  /** The job's identity (spec and input versions); a restarted coordinator of the same job keeps it. */
  jobId: string;
  base: string;
  aligned: string;
  arith: Arith;
  onNonfinite: NonfinitePolicy;
  outputs: Array<{
    location: string;
    /** Per output shard file: the multipart upload id and the serialized header (carried by part 1). */
    shards: Record<string, { uploadId: string; header: Buffer }>;
  }>;
  /** Largest output range, aligned buffer and base buffer of any unit (the plan's). */
  maxUnitBytes: number;
  maxAlignedBytes: number;
  maxBaseBytes: number;
  /** Every unit is computed in place: with one α no separate output buffer is needed. */
  inPlace: boolean;
  inputVersions: { base: Record<string, string>; aligned: Record<string, string> };
  /** Heartbeat well within this. */
  leaseTtlMs: number;
}

export type LeaseReply =
  | { kind: "unit"; leaseId: string; unit: WorkUnit; deadline: number; attempt: number }
  | { kind: "wait"; retryMs: number }
  | { kind: "done" }
  | { kind: "failed"; error: string };

/** running: units are leased; finalizing: every unit is done, the output is being committed. */
export type JobState = "running" | "finalizing" | "done" | "failed";

export interface JobStatus {
  jobId: string;
  state: JobState;
  error?: string;
  units: Record<UnitState | "total", number>;
  bytesRead: number;
  bytesWritten: number;
  retries: number;
  /** Workers heard from within two lease TTLs. */
  workers: number;
}

export interface PartReport {
  output: number;
  partNumber: number;
  etag: string;
  /** The server-side part checksum (base64 SHA-256), where the store keeps one. */
  checksumSha256?: string;
  sha256: string;
  offset: number;
  size: number;
}

export interface UnitReport {
  unitId: number;
  /** Statistics of the unit's extrapolated segments, in segment order. */
  segments: Array<{ tensor: string; stats: SegmentStats }>;
  parts: PartReport[];
  bytes: { aligned: number; base: number; written: number };
  seconds: { fetch: number; compute: number; upload: number };
}

export interface CompleteResult {
  accepted: boolean;
  next?: LeaseReply;
}

export interface CompleteRequest {
  workerId: string;
  leaseId: string;
  report: UnitReport;
  /** Ask for the worker's next lease in the same round trip. */
  leaseNext: boolean;
}

export interface FailRequest {
  workerId: string;
  leaseId: string;
  error: string;
  /** false when a retry cannot help (the non-finite policy, a changed input): the job fails at once. */
  retryable: boolean;
  /**
   * The worker gave up on storage that stayed unreachable (--storage-timeout): the unit goes back to the queue
   * without spending an attempt. Absent (older workers) counts as false.
   */
  transient?: boolean;
}

export interface LeaseService {
  describeJob(workerId: string): Promise<JobContext>;
  lease(workerId: string): Promise<LeaseReply>;
  /** false when the lease is no longer current (the unit was re-leased). */
  heartbeat(leaseId: string, workerId: string): Promise<boolean>;
  /**
   * accepted: false when the report was ignored (the lease is no longer current). With leaseNext, `next`
   * is the worker's next lease, as lease() would answer: one round trip per unit in steady state.
   */
  complete(request: CompleteRequest): Promise<CompleteResult>;
  /** false when the lease is no longer current (the failure is ignored). */
  fail(request: FailRequest): Promise<boolean>;
}
