// Planner invariants: units tile every output byte exactly once, cuts fall on element boundaries,
// part sizes and counts respect the object store's limits, and every base read points at the
// same tensor's bytes in the base checkpoint's own layout.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { pairTensors } from "../../../checkpoint/pairTensors.js";
import type { Checkpoint, TensorInfo } from "../../../checkpoint/types.js";
import { ITEMSIZE } from "../../../core/dtypes.js";
import type { JobSpec } from "../../../core/jobSpec.js";
import type { JobPlan, RangeRead } from "../../../core/plan.js";
import {
  type LayoutTensor,
  layoutCheckpoint,
  llama70bTensors,
  shardEvenly,
} from "../../../harness/layoutCheckpoint.js";
import { planJob } from "../../../plan/planJob.js";
import type { StorageLimits } from "../../../storage/types.js";

const MiB = 1024 * 1024;
const S3_LIMITS: StorageLimits = { minPartSize: 5 * MiB, maxPartSize: 5 * 1024 * MiB, maxParts: 10_000 };
const NO_LIMITS: StorageLimits = { minPartSize: 0, maxPartSize: Number.MAX_SAFE_INTEGER, maxParts: 1e6 };

function spec(overrides: Partial<JobSpec> = {}): JobSpec {
  return {
    base: "/b",
    aligned: "/a",
    alphas: [0.3],
    outs: ["/o"],
    arith: "fp32",
    unitSize: 64 * MiB,
    include: [],
    exclude: [],
    drop: [],
    outDtype: null,
    alphaRules: [],
    onNonfinite: "error",
    overwrite: false,
    ...overrides,
  };
}

function plan(aligned: Checkpoint, base: Checkpoint, s: JobSpec, limits: StorageLimits): JobPlan {
  return planJob({ spec: s, aligned, base, pairing: pairTensors(aligned, base), limits });
}

/** Asserts every invariant the workers and the finalizer rely on. */
function checkInvariants(p: JobPlan, aligned: Checkpoint, base: Checkpoint, s: JobSpec, limits: StorageLimits): void {
  const minPart = Math.max(s.unitSize, limits.minPartSize);
  for (const shardPlan of p.shards) {
    const shard = aligned.shards.find((x) => x.file === shardPlan.file);
    assert.ok(shard);
    const units = shardPlan.unitIds.map((id) => p.units[id]);
    assert.ok(units.length <= limits.maxParts, "part count within the limit");
    let expected = 0;
    for (const [i, u] of units.entries()) {
      assert.ok(u);
      assert.equal(u.partNumber, i + 1, "parts numbered 1..n");
      assert.equal(u.dataStart, expected, "units are contiguous: no gap, no overlap");
      assert.ok(u.dataEnd > u.dataStart);
      // The output keeps the aligned layout: one aligned read of the same bytes, computed in place.
      assert.deepEqual(u.alignedReads, [
        { file: shard.file, offset: shard.dataStart + u.dataStart, length: u.dataEnd - u.dataStart, bufferOffset: 0 },
      ]);
      assert.equal(u.inPlace, true);
      const size =
        u.dataEnd -
        u.dataStart +
        (u.partNumber === 1 ? (p.outputs[0]?.shards.find((o) => o.file === u.shard)?.header.length ?? 0) : 0);
      assert.ok(size <= limits.maxPartSize, "part within the max part size");
      if (i < units.length - 1)
        assert.ok(
          u.dataEnd - u.dataStart >= Math.min(minPart, shard.dataLength),
          "all parts but the last at least the minimum",
        );
      // Cuts on element boundaries of the tensor being cut.
      for (const cut of [u.dataStart, u.dataEnd]) {
        const t: TensorInfo | undefined = shard.tensors.find((x) => x.begin < cut && cut < x.end);
        if (t)
          assert.equal(
            (cut - t.begin) % (ITEMSIZE[t.dtype] as number),
            0,
            `cut at ${cut} inside ${t.name} is element-aligned`,
          );
      }
      // Segments cover the unit exactly, in order, and match the tensors' byte ranges.
      let at = 0;
      for (const seg of u.segments) {
        assert.equal(seg.offset, at);
        assert.equal(seg.alignedOffset, seg.offset);
        const t: TensorInfo | undefined = shard.tensors.find((x) => x.name === seg.tensor);
        assert.ok(t);
        const item = ITEMSIZE[t.dtype] as number;
        assert.equal(u.dataStart + seg.offset, t.begin + seg.elemStart * item);
        at += seg.count * item;
        if (seg.action === "extrapolate") {
          const b = base.tensors.get(seg.tensor);
          assert.ok(b);
          const want = b.shard.dataStart + b.tensor.begin + seg.elemStart * item;
          const read: RangeRead | undefined = u.baseReads.find(
            (r) => r.bufferOffset <= seg.baseOffset && seg.baseOffset + seg.count * item <= r.bufferOffset + r.length,
          );
          assert.ok(read, "segment's base bytes lie inside one read");
          assert.equal(read.file, b.shard.file);
          assert.equal(read.offset + (seg.baseOffset - read.bufferOffset), want, `base bytes of ${seg.tensor}`);
        } else {
          assert.equal(seg.baseOffset, -1);
        }
      }
      assert.equal(at, u.dataEnd - u.dataStart, "segments cover the unit");
      // Reads are coalesced: no two reads of one file are adjacent.
      for (const [j, r] of u.baseReads.entries()) {
        for (const q of u.baseReads.slice(j + 1))
          assert.ok(!(q.file === r.file && (q.offset === r.offset + r.length || r.offset === q.offset + q.length)));
      }
      expected = u.dataEnd;
    }
    assert.equal(expected, shard.dataLength, "units cover the whole data section");
  }
}

