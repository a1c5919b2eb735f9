// expo-report.json from a planned job and its unit reports: statistics summed per tensor and per model in
// unit order (the same bits whatever order units finished in), norms by their definitions, one part per unit
// with its checksum, the job's parameters and the inputs' provenance.
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import type { UnitReport } from "../../../core/leaseService.js";
import type { SegmentStats } from "../../../core/statistics.js";
import { type PreparedJob, prepareJob } from "../../../plan/prepareJob.js";
import { aggregateStatistics } from "../../../report/aggregateStatistics.js";
import { buildReport, tensorShapes } from "../../../report/buildReport.js";
import { LOCAL_STORAGE } from "../../support/storageSettings.js";
import { tempDir } from "../../support/tempDir.js";
import { writeCheckpoint } from "../../support/writeCheckpoint.js";

/** Statistics with awkward magnitudes, so that the order of the additions shows in the bits. */
function stats(seed: number, k: number): SegmentStats {
  const x = (i: number) => ((seed * 7919 + i * 104729) % 1000) / 3 + 1e-9 * seed;
  return {
    sumA2: x(1) * 1e6,
    sumB2: x(2) * 1e-6,
    sumD2: x(3),
    sumOut2: Array.from({ length: k }, (_, j) => x(4 + j) * 10 ** j),
    maxAbsDiff: x(9) / 1000,
    nonfiniteInputs: seed % 3,
    nonfiniteOutputs: seed % 2,
  };
}

describe("report", () => {
  let job: PreparedJob;
  const reports = new Map<number, UnitReport>();

  before(async () => {
    const root = await tempDir();
    const tensors = [
      { name: "a.weight", dtype: "BF16", shape: [64, 32] },
      { name: "b.weight", dtype: "F32", shape: [48, 16] },
      { name: "steps", dtype: "I64", shape: [4] },
    ];
    await writeCheckpoint(join(root, "sft"), { "model.safetensors": tensors });
    await writeCheckpoint(join(root, "dpo"), { "model.safetensors": tensors });
    job = await prepareJob(
      {
        base: join(root, "sft"),
        aligned: join(root, "dpo"),
        alphas: [0.3, 0.5],
        outs: [join(root, "o1"), join(root, "o2")],
        arith: "torch",
        unitSize: 1024,
        include: [],
        exclude: [],
        drop: [],
        outDtype: null,
        alphaRules: [{ pattern: "b.*", alpha: 0.25 }],
        onNonfinite: "warn",
        overwrite: false,
      },
      { storage: LOCAL_STORAGE, forWriting: false },
    );
    for (const unit of job.plan.units) {
      reports.set(unit.id, {
        unitId: unit.id,
        segments: unit.segments
          .filter((s) => s.action === "extrapolate")
          .map((s, i) => ({ tensor: s.tensor, stats: stats(unit.id * 10 + i, 2) })),
        parts: [0, 1].map((output) => ({
          output,
          partNumber: unit.partNumber,
          etag: `e${unit.id}`,
          sha256: `sha-${output}-${unit.id}`,
          offset: unit.dataStart,
          size: unit.dataEnd - unit.dataStart,
        })),
        bytes: { aligned: 0, base: 0, written: 0 },
        seconds: { fetch: 0, compute: 0, upload: 0 },
      });
    }
    assert.ok(job.plan.units.length >= 4, "several units per tensor");
  });

  it("sums each tensor's statistics in unit order, whatever order the reports arrived in", () => {
    const byUnit = (id: number) => reports.get(id)?.segments ?? [];
    const shapes = tensorShapes(job.aligned);
    const forward = aggregateStatistics(job.plan, byUnit, 1, shapes);
    const reversed = new Map([...reports].reverse());
    const again = aggregateStatistics(job.plan, (id) => reversed.get(id)?.segments ?? [], 1, shapes);
    assert.deepEqual(again, forward);

    let b2 = 0;
    let d2 = 0;
    let out2 = 0;
    let max = 0;
    for (const u of job.plan.units)
      for (const s of reports.get(u.id)?.segments ?? [])
        if (s.tensor === "a.weight") {
          b2 += s.stats.sumB2;
          d2 += s.stats.sumD2;
          out2 += s.stats.sumOut2[1] as number;
          max = Math.max(max, s.stats.maxAbsDiff);
        }
    const a = forward.tensors["a.weight"];
    assert.equal(a?.normBase, Math.sqrt(b2));
    assert.equal(a?.normDelta, Math.sqrt(d2));
    assert.equal(a?.normOutput, Math.sqrt(out2), "output k's own sum of squares");
    assert.equal(a?.relativeShift, Math.sqrt(d2) / Math.sqrt(b2));
    assert.equal(a?.maxAbsDiff, max);
    assert.deepEqual([a?.dtype, a?.shape, a?.alpha], ["BF16", [64, 32], 0.5]);
    assert.equal(forward.tensors["b.weight"]?.alpha, 0.25, "the alpha rule's value");
    assert.equal(forward.tensors.steps, undefined, "copied tensors have no statistics");
    assert.deepEqual([forward.model.tensorsExtrapolated, forward.model.tensorsCopied], [2, 1]);
  });

  it("lists one part per unit per output, with the job's parameters and the inputs' provenance", () => {
    const report = buildReport(1, job.spec, job.plan, reports, job.aligned, job.base);
    assert.equal(report.format, "llm-expo-report/1");
    assert.deepEqual(report.parameters, {
      alpha: 0.5,
      arith: "torch",
      unitSize: 1024,
      include: [],
      exclude: [],
      drop: [],
      outDtype: null,
      alphaRules: [{ pattern: "b.*", alpha: 0.25 }],
      onNonfinite: "warn",
    });
    const [shard] = report.output.shards;
    assert.equal(shard?.file, "model.safetensors");
    assert.deepEqual(
      shard?.parts.map((p) => p.sha256),
      [...job.plan.units].map((u) => `sha-1-${u.id}`),
    );
    assert.equal(report.output.location, job.plan.outputs[1]?.location);
    assert.deepEqual(
      report.inputs.aligned.files.map((f) => f.name),
      ["model.safetensors"],
    );
    assert.equal(report.inputs.base.location, job.base.storage.location);
  });

  it("refuses to report a unit that has no report", () => {
    const missing = new Map(reports);
    missing.delete(0);
    assert.throws(() => buildReport(0, job.spec, job.plan, missing, job.aligned, job.base), /unit 0 has no report/);
  });
});
