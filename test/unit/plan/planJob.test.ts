// Planner invariants: units tile every output byte exactly once, cuts fall on element boundaries,
// part sizes and counts respect the object store's limits, and every base read points at the
// same tensor's bytes in the base checkpoint's own layout.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { pairTensors } from "../../../checkpoint/pairTensors.js";
import type { Checkpoint, TensorInfo } from "../../../checkpoint/types.js";
import { ITEMSIZE } from "../../../core/dtypes.js";
import { type JobSpec, jobSpecWith } from "../../../core/jobSpec.js";
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
  return jobSpecWith({ base: "/b", aligned: "/a", alphas: [0.3], outs: ["/o"], unitSize: 64 * MiB, ...overrides });
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
    const units = shardPlan.unitIds.map((id) => p.units.get(id));
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
    assert.ok([...p.units].slice(0, -1).every((u) => u.dataEnd - u.dataStart === 5 * MiB));
  });

  it("with K alphas, one unit carries K alphas per segment and plans K outputs", () => {
    const tensors: LayoutTensor[] = [
      { name: "a", dtype: "BF16", shape: [100] },
      { name: "b", dtype: "I64", shape: [3] },
    ];
    const c = layoutCheckpoint("/a", [{ file: "m.safetensors", tensors }]);
    const p = plan(c, c, spec({ alphas: [0.1, 0.3, 0.5], outs: ["/1", "/2", "/3"] }), NO_LIMITS);
    assert.equal(p.outputs.length, 3);
    assert.deepEqual(p.units.get(0)?.segments[0]?.alphas, [0.1, 0.3, 0.5]);
    assert.equal(p.units.get(0)?.segments[1]?.action, "copy");
    assert.notDeepEqual(
      p.outputs[0]?.shards[0]?.header,
      p.outputs[1]?.shards[0]?.header,
      "each output's header names its alpha",
    );
  });

  it("plans negative α (interpolation) like any other: the same units, the α carried per output and in the header", () => {
    const tensors: LayoutTensor[] = [
      { name: "a", dtype: "BF16", shape: [100] },
      { name: "b", dtype: "I64", shape: [3] },
      { name: "c", dtype: "F32", shape: [7, 3] },
    ];
    const c = layoutCheckpoint("/a", [{ file: "m.safetensors", tensors }]);
    const s = spec({ alphas: [-0.5, -0.999, 0.3], outs: ["/1", "/2", "/3"], unitSize: 64 });
    const p = plan(c, c, s, NO_LIMITS);
    checkInvariants(p, c, c, s, NO_LIMITS);
    const positive = plan(c, c, spec({ alphas: [0.1, 0.2, 0.3], outs: ["/1", "/2", "/3"], unitSize: 64 }), NO_LIMITS);
    assert.deepEqual(
      [...p.units].map((u) => [u.dataStart, u.dataEnd, u.segments.map((g) => g.action)]),
      [...positive.units].map((u) => [u.dataStart, u.dataEnd, u.segments.map((g) => g.action)]),
    );
    assert.deepEqual(
      p.outputs.map((o) => o.alpha),
      [-0.5, -0.999, 0.3],
    );
    for (const u of p.units)
      for (const g of u.segments) assert.deepEqual(g.alphas, g.action === "copy" ? [] : [-0.5, -0.999, 0.3]);
    const header = p.outputs[0]?.shards[0]?.header as Buffer;
    const json = JSON.parse(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString("utf8"));
    assert.equal(json.__metadata__["expo.alpha"], "-0.5");
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
        plan(c, c, s, NO_LIMITS)
          .units.get(0)
          ?.segments.map((g) => [g.tensor, g.action === "copy" ? "copy" : g.alphas[0]]) ?? [],
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

/** A torch.save-like copy of a layout: tensors at file offsets with gaps (zip headers) between them. */
function asTorch(c: Checkpoint, gap: number): Checkpoint {
  const shards = c.shards.map((s, i) => {
    let offset = 100;
    const tensors = s.tensors.map((t) => {
      const begin = offset;
      offset += t.end - t.begin + gap;
      return { ...t, begin, end: begin + t.end - t.begin };
    });
    const file = `pytorch_model-${i + 1}.bin`;
    return { ...s, file, headerLength: 0, dataStart: 0, tensors, dataLength: offset, size: offset };
  });
  const tensors = new Map(shards.flatMap((shard) => shard.tensors.map((tensor) => [tensor.name, { shard, tensor }])));
  return { ...c, format: "torch", shards, tensors };
}

/**
 * What every plan must satisfy, whatever the layouts: units tile each output shard; segments tile each unit;
 * each segment's aligned and base bytes are the right elements of the right tensors; in place only when the
 * aligned buffer is the output's layout.
 */
function checkAnyLayout(p: JobPlan, aligned: Checkpoint, base: Checkpoint): void {
  const bytesAt = (reads: RangeRead[], bufferOffset: number, length: number) => {
    const r = reads.find((x) => x.bufferOffset <= bufferOffset && bufferOffset + length <= x.bufferOffset + x.length);
    assert.ok(r, "the bytes lie inside one read");
    return { file: r.file, offset: r.offset + bufferOffset - r.bufferOffset };
  };
  for (const shard of p.shards) {
    let expected = 0;
    for (const id of shard.unitIds) {
      const u = p.units.get(id);
      assert.ok(u);
      assert.equal(u.dataStart, expected);
      let at = 0;
      for (const seg of u.segments) {
        const out = shard.tensors.find((t) => t.name === seg.tensor);
        const a = aligned.tensors.get(seg.tensor);
        assert.ok(out && a);
        assert.equal(seg.offset, at, "segments tile the unit");
        assert.equal(seg.outDtype, out.dtype);
        const outItem = ITEMSIZE[out.dtype] as number;
        assert.equal(u.dataStart + seg.offset, out.begin + seg.elemStart * outItem);
        at += seg.count * outItem;
        const aItem = ITEMSIZE[a.tensor.dtype] as number;
        assert.equal(seg.dtype, a.tensor.dtype);
        assert.ok(seg.alignedOffset + seg.count * aItem <= u.alignedLength);
        assert.deepEqual(bytesAt(u.alignedReads, seg.alignedOffset, seg.count * aItem), {
          file: a.shard.file,
          offset: a.shard.dataStart + a.tensor.begin + seg.elemStart * aItem,
        });
        assert.equal(seg.action === "copy", seg.action !== "extrapolate" && seg.dtype === seg.outDtype);
        if (seg.action === "extrapolate") {
          const b = base.tensors.get(seg.tensor);
          assert.ok(b);
          const bItem = ITEMSIZE[b.tensor.dtype] as number;
          assert.equal(seg.baseDtype, b.tensor.dtype);
          assert.deepEqual(bytesAt(u.baseReads, seg.baseOffset, seg.count * bItem), {
            file: b.shard.file,
            offset: b.shard.dataStart + b.tensor.begin + seg.elemStart * bItem,
          });
        } else {
          assert.equal(seg.baseOffset, -1);
        }
      }
      assert.equal(at, u.dataEnd - u.dataStart, "segments cover the unit");
      if (u.inPlace) {
        assert.equal(u.alignedLength, u.dataEnd - u.dataStart);
        assert.ok(u.segments.every((s) => s.alignedOffset === s.offset && s.dtype === s.outDtype));
      }
      expected = u.dataEnd;
    }
    assert.equal(expected, shard.dataLength);
  }
  assert.equal(
    p.inPlace,
    [...p.units].every((u) => u.inPlace),
  );
}

describe("planJob: layouts other than the aligned one", () => {
  const floatArb = fc.constantFrom("BF16", "F16", "F32", "F64");

  it("plans mixed dtypes, --out-dtype, --drop and .bin inputs correctly for generated layouts", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            a: fc.oneof(floatArb, fc.constant("I64")),
            b: floatArb,
            shape: fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 2 }),
            drop: fc.boolean(),
          }),
          { minLength: 2, maxLength: 12 },
        ),
        fc.constantFrom(null, "BF16", "F16", "F32"),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 64, max: 2000 }),
        (ts, outDtype, alignedBin, baseBin, unitSize) => {
          const named = ts.map((t, i) => ({ ...t, name: `t${i}` }));
          const layout = (k: "a" | "b") =>
            named.map((t) => ({ name: t.name, dtype: t.a === "I64" ? "I64" : t[k], shape: t.shape }));
          let aligned = layoutCheckpoint("/a", shardEvenly(layout("a"), 2));
          let base = layoutCheckpoint("/b", shardEvenly(layout("b").reverse(), 3));
          if (alignedBin) aligned = asTorch(aligned, 77);
          if (baseBin) base = asTorch(base, 3000);
          const drop = named.filter((t) => t.drop).map((t) => t.name);
          if (drop.length === named.length) drop.pop();
          const s = spec({ unitSize, outDtype, drop });
          const p = plan(aligned, base, s, NO_LIMITS);
          checkAnyLayout(p, aligned, base);
          const outNames = p.shards.flatMap((x) => x.tensors.map((t) => t.name)).sort();
          assert.deepEqual(
            outNames,
            named
              .filter((t) => !drop.includes(t.name))
              .map((t) => t.name)
              .sort(),
          );
          assert.deepEqual(p.compatibility.dropped.sort(), [...drop].sort());
          assert.equal(
            p.layout.totalSize,
            p.shards.reduce((n, x) => n + x.dataLength, 0),
          );
          const same =
            !alignedBin &&
            drop.length === 0 &&
            (outDtype === null || named.every((t) => t.a === "I64" || t.a === outDtype));
          assert.equal(p.layout.sameAsAligned, same);
          if (same)
            assert.ok(
              [...p.units].every((u) => u.alignedReads.length === 1),
              "the aligned layout: one read per unit",
            );
          const converts = named.some(
            (t) =>
              t.a !== "I64" &&
              outDtype !== null &&
              t.a !== outDtype &&
              !drop.includes(t.name) &&
              t.shape.every((d) => d > 0),
          );
          assert.equal(p.inPlace, !converts, "in place unless a dtype changes");
        },
      ),
      { numRuns: 200 },
    );
  });

  it("names .bin shards' outputs as save_pretrained does and coalesces reads across zip headers", () => {
    const tensors: LayoutTensor[] = Array.from({ length: 6 }, (_, i) => ({
      name: `w${i}`,
      dtype: "BF16",
      shape: [100],
    }));
    const aligned = asTorch(layoutCheckpoint("/a", shardEvenly(tensors, 3)), 120);
    const p = plan(aligned, aligned, spec(), NO_LIMITS);
    assert.deepEqual(
      p.shards.map((x) => x.file),
      ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"],
    );
    assert.equal(p.layout.indexed, true);
    // Aligned bytes land at their output offsets (in place, one read per tensor); base reads coalesce over the gaps.
    assert.ok([...p.units].every((u) => u.inPlace && u.alignedReads.length === u.segments.length));
    assert.ok(
      [...p.units].every((u) => u.baseReads.length === 1),
      "one base read per unit across the zip headers",
    );
    const converted = plan(aligned, aligned, spec({ outDtype: "F32" }), NO_LIMITS);
    assert.ok(
      [...converted.units].every((u) => !u.inPlace && u.alignedReads.length === 1),
      "packed when converting",
    );
    const single = asTorch(layoutCheckpoint("/a", [{ file: "x", tensors }]), 120);
    const one = plan({ ...single, indexed: false }, single, spec(), NO_LIMITS);
    assert.deepEqual(
      one.shards.map((x) => x.file),
      ["model.safetensors"],
    );
    assert.equal(one.layout.indexed, false);
    const header = JSON.parse(one.outputs[0]?.shards[0]?.header.subarray(8).toString().trim() ?? "{}");
    assert.equal(header.__metadata__.format, "pt", "transformers needs format=pt");
  });

  it("splits a resized tensor's rows: shared rows extrapolated, the rest copied, in any unit", () => {
    const t = (rows: number): LayoutTensor[] => [
      { name: "embed", dtype: "BF16", shape: [rows, 4] },
      { name: "norm", dtype: "BF16", shape: [4] },
    ];
    const aligned = { ...layoutCheckpoint("/a", [{ file: "m.safetensors", tensors: t(10) }]), vocabSize: 10 };
    const base = { ...layoutCheckpoint("/b", [{ file: "m.safetensors", tensors: t(8) }]), vocabSize: 8 };
    for (const unitSize of [64, 70, 100, 1000]) {
      const p = plan(aligned, base, spec({ unitSize }), NO_LIMITS);
      checkAnyLayout(p, aligned, base);
      const embed = [...p.units].flatMap((u) => u.segments).filter((s) => s.tensor === "embed");
      const count = (action: string) => embed.filter((s) => s.action === action).reduce((n, s) => n + s.count, 0);
      assert.deepEqual([count("extrapolate"), count("copy")], [32, 8]);
      assert.ok(p.inPlace);
      assert.deepEqual(p.compatibility.resized, [
        { tensor: "embed", alignedRows: 10, baseRows: 8, extrapolatedRows: 8, copiedRows: 2 },
      ]);
    }
    const shrunk = plan(base, { ...aligned }, spec(), NO_LIMITS);
    assert.deepEqual(shrunk.compatibility.resized[0], {
      tensor: "embed",
      alignedRows: 8,
      baseRows: 10,
      extrapolatedRows: 8,
      copiedRows: 0,
    });
    assert.throws(
      () => plan(aligned, { ...base, vocabSize: 10 }, spec(), NO_LIMITS),
      /tensor embed: shape \[10,4\] differs from \[8,4\].*rows differ, but the configs' vocab_size 10 and 10/,
    );
  });

  it("refuses tensors only in aligned unless --exclude copies or --drop leaves them; skips base-only ones", () => {
    const a = layoutCheckpoint("/a", [
      {
        file: "m.safetensors",
        tensors: [
          { name: "w", dtype: "BF16", shape: [4] },
          { name: "v_head.w", dtype: "F32", shape: [2] },
        ],
      },
    ]);
    const b = layoutCheckpoint("/b", [
      {
        file: "m.safetensors",
        tensors: [
          { name: "w", dtype: "F32", shape: [4] },
          { name: "lm_head", dtype: "F32", shape: [2] },
        ],
      },
    ]);
    assert.throws(() => plan(a, b, spec(), NO_LIMITS), /tensor v_head\.w: only in the aligned checkpoint/);
    const copied = plan(a, b, spec({ exclude: ["v_head.*"] }), NO_LIMITS);
    checkAnyLayout(copied, a, b);
    assert.deepEqual(copied.compatibility.alignedOnly, ["v_head.w"]);
    assert.deepEqual(copied.compatibility.baseOnly, ["lm_head"]);
    assert.deepEqual(copied.compatibility.dtypes, [{ tensor: "w", aligned: "BF16", base: "F32", out: "BF16" }]);
    const dropped = plan(a, b, spec({ drop: ["v_head.*"], outDtype: "F32" }), NO_LIMITS);
    checkAnyLayout(dropped, a, b);
    assert.deepEqual(
      dropped.shards[0]?.tensors.map((t) => [t.name, t.dtype, t.begin, t.end]),
      [["w", "F32", 0, 16]],
    );
    assert.equal(dropped.inPlace, false, "bf16 → f32 cannot be computed in place");
  });
});
