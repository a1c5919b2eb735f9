// sweep.json from scores: which model is best (ties: the baseline, then the smallest |α|), what the
// conclusion says in each case, and the journal's reading of torn and damaged lines.
import assert from "node:assert/strict";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { UsageError } from "../../../core/errors.js";
import type { SweepResult } from "../../../core/sweep.js";
import { FileAppendLog } from "../../../storage/fileAppendLog.js";
import { buildSweepReport } from "../../../sweep/buildSweepReport.js";
import type { Candidate } from "../../../sweep/sweepCandidates.js";
import { SweepJournal } from "../../../sweep/sweepJournal.js";
import { tempDir } from "../../support/tempDir.js";

const candidates: Candidate[] = [0, -0.5, 0.1, 0.3, 0.5].map((alpha, index) => ({
  index,
  alpha,
  model: alpha === 0 ? "/m/dpo" : `/m/expo-${alpha}`,
  ...(alpha === 0 ? {} : { output: index - 1 }),
  resultName: `alpha-${alpha}.json`,
}));

function scored(scores: Record<string, number>): SweepResult[] {
  return Object.entries(scores).map(([a, score]) => ({
    alpha: Number(a),
    model: candidates.find((c) => c.alpha === Number(a))?.model as string,
    score,
    metrics: {},
    seconds: 1,
  }));
}

describe("buildSweepReport", () => {
  it("picks the highest score and says by how much it beats the aligned model", () => {
    const r = buildSweepReport(candidates, scored({ 0: 1, "-0.5": 0.5, 0.1: 1.2, 0.3: 1.5, 0.5: 1.4 }), []);
    assert.deepEqual(r.best, { alpha: 0.3, model: "/m/expo-0.3", score: 1.5 });
    assert.deepEqual(r.baseline, { alpha: 0, model: "/m/dpo", score: 1 });
    assert.deepEqual(
      r.results.map((x) => x.alpha),
      [-0.5, 0.1, 0.3, 0.5],
    );
    assert.equal(r.conclusion, "α = 0.3 scored best: 1.5, +0.5 over the aligned model (α = 0: 1).");
  });

  it("breaks ties towards the baseline, then towards the smallest |α|", () => {
    assert.equal(buildSweepReport(candidates, scored({ 0: 2, 0.1: 2, 0.3: 1 }), []).best?.alpha, 0);
    assert.equal(buildSweepReport(candidates, scored({ 0: 1, 0.5: 2, 0.1: 2, "-0.5": 2 }), []).best?.alpha, 0.1);
  });

  it("says so when extrapolation did not help, when the baseline failed, and when nothing scored", () => {
    const worse = buildSweepReport(candidates, scored({ 0: 3, 0.1: 2 }), []);
    assert.match(worse.conclusion, /^The aligned model itself \(α = 0\) scored best \(3\): extrapolation did not help/);
    const failure = { alpha: 0, model: "/m/dpo", error: "exit status 1", stderr: ["x"] };
    const noBaseline = buildSweepReport(candidates, scored({ 0.1: 2, 0.3: 1 }), [failure]);
    assert.deepEqual(noBaseline.baseline, { alpha: 0, model: "/m/dpo", score: null });
    assert.equal(
      noBaseline.conclusion,
      "α = 0.1 scored best (2); the baseline's evaluation failed, so whether extrapolation helped is unknown. 1 evaluation(s) failed: α = 0.",
    );
    const none = buildSweepReport(candidates, [], [failure]);
    assert.equal(none.best, null);
    assert.match(none.conclusion, /^No evaluation produced a score\./);
  });
});

describe("the sweep journal", () => {
  it("reads what was appended, in order, dropping a torn last line and refusing damage before it", async () => {
    const file = join(await tempDir(), "sweep-journal.jsonl");
    const journal = new SweepJournal(new FileAppendLog(file));
    assert.equal(await journal.read(), undefined);
    await journal.append({ type: "start", version: 1, sweepId: "s", createdAt: "t" });
    const results = scored({ 0.1: 1, 0.3: 2, 0.5: 3 });
    await Promise.all(results.map((r) => journal.append({ type: "evaluated", attempts: 1, ...r })));
    await journal.close();
    appendFileSync(file, '{"type":"evaluated","alpha":0.7,"sco');
    const again = new SweepJournal(new FileAppendLog(file));
    const records = await again.read();
    assert.deepEqual(
      records?.map((r) => (r.type === "evaluated" ? r.alpha : r.type)),
      ["start", 0.1, 0.3, 0.5],
    );
    writeFileSync(file, '{"type":"start"}\nnot json\n{"type":"evaluated"}\n');
    await assert.rejects(
      again.read(),
      (e) => e instanceof UsageError && /line 2 is not a sweep record/.test(e.message),
    );
    writeFileSync(file, '{"type":"evaluated"}\n');
    await assert.rejects(
      again.read(),
      (e) => e instanceof UsageError && /does not start with a sweep record/.test(e.message),
    );
  });
});