const dtypeArb = fc.constantFrom("BF16", "F16", "F32", "F64", "I64", "U8", "BOOL", "I32");
const layoutArb = fc.array(
  fc.record({ dtype: dtypeArb, shape: fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 3 }) }),
  { minLength: 1, maxLength: 30 },
);

describe("planJob", () => {
  it("tiles generated layouts exactly, with element-aligned cuts, for any unit size", () => {
    fc.assert(
      fc.property(
        layoutArb,
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 64, max: 5000 }),
        (ts, na, nb, unitSize) => {
          const tensors: LayoutTensor[] = ts.map((t, i) => ({ name: `t${i}`, ...t }));
          const aligned = layoutCheckpoint("/a", shardEvenly(tensors, na));
          const base = layoutCheckpoint("/b", shardEvenly([...tensors].reverse(), nb));
          const s = spec({ unitSize, alphas: [0.3, 0.5], outs: ["/o1", "/o2"] });
          checkInvariants(plan(aligned, base, s, NO_LIMITS), aligned, base, s, NO_LIMITS);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("plans a Llama-3-70B-shaped pair (30 shards vs 29) within S3 limits", () => {
    const tensors = llama70bTensors();
    const aligned = layoutCheckpoint("/a", shardEvenly(tensors, 30));
    const base = layoutCheckpoint("/b", shardEvenly(tensors, 29));
    assert.equal(aligned.shards.length, 30);
    const total = aligned.shards.reduce((n, s) => n + s.dataLength, 0);
    assert.ok(total > 140e9 && total < 142e9, `70B in bf16 is ~141 GB (got ${total})`);
    const s = spec();
    const p = plan(aligned, base, s, S3_LIMITS);
    checkInvariants(p, aligned, base, s, S3_LIMITS);
    assert.equal(p.bytes.alignedRead, total);
    assert.equal(p.bytes.baseRead, total, "every base byte read exactly once");
    assert.ok(p.units.length >= Math.floor(total / (64 * MiB)) && p.units.length <= Math.ceil(total / (64 * MiB)) + 30);
    assert.equal(p.tensors.extrapolated, tensors.length);
  });

  it("raises the unit size when a shard would need more than 10,000 parts", () => {
    const tensors = llama70bTensors();
    const aligned = layoutCheckpoint("/a", shardEvenly(tensors, 2));
    const s = spec({ unitSize: 5 * MiB });
    const p = plan(aligned, aligned, s, S3_LIMITS);
    checkInvariants(p, aligned, aligned, { ...s, unitSize: 5 * MiB }, S3_LIMITS);
    for (const sh of p.shards) assert.ok(sh.unitIds.length <= 10_000 && sh.unitIds.length > 9_000);
  });

  it("raises a unit size below the store's 5 MiB minimum part size", () => {
    const tensors: LayoutTensor[] = [{ name: "w", dtype: "BF16", shape: [20, MiB] }];
    const aligned = layoutCheckpoint("/a", [{ file: "m.safetensors", tensors }]);
    const p = plan(aligned, aligned, spec({ unitSize: MiB }), S3_LIMITS);
    assert.equal(p.units.length, 8);
    assert.ok(p.units.slice(0, -1).every((u) => u.dataEnd - u.dataStart === 5 * MiB));
  });

  it("with K alphas, one unit carries K alphas per segment and plans K outputs", () => {
    const tensors: LayoutTensor[] = [
      { name: "a", dtype: "BF16", shape: [100] },
      { name: "b", dtype: "I64", shape: [3] },
    ];
    const c = layoutCheckpoint("/a", [{ file: "m.safetensors", tensors }]);
    const p = plan(c, c, spec({ alphas: [0.1, 0.3, 0.5], outs: ["/1", "/2", "/3"] }), NO_LIMITS);
    assert.equal(p.outputs.length, 3);
    assert.deepEqual(p.units[0]?.segments[0]?.alphas, [0.1, 0.3, 0.5]);
    assert.equal(p.units[0]?.segments[1]?.action, "copy");
    assert.notDeepEqual(
      p.outputs[0]?.shards[0]?.header,
      p.outputs[1]?.shards[0]?.header,
      "each output's header names its alpha",
    );
  });

  it("applies --include, --exclude and --alpha-rule (first match wins, 0 copies)", () => {
    const names = [
      "model.embed_tokens.weight",
      "model.layers.0.mlp.up_proj.weight",
      "model.layers.0.self_attn.q_proj.weight",
      "lm_head.weight",
    ];
    const c = layoutCheckpoint("/a", [
      { file: "m.safetensors", tensors: names.map((name) => ({ name, dtype: "BF16", shape: [4] })) },
    ]);
    const actions = (s: JobSpec) =>
      Object.fromEntries(
        plan(c, c, s, NO_LIMITS).units[0]?.segments.map((g) => [
          g.tensor,
          g.action === "copy" ? "copy" : g.alphas[0],
        ]) ?? [],
      );
    assert.deepEqual(
      actions(
        spec({
          alphaRules: [
            { pattern: "model.embed_tokens.*", alpha: 0 },
            { pattern: "*.mlp.*", alpha: 0.1 },
            { pattern: "*", alpha: 0.9 },
          ],
        }),
      ),
      {
        "model.embed_tokens.weight": "copy",
        "model.layers.0.mlp.up_proj.weight": 0.1,
        "model.layers.0.self_attn.q_proj.weight": 0.9,
        "lm_head.weight": 0.9,
      },
    );
    assert.deepEqual(actions(spec({ exclude: ["lm_head.*"], include: ["model.*"] })), {
      "model.embed_tokens.weight": 0.3,
      "model.layers.0.mlp.up_proj.weight": 0.3,
      "model.layers.0.self_attn.q_proj.weight": 0.3,
      "lm_head.weight": "copy",
    });
  });
});
