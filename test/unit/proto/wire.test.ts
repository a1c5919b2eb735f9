// Every message of the lease protocol through the real protobuf encoding (the service definitions built from
// proto/) and back: what a worker receives is what the coordinator sent, field for field, including the edge
// values (64-bit sizes near 2^53, -1 base offsets, NaN-free doubles, absent optional checksums, every reply kind).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { JobContext, JobStatus, LeaseReply, UnitReport } from "../../../core/leaseService.js";
import type { WorkUnit } from "../../../core/plan.js";
import { coordinatorDefinition } from "../../../proto/serviceDefinitions.js";
import {
  jobContextFromWire,
  jobContextToWire,
  leaseReplyFromWire,
  leaseReplyToWire,
  reportFromWire,
  reportToWire,
  statusFromWire,
  statusToWire,
  type WireJobContext,
  type WireLeaseReply,
  type WireStatus,
  type WireUnitReport,
} from "../../../proto/wire.js";

/** Encodes a value as method's reply (or request) bytes and decodes it the way the other side does. */
function viaReply<T>(method: string, value: unknown): T {
  const m = coordinatorDefinition[method];
  if (!m) throw new Error(`no method ${method}`);
  return m.responseDeserialize(m.responseSerialize(value)) as T;
}
function viaRequest<T>(method: string, value: unknown): T {
  const m = coordinatorDefinition[method];
  if (!m) throw new Error(`no method ${method}`);
  return m.requestDeserialize(m.requestSerialize(value)) as T;
}

const BIG = 2 ** 53 - 1;

const unit: WorkUnit = {
  id: 7,
  shard: "model-00002-of-00003.safetensors",
  partNumber: 3,
  dataStart: BIG - 1000,
  dataEnd: BIG - 8,
  alignedReads: [
    { file: "pytorch_model-00002-of-00003.bin", offset: BIG - 9000, length: 96, bufferOffset: 0 },
    { file: "pytorch_model-00002-of-00003.bin", offset: BIG - 500, length: 416, bufferOffset: 96 },
  ],
  alignedLength: 512,
  inPlace: false,
  segments: [
    {
      tensor: "x.weight",
      action: "extrapolate",
      dtype: "BF16",
      baseDtype: "F32",
      outDtype: "BF16",
      elemStart: 5,
      count: 96,
      offset: 0,
      alignedOffset: 96,
      baseOffset: 12,
      alphas: [0.3, 1e-9],
    },
    {
      tensor: "norm.weight",
      action: "convert",
      dtype: "F32",
      baseDtype: "F32",
      outDtype: "BF16",
      elemStart: 0,
      count: 24,
      offset: 192,
      alignedOffset: 0,
      baseOffset: -1,
      alphas: [],
    },
    {
      tensor: "steps",
      action: "copy",
      dtype: "I64",
      baseDtype: "I64",
      outDtype: "I64",
      elemStart: 0,
      count: 4,
      offset: 240,
      alignedOffset: 480,
      baseOffset: -1,
      alphas: [],
    },
  ],
  baseReads: [{ file: "model-00001-of-00002.safetensors", offset: BIG - 4096, length: 396, bufferOffset: 0 }],
  baseLength: 396,
};

describe("wire", () => {
  it("a unit report, with and without server-side part checksums", () => {
    const report: UnitReport = {
      unitId: 7,
      segments: [
        {
          tensor: "x.weight",
          stats: {
            sumA2: 1.5e300,
            sumB2: 0,
            sumD2: 5e-324,
            sumOut2: [1, 2.5],
            maxAbsDiff: 0.125,
            nonfiniteInputs: 3,
            nonfiniteOutputs: BIG,
          },
        },
      ],
      parts: [
        { output: 0, partNumber: 3, etag: '"abc"', checksumSha256: "q1==", sha256: "ff", offset: BIG - 1, size: 1 },
        { output: 1, partNumber: 3, etag: "", sha256: "00", offset: 0, size: 0 },
      ],
      bytes: { aligned: BIG, base: 0, written: 2 },
      seconds: { fetch: 0.001, compute: 1e-7, upload: 30 },
    };
    const wire = viaRequest<{ report: WireUnitReport; leaseNext: boolean }>("Complete", {
      leaseId: "L",
      workerId: "w",
      report: reportToWire(report),
      leaseNext: true,
    });
    assert.equal(wire.leaseNext, true);
    assert.deepEqual(reportFromWire(wire.report), report);
  });

  it("every kind of lease reply", () => {
    const replies: LeaseReply[] = [
      { kind: "unit", leaseId: "abc", unit, deadline: 1_800_000_000_000, attempt: 2 },
      { kind: "wait", retryMs: 250 },
      { kind: "done" },
      { kind: "failed", error: "unit 3 failed after 3 attempt(s): disk on fire" },
    ];
    for (const r of replies)
      assert.deepEqual(leaseReplyFromWire(viaReply<WireLeaseReply>("Lease", leaseReplyToWire(r))), r);
    assert.throws(() => leaseReplyFromWire({}), /empty lease reply/);
  });

  it("the job context, headers as bytes, versions as maps", () => {
    const job: JobContext = {
      jobId: "0123456789abcdef01234567",
      base: "s3://models/sft",
      aligned: "/data/dpo",
      arith: "torch",
      onNonfinite: "warn",
      outputs: [
        {
          location: "s3://out/expo-0.3",
          shards: { "model.safetensors": { uploadId: "u-1", header: Buffer.from([8, 0, 0, 0, 0, 0, 0, 0, 123, 125]) } },
        },
      ],
      maxUnitBytes: BIG,
      maxAlignedBytes: BIG - 1,
      maxBaseBytes: 1,
      inPlace: true,
      inputVersions: { base: { "a.safetensors": '"etag-1"' }, aligned: { "b.safetensors": "12-34-56" } },
      leaseTtlMs: 60_000,
    };
    const back = jobContextFromWire(viaReply<WireJobContext>("DescribeJob", jobContextToWire(job)));
    assert.deepEqual(
      { ...back, outputs: back.outputs.map((o) => ({ ...o, shards: { ...o.shards } })) },
      { ...job, outputs: job.outputs.map((o) => ({ ...o, shards: { ...o.shards } })) },
    );
    assert.throws(() => jobContextFromWire({ ...jobContextToWire(job), arith: "bf16" }), /unknown arith 'bf16'/);
  });

  it("the job status in every state, with and without an error", () => {
    for (const state of ["running", "finalizing", "done", "failed"] as const) {
      const status: JobStatus = {
        jobId: "j",
        state,
        ...(state === "failed" ? { error: "why" } : {}),
        units: { pending: 1, leased: 2, done: 3, failed: 0, total: 6 },
        bytesRead: BIG,
        bytesWritten: 0,
        retries: 4,
        workers: 2,
      };
      assert.deepEqual(statusFromWire(viaReply<WireStatus>("Status", statusToWire(status))), status);
    }
  });
});
