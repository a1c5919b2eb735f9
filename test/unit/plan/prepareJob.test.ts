// What a coordinator keeps of a prepared job: the plan, the outputs and the inputs' files, not the checkpoints'
// tensor indexes (which nothing after planning reads).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pairTensors } from "../../../checkpoint/pairTensors.js";
import { jobSpecWith } from "../../../core/jobSpec.js";
import { layoutCheckpoint, llama70bTensors, shardEvenly } from "../../../harness/layoutCheckpoint.js";
import { planJob } from "../../../plan/planJob.js";
import { type PreparedJob, withoutTensors } from "../../../plan/prepareJob.js";
import type { Storage } from "../../../storage/types.js";

describe("withoutTensors", () => {
  it("keeps the plan, outputs and each input's storage, files and other files; drops the tensors", () => {
    const tensors = llama70bTensors();
    const aligned = layoutCheckpoint("s3://b/aligned", shardEvenly(tensors, 30));
    const base = layoutCheckpoint("s3://b/base", shardEvenly(tensors, 29));
    aligned.otherFiles.push("config.json", "tokenizer.json");
    const spec = jobSpecWith({ base: "s3://b/base", aligned: "s3://b/aligned", alphas: [0.3], outs: ["s3://b/out"] });
    const plan = planJob({
      spec,
      aligned,
      base,
      pairing: pairTensors(aligned, base),
      limits: { minPartSize: 0, maxPartSize: Number.MAX_SAFE_INTEGER, maxParts: 1e6 },
    });
    const outputs = [{ location: "s3://b/out" } as Storage];
    const job: PreparedJob = { spec, aligned, base, outputs, plan, committed: [false] };
    const kept = withoutTensors(job);
    assert.equal(kept.plan, plan);
    assert.equal(kept.spec, spec);
    assert.equal(kept.outputs, outputs);
    assert.deepEqual(kept.committed, [false]);
    for (const [got, from] of [
      [kept.aligned, aligned],
      [kept.base, base],
    ] as const) {
      assert.deepEqual(Object.keys(got).sort(), ["otherFiles", "shards", "storage"]);
      assert.equal(got.storage, from.storage);
      assert.deepEqual(got.otherFiles, from.otherFiles);
      assert.deepEqual(
        got.shards,
        from.shards.map((s) => ({ file: s.file, size: s.size, etag: s.etag, mtimeMs: s.mtimeMs })),
      );
    }
  });
});
