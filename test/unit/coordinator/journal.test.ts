// The journal's contract over a local folder: records come back in order, appends that arrive while a flush
// is in progress are group-committed into the next flush (each resolves once its own records are durable), a
// line torn by a crash at the end is dropped, damage anywhere else is refused with the file named, and once
// closed or removed the journal does not change.
import assert from "node:assert/strict";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { JOURNAL_NAME, Journal, type JournalRecord } from "../../../coordinator/journal.js";
import { FileAppendLog } from "../../../storage/fileAppendLog.js";
import type { AppendLog } from "../../../storage/types.js";
import { tempDir } from "../../support/tempDir.js";

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

/** A real log that counts its flushes (the journal's batches). */
class CountedLog implements AppendLog {
  flushes = 0;
  constructor(private readonly log: AppendLog) {}
  get where() {
    return this.log.where;
  }
  read() {
    return this.log.read();
  }
  append(text: string) {
    this.flushes++;
    return this.log.append(text);
  }
  remove() {
    return this.log.remove();
  }
  close() {
    return this.log.close();
  }
}

describe("journal", () => {
  it("reads back what was appended, in order; appends during a flush share the next one; remove leaves no trace", async () => {
    const dir = join(await tempDir(), ".expo");
    const log = new CountedLog(new FileAppendLog(join(dir, JOURNAL_NAME)));
    const journal = new Journal(log);
    assert.equal(await journal.read(), undefined, "no journal yet");
    await journal.append(start);
    assert.equal(log.flushes, 1);
    // 50 appends at once: the first starts a flush, the other 49 wait for it and go out together.
    await Promise.all(Array.from({ length: 50 }, (_, i) => journal.append(retry(i))));
    assert.equal(log.flushes, 3, "one flush for the first append, one for the 49 that arrived during it");
    const lines = readFileSync(join(dir, JOURNAL_NAME), "utf8").trim().split("\n");
    assert.equal(lines.length, 51);
    const back = await new Journal(new FileAppendLog(join(dir, JOURNAL_NAME))).read();
    assert.deepEqual(back?.[0], start);
    assert.deepEqual(
      back?.slice(1).map((r) => (r.type === "retry" ? r.unitId : -1)),
      Array.from({ length: 50 }, (_, i) => i),
    );
    await journal.remove();
    assert.ok(!existsSync(dir));
  });

  it("waits for the append in flight before removing, and refuses appends afterwards", async () => {
    const dir = join(await tempDir(), ".expo");
    const journal = new Journal(new FileAppendLog(join(dir, JOURNAL_NAME)));
    await journal.append(start);
    const late = journal.append(retry(1));
    await journal.remove();
    await late;
    assert.ok(!existsSync(dir), "the append in flight landed before the removal, not after it");
    await assert.rejects(journal.append(retry(2)), /closed/);
    assert.ok(!existsSync(dir));
  });

  it("drops a torn last line, refuses damage before it", async () => {
    const dir = await tempDir();
    const open = () => new Journal(new FileAppendLog(join(dir, JOURNAL_NAME)));
    const journal = open();
    await journal.append(start, retry(1));
    appendFileSync(join(dir, JOURNAL_NAME), '{"type":"retry","unitId":2,"att');
    assert.equal((await open().read())?.length, 2);
    writeFileSync(join(dir, JOURNAL_NAME), `${JSON.stringify(start)}\nnot json\n${JSON.stringify(retry(1))}\n`);
    await assert.rejects(open().read(), /journal.jsonl: line 2 is not a journal record/);
  });
});
