// The transport-neutral contract between coordinator and workers. In one process the worker
// calls the coordinator directly; over the network the same calls travel as gRPC.
import type { Arith, SegmentStats } from "../kernel/types.js";
import type { WorkUnit } from "./plan.js";

/** What a worker needs to know about the job, fetched once. */
export interface JobContext {
  base: string;
  aligned: string;
  arith: Arith;
  onNonfinite: "error" | "warn";
  outputs: Array<{
    location: string;
    /** Per output shard file: the multipart upload id and the serialized header (carried by part 1). */
    shards: Record<string, { uploadId: string; header: Buffer }>;
  }>;
  maxUnitBytes: number;
  maxBaseBytes: number;
  inputVersions: { base: Record<string, string>; aligned: Record<string, string> };
  /** Heartbeat well within this. */
  leaseTtlMs: number;
}

export type LeaseReply =
  | { kind: "unit"; leaseId: string; unit: WorkUnit; deadline: number; attempt: number }
  | { kind: "wait"; retryMs: number }
  | { kind: "done" }
  | { kind: "failed"; error: string };

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

export interface LeaseService {
  describeJob(): Promise<JobContext>;
  lease(workerId: string): Promise<LeaseReply>;
  /** false when the lease is no longer current (the unit was re-leased). */
  heartbeat(leaseId: string): Promise<boolean>;
  complete(leaseId: string, report: UnitReport): Promise<void>;
  fail(leaseId: string, error: string, retryable: boolean): Promise<void>;
}
