// What a restarted coordinator takes from its journal, and what it refuses: a journal of another
// spec, inputs whose versions changed since the journal was started.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { JournalRecord, JournalStart } from "../../../coordinator/journal.js";
import { replayJournal } from "../../../coordinator/replayJournal.js";
import type { UnitReport } from "../../../core/leaseService.js";
import type { JobPlan } from "../../../core/plan.js";

const identity = { jobId: "job", specHash: "spec-1" };
const versions = { base: { "b.safetensors": "b-v1" }, aligned: { "a.safetensors": "a-v1" } };
const plan = { units: [{ id: 0 }, { id: 1 }, { id: 2 }], inputVersions: versions } as unknown as JobPlan;
const start: JournalStart = {
  type: "start",
  version: 1,
  jobId: "job",
  specHash: "spec-1",
  tool: { name: "llm-expo", version: "0" },
  createdAt: "2026-11-27T00:00:00.000Z",
  inputs: versions,
  uploads: [{ "a.safetensors": "upload-1" }],
};
const report = (unitId: number) => ({ unitId }) as UnitReport;

describe("journal replay", () => {
  it("restores the uploads, finished units and the attempts spent on unfinished ones", () => {
    const records: JournalRecord[] = [
      start,
      { type: "retry", unitId: 1, attempt: 1, error: "lease expired" },
      { type: "unit", report: report(1) },
      { type: "retry", unitId: 2, attempt: 1, error: "x" },
      { type: "retry", unitId: 2, attempt: 2, error: "y" },
      { type: "unit", report: report(0) },
    ];
    const r = replayJournal("j", records, plan, identity);
    assert.deepEqual(r.uploads, start.uploads);
    assert.deepEqual([...r.reports.keys()].sort(), [0, 1]);
    assert.deepEqual([...r.attempts], [[2, 2]], "finished units carry no attempts");
  });

  it("refuses a journal of another spec", () => {
    assert.throws(
      () => replayJournal("out/.expo/journal.jsonl", [start], plan, { ...identity, specHash: "spec-2" }),
      /out\/\.expo\/journal\.jsonl: belongs to a different job \(started 2026-11-27T00:00:00\.000Z with another spec\); remove it to start over/,
    );
  });

  it("refuses inputs changed, added or removed since the journal was started", () => {
    const changed = { ...plan, inputVersions: { ...versions, base: { "b.safetensors": "b-v2" } } } as JobPlan;
    assert.throws(
      () => replayJournal("j", [start], changed, identity),
      /base input b\.safetensors changed .*\(b-v1 then, b-v2 now\)/,
    );
    const added = {
      ...plan,
      inputVersions: { ...versions, aligned: { ...versions.aligned, "c.safetensors": "c-v1" } },
    } as JobPlan;
    assert.throws(
      () => replayJournal("j", [start], added, identity),
      /aligned input c\.safetensors changed .*\(absent then/,
    );
  });
});
