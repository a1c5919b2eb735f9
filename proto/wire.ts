// The coordinator protocol's messages as the protobufjs plain objects of serviceDefinitions.ts, and
// their conversion to and from the LeaseService types. Work units and unit reports have the same
// shape on both sides; the rest differs in small ways (a oneof, enums, empty strings for absent).
import type { JobContext, JobState, JobStatus, LeaseReply, UnitReport } from "../core/leaseService.js";
import type { WorkUnit } from "../core/plan.js";

export interface WireJobContext {
  jobId: string;
  base: string;
  aligned: string;
  arith: string;
  onNonfinite: string;
  outputs: Array<{ location: string; shards: Record<string, { uploadId: string; header: Buffer }> }>;
  maxUnitBytes: number;
  maxAlignedBytes: number;
  maxBaseBytes: number;
  inPlace: boolean;
  baseVersions: Record<string, string>;
  alignedVersions: Record<string, string>;
  leaseTtlMs: number;
}

export interface WireLeaseReply {
  reply?: "unit" | "wait" | "done" | "failed";
  unit?: { leaseId: string; unit: WorkUnit; deadline: number; attempt: number };
  wait?: { retryMs: number };
  done?: Record<string, never>;
  failed?: { error: string };
}

export interface WireStatus {
  jobId: string;
  state: number;
  error: string;
  units: { pending: number; leased: number; done: number; failed: number; total: number };
  bytesRead: number;
  bytesWritten: number;
  retries: number;
  workers: number;
}

export interface WireUnitReport extends Omit<UnitReport, "parts"> {
  parts: Array<Omit<UnitReport["parts"][number], "checksumSha256"> & { checksumSha256: string }>;
}

const STATES: JobState[] = ["running", "finalizing", "done", "failed"];

export function stateToWire(state: JobState): number {
  return STATES.indexOf(state) + 1;
}

export function stateFromWire(state: number): JobState | undefined {
  return STATES[state - 1];
}

export function jobContextToWire(c: JobContext): WireJobContext {
  const { inputVersions, ...rest } = c;
  return { ...rest, baseVersions: inputVersions.base, alignedVersions: inputVersions.aligned };
}

export function jobContextFromWire(w: WireJobContext): JobContext {
  const { baseVersions, alignedVersions, arith, onNonfinite, ...rest } = w;
  if (arith !== "fp32" && arith !== "torch") throw new Error(`coordinator sent an unknown arith '${arith}'`);
  if (onNonfinite !== "error" && onNonfinite !== "warn")
    throw new Error(`coordinator sent on_nonfinite '${onNonfinite}'`);
  return { ...rest, arith, onNonfinite, inputVersions: { base: baseVersions, aligned: alignedVersions } };
}

export function leaseReplyToWire(r: LeaseReply): WireLeaseReply {
  switch (r.kind) {
    case "unit":
      return { unit: { leaseId: r.leaseId, unit: r.unit, deadline: r.deadline, attempt: r.attempt } };
    case "wait":
      return { wait: { retryMs: r.retryMs } };
    case "done":
      return { done: {} };
    case "failed":
      return { failed: { error: r.error } };
  }
}

export function leaseReplyFromWire(w: WireLeaseReply): LeaseReply {
  if (w.reply === "unit" && w.unit) return { kind: "unit", ...w.unit };
  if (w.reply === "wait" && w.wait) return { kind: "wait", retryMs: w.wait.retryMs };
  if (w.reply === "done") return { kind: "done" };
  if (w.reply === "failed" && w.failed) return { kind: "failed", error: w.failed.error };
  throw new Error("coordinator sent an empty lease reply");
}

export function reportToWire(r: UnitReport): WireUnitReport {
  return { ...r, parts: r.parts.map((p) => ({ ...p, checksumSha256: p.checksumSha256 ?? "" })) };
}

export function reportFromWire(w: WireUnitReport): UnitReport {
  return {
    ...w,
    parts: w.parts.map(({ checksumSha256, ...p }) => (checksumSha256 === "" ? p : { ...p, checksumSha256 })),
  };
}

export function statusToWire(s: JobStatus): WireStatus {
  return { ...s, state: stateToWire(s.state), error: s.error ?? "" };
}

export function statusFromWire(w: WireStatus): JobStatus {
  const { error, state, ...rest } = w;
  return { ...rest, state: stateFromWire(state) ?? "running", ...(error === "" ? {} : { error }) };
}
