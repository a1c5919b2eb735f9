// The packed unit store gives back exactly the units it was given: every field, every read and segment in
// order, byte offsets past 4 GiB and element counts past 2^32 included.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { RangeRead, UnitSegment, WorkUnit } from "../../../core/plan.js";
import { packWorkUnits, WorkUnitsBuilder } from "../../../core/workUnits.js";

const offset = fc.oneof(fc.nat(1 << 20), fc.integer({ min: 2 ** 32, max: 2 ** 45 }));
const file = fc.constantFrom("model-00001-of-00163.safetensors", "model-00002-of-00163.safetensors", "b.bin");
const dtype = fc.constantFrom("BF16", "F16", "F32", "F64");

// fc.record builds objects without a prototype; the store hands out plain ones.
const plain = <T extends object>(a: fc.Arbitrary<T>): fc.Arbitrary<T> => a.map((x) => ({ ...x }));

const read: fc.Arbitrary<RangeRead> = plain(fc.record({ file, offset, length: offset, bufferOffset: offset }));

const segment: fc.Arbitrary<UnitSegment> = plain(
  fc.record({
    tensor: fc.constantFrom("model.embed_tokens.weight", "lm_head.weight", "model.layers.0.mlp.down_proj.weight"),
    action: fc.constantFrom("extrapolate", "copy", "convert"),
    dtype,
    baseDtype: dtype,
    outDtype: dtype,
    elemStart: offset,
    count: offset,
    offset,
    alignedOffset: offset,
    baseOffset: fc.oneof(fc.constant(-1), offset),
    alphas: fc.array(fc.double({ min: -0.99, max: 5, noNaN: true }), { maxLength: 4 }),
  }),
);

const unitBody = fc.record({
  shard: file,
  partNumber: fc.integer({ min: 1, max: 10_000 }),
  dataStart: offset,
  dataEnd: offset,
  alignedReads: fc.array(read, { maxLength: 4 }),
  alignedLength: offset,
  baseReads: fc.array(read, { maxLength: 4 }),
  baseLength: offset,
  inPlace: fc.boolean(),
  segments: fc.array(segment, { maxLength: 5 }),
});

const units: fc.Arbitrary<WorkUnit[]> = fc
  .array(unitBody, { maxLength: 30 })
  .map((bodies) => bodies.map((b, id) => ({ id, ...b })));

/** A unit with no reads and no segments. */
const bareUnit = (id: number): WorkUnit => ({
  id,
  shard: "model.safetensors",
  partNumber: id + 1,
  dataStart: 0,
  dataEnd: 8,
  alignedReads: [],
  alignedLength: 0,
  baseReads: [],
  baseLength: 0,
  inPlace: true,
  segments: [],
});

describe("WorkUnits", () => {
  it("gives back every unit as it was added, by id and in iteration order", () => {
    fc.assert(
      fc.property(units, (list) => {
        const packed = packWorkUnits(list);
        assert.equal(packed.length, list.length);
        for (const u of list) assert.deepEqual(packed.get(u.id), u);
        assert.deepEqual([...packed], list);
      }),
      { numRuns: 300 },
    );
  });

  it("answers has/get for ids outside the plan with false/undefined", () => {
    const packed = packWorkUnits([bareUnit(0)]);
    for (const id of [-1, 1, 0.5, Number.NaN]) {
      assert.equal(packed.has(id), false, String(id));
      assert.equal(packed.get(id), undefined, String(id));
    }
    assert.equal(packed.has(0), true);
  });

  it("hands out a fresh object per call: a caller changing one does not change the plan", () => {
    fc.assert(
      fc.property(
        units.filter((l) => l.some((u) => u.segments.some((s) => s.alphas.length > 0))),
        (list) => {
          const packed = packWorkUnits(list);
          const u = list.find((x) => x.segments.some((s) => s.alphas.length > 0)) as WorkUnit;
          const first = packed.get(u.id) as WorkUnit;
          for (const s of first.segments) s.alphas.fill(42);
          for (const r of first.alignedReads) r.length = 0;
          assert.deepEqual(packed.get(u.id), u);
        },
      ),
      { numRuns: 50 },
    );
  });

  it("refuses units added out of id order", () => {
    const builder = new WorkUnitsBuilder();
    assert.throws(() => builder.add(bareUnit(3)), /unit 3 added as unit 0/);
  });
});
