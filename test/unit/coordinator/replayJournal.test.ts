// What a restarted coordinator takes from its journal, and what it refuses: a journal of another
// spec, inputs whose versions changed since the journal was started, reports that do not fit the plan.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { JournalContents, JournalStart } from "../../../coordinator/journal.js";
import type { PackedReport } from "../../../coordinator/packReport.js";
import { replayJournal } from "../../../coordinator/replayJournal.js";
import { unpackReport } from "../../../coordinator/unpackReport.js";
import type { JobPlan, WorkUnit } from "../../../core/plan.js";
import { packWorkUnits } from "../../../core/workUnits.js";

const identity = { jobId: "job", specHash: "spec-1" };
const versions = { base: { "b.safetensors": "b-v1" }, aligned: { "a.safetensors": "a-v1" } };
const header = Buffer.alloc(16);
const unitOf = (id: number): WorkUnit => ({
  id,
  shard: "a.safetensors",
  partNumber: id + 1,
  dataStart: id * 8,
  dataEnd: id * 8 + 8,
  alignedReads: [],
  alignedLength: 8,
  baseReads: [],
  baseLength: 8,
  inPlace: true,
  segments: [
    {
      tensor: "w",
      action: "extrapolate",
      dtype: "F32",
      baseDtype: "F32",
      outDtype: "F32",
      elemStart: id * 2,
      count: 2,
      offset: 0,
      alignedOffset: 0,
      baseOffset: 0,
      alphas: [0.5],
    },
  ],
});
const plan = {
  units: packWorkUnits([unitOf(0), unitOf(1), unitOf(2)]),
  outputs: [{ shards: [{ file: "a.safetensors", header, size: 40 }] }],
  inputVersions: versions,
} as unknown as JobPlan;
const start: JournalStart = {
  type: "start",
  version: 2,
  jobId: "job",
  specHash: "spec-1",
  tool: { name: "llm-expo", version: "0" },
  createdAt: "2026-11-27T00:00:00.000Z",
  inputs: versions,
  uploads: [{ "a.safetensors": "upload-1" }],
};
const packed = (unitId: number): PackedReport => [
  unitId,
  [4, 1, 0.5, 9, 0.25, 0, 0],
  [[0, '"etag"', "", "ff"]],
  [1, 2, 3],
];
const contents = (units: PackedReport[], attempts: Array<[number, number]> = []): JournalContents => ({
  start,
  units: new Map(units.map((u) => [u[0], u])),
  attempts: new Map(attempts),
});

describe("journal replay", () => {
  it("restores the uploads, finished units (their reports whole again when unpacked) and the attempts spent on unfinished ones", () => {
    const r = replayJournal("j", contents([packed(1), packed(0)], [[2, 2]]), plan, identity);
    assert.deepEqual(r.uploads, start.uploads);
    assert.deepEqual([...r.reports.keys()].sort(), [0, 1]);
    assert.deepEqual([...r.attempts], [[2, 2]]);
    assert.deepEqual(r.bytes, { read: 2 * 16, written: 8 + 16 + 8 }, "what the finished units moved");
    const unpack = (id: number) => unpackReport(r.reports.get(id) as PackedReport, plan, "j");
    assert.deepEqual(unpack(1), {
      unitId: 1,
      segments: [
        {
          tensor: "w",
          stats: {
            sumA2: 4,
            sumB2: 1,
            sumD2: 0.5,
            sumOut2: [9],
            maxAbsDiff: 0.25,
            nonfiniteInputs: 0,
            nonfiniteOutputs: 0,
          },
        },
      ],
      parts: [{ output: 0, partNumber: 2, etag: '"etag"', sha256: "ff", offset: 16 + 8, size: 8 }],
      bytes: { aligned: 8, base: 8, written: 8 },
      seconds: { fetch: 1, compute: 2, upload: 3 },
    });
    assert.equal(unpack(0).parts[0]?.size, 16 + 8, "part 1 carries the header");
  });

  it("refuses a report that does not fit the plan (another job's journal)", () => {
    const wrong: PackedReport = [1, [4, 1], [], [0, 0, 0]];
    assert.throws(() => replayJournal("j", contents([wrong]), plan, identity), /j: the report of unit 1 does not fit/);
    assert.throws(() => replayJournal("j", contents([packed(7)]), plan, identity), /the report of unit 7 does not fit/);
  });

  it("refuses a journal of another spec", () => {
    assert.throws(
      () => replayJournal("out/.expo/journal.jsonl", contents([]), plan, { ...identity, specHash: "spec-2" }),
      /out\/\.expo\/journal\.jsonl: belongs to a different job \(started 2026-11-27T00:00:00\.000Z with another spec\); remove it to start over/,
    );
  });

  it("refuses inputs changed, added or removed since the journal was started", () => {
    const changed = { ...plan, inputVersions: { ...versions, base: { "b.safetensors": "b-v2" } } } as JobPlan;
    assert.throws(
      () => replayJournal("j", contents([]), changed, identity),
      /base input b\.safetensors changed .*\(b-v1 then, b-v2 now\)/,
    );
    const added = {
      ...plan,
      inputVersions: { ...versions, aligned: { ...versions.aligned, "c.safetensors": "c-v1" } },
    } as JobPlan;
    assert.throws(
      () => replayJournal("j", contents([]), added, identity),
      /aligned input c\.safetensors changed .*\(absent then/,
    );
  });
});
