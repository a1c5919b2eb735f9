// The journal's contract over a local folder: records come back in order, concurrent appends are
// group-committed (each resolves once its own records are on disk), a line torn by a crash at the
// end is dropped, damage anywhere else is refused with the file named.
import assert from "node:assert/strict";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Journal, type JournalRecord } from "../coordinator/journal.js";
import { tempDir } from "./support/tempDir.js";

const start: JournalRecord = {
  type: "start",
  version: 1,
  jobId: "j",
  specHash: "s",
  tool: { name: "llm-expo", version: "0" },
  createdAt: "2026-11-27T00:00:00.000Z",
  inputs: { base: { "a.safetensors": "1" }, aligned: {} },
  uploads: [{ "a.safetensors": "u1" }],
};
const retry = (unitId: number): JournalRecord => ({ type: "retry", unitId, attempt: 1, error: "e" });

describe("journal", () => {
  it("reads back what was appended, in order; concurrent appends share flushes; remove leaves no trace", async () => {
    const dir = join(await tempDir(), ".expo");
    const journal = Journal.open(dir);
    assert.equal(await journal.read(), undefined, "no journal yet");
    await journal.append(start);
    await Promise.all(Array.from({ length: 50 }, (_, i) => journal.append(retry(i))));
    const lines = readFileSync(join(dir, "journal.jsonl"), "utf8").trim().split("\n");
    assert.equal(lines.length, 51);
    const back = await Journal.open(dir).read();
    assert.deepEqual(back?.[0], start);
    assert.deepEqual(
      back?.slice(1).map((r) => (r.type === "retry" ? r.unitId : -1)),
      Array.from({ length: 50 }, (_, i) => i),
    );
    await journal.remove();
    assert.ok(!existsSync(dir));
  });

  it("drops a torn last line, refuses damage before it", async () => {
    const dir = await tempDir();
    const journal = Journal.open(dir);
    await journal.append(start, retry(1));
    appendFileSync(join(dir, "journal.jsonl"), '{"type":"retry","unitId":2,"att');
    assert.equal((await Journal.open(dir).read())?.length, 2);
    writeFileSync(join(dir, "journal.jsonl"), `${JSON.stringify(start)}\nnot json\n${JSON.stringify(retry(1))}\n`);
    await assert.rejects(Journal.open(dir).read(), /journal.jsonl: line 2 is not a journal record/);
  });
});
