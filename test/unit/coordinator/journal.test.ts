// The journal's contract over a local folder and over an object store's one-object-per-append log: what was
// appended comes back as state (finished units, attempts spent), appends that arrive while a flush is in progress
// are group-committed into the next flush (each resolves once its own records are durable), a line torn by a
// crash at the end is dropped (and the next append starts a line of its own), damage anywhere else is refused
// with the file named, once closed or removed the journal does not change, and it compacts into a snapshot whose
// replay equals the uncompacted one.
import assert from "node:assert/strict";
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { JOURNAL_NAME, Journal, type JournalRecord } from "../../../coordinator/journal.js";
import { type PackedReport, packReport } from "../../../coordinator/packReport.js";
import type { UnitReport } from "../../../core/leaseService.js";
import { FileAppendLog } from "../../../storage/fileAppendLog.js";
import { LocalStorage } from "../../../storage/localStorage.js";
import { ObjectAppendLog } from "../../../storage/objectAppendLog.js";
import type { AppendLog } from "../../../storage/types.js";
import { tempDir } from "../../support/tempDir.js";

const start: JournalRecord = {
  type: "start",
  version: 2,
  jobId: "j",
  specHash: "s",
  tool: { name: "llm-expo", version: "0" },
  createdAt: "2026-11-27T00:00:00.000Z",
  inputs: { base: { "a.safetensors": "1" }, aligned: {} },
  uploads: [{ "a.safetensors": "u1" }],
};
const retry = (unitId: number, attempt = 1, transient = false): JournalRecord => ({
  type: "retry",
  unitId,
  attempt,
  error: "e",
  ...(transient ? { transient } : {}),
});
const report = (unitId: number): UnitReport => ({
  unitId,
  segments: [
    {
      tensor: "w",
      stats: {
        sumA2: 1.5 + unitId,
        sumB2: 2.25,
        sumD2: Number.POSITIVE_INFINITY,
        sumOut2: [3.125],
        maxAbsDiff: 0.1,
        nonfiniteInputs: 0,
        nonfiniteOutputs: 1,
      },
    },
  ],
  parts: [{ output: 0, partNumber: 1, etag: `"e${unitId}"`, sha256: "ab", offset: 0, size: 8 }],
  bytes: { aligned: 8, base: 8, written: 8 },
  seconds: { fetch: 0.5, compute: 0.25, upload: 0.125 },
});
const unit = (unitId: number): JournalRecord => ({ type: "unit", unit: packReport(report(unitId)) });

/** A real log that counts its flushes (the journal's batches) and its rewrites (compactions). */
class CountedLog implements AppendLog {
  flushes = 0;
  rewrites = 0;
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
  rewrite(text: string) {
    this.rewrites++;
    return this.log.rewrite(text);
  }
  remove() {
    return this.log.remove();
  }
  close() {
    return this.log.close();
  }
}

/** The state a journal replays to, in a comparable form. */
async function replay(log: AppendLog) {
  const c = await new Journal(log).read();
  if (!c) return undefined;
  return {
    start: c.start.jobId,
    units: [...c.units].sort(([a], [b]) => a - b) as Array<[number, PackedReport]>,
    attempts: [...c.attempts].sort(([a], [b]) => a - b),
  };
}

describe("journal", () => {
  it("reads back what was appended; appends during a flush share the next one; remove leaves no trace", async () => {
    const dir = join(await tempDir(), ".expo");
    const log = new CountedLog(new FileAppendLog(join(dir, JOURNAL_NAME)));
    const journal = new Journal(log);
    assert.equal(await journal.read(), undefined, "no journal yet");
    await journal.append(start);
    assert.equal(log.flushes, 1);
    // 50 appends at once: the first starts a flush, the other 49 wait for it and go out together.
    await Promise.all(Array.from({ length: 50 }, (_, i) => journal.append(retry(i))));
    assert.equal(log.flushes, 3, "one flush for the first append, one for the 49 that arrived during it");
    await journal.append(unit(7), retry(8, 2), retry(8, 1), retry(90, 1, true));
    const lines = readFileSync(join(dir, JOURNAL_NAME), "utf8").trim().split("\n");
    assert.equal(lines.length, 55);
    const back = await new Journal(new FileAppendLog(join(dir, JOURNAL_NAME))).read();
    assert.deepEqual(back?.start, start);
    assert.deepEqual(back?.units.get(7), [
      7,
      [1.5 + 7, 2.25, "Infinity", 3.125, 0.1, 0, 1],
      [[0, '"e7"', "", "ab"]],
      [0.5, 0.25, 0.125],
    ]);
    assert.deepEqual(
      [...(back?.attempts ?? [])].find(([id]) => id === 8),
      [8, 2],
      "the most attempts spent",
    );
    assert.ok(!back?.attempts.has(7), "a finished unit carries no attempts");
    assert.ok(!back?.attempts.has(90), "a transient failure spends none");
    await journal.remove();
    assert.ok(!existsSync(dir));
  });

  it("waits for the append in flight before removing, and refuses appends afterwards, however many are queued", async () => {
    for (let round = 0; round < 20; round++) {
      const dir = join(await tempDir(), ".expo");
      const journal = new Journal(new FileAppendLog(join(dir, JOURNAL_NAME)));
      await journal.append(start);
      // A burst of appends, some landing before the removal and some refused after it.
      const burst = Array.from({ length: 200 }, (_, i) =>
        journal.append(retry(i)).then(
          () => "landed",
          (e: Error) => (/closed/.test(e.message) ? "refused" : e.message),
        ),
      );
      const removing = journal.remove();
      const later = Array.from({ length: 50 }, (_, i) =>
        journal.append(retry(1000 + i)).then(
          () => "landed after the removal",
          (e: Error) => e.message,
        ),
      );
      await removing;
      const outcomes = await Promise.all(burst);
      assert.ok(
        outcomes.every((o) => o === "landed" || o === "refused"),
        String(outcomes.find((o) => o !== "landed" && o !== "refused")),
      );
      assert.ok((await Promise.all(later)).every((m) => /closed/.test(m)));
      assert.ok(!existsSync(dir), "nothing appended after the removal re-created the journal");
    }
  });

  it("drops a torn last line and starts the next append on a line of its own; refuses damage before it", async () => {
    const dir = await tempDir();
    const open = () => new Journal(new FileAppendLog(join(dir, JOURNAL_NAME)));
    const journal = open();
    await journal.append(start, retry(1));
    await journal.close();
    appendFileSync(join(dir, JOURNAL_NAME), '{"type":"retry","unitId":2,"att');
    const resumed = open();
    assert.deepEqual([...((await resumed.read())?.attempts ?? [])], [[1, 1]]);
    await resumed.append(retry(3));
    await resumed.close();
    assert.deepEqual(
      [...((await open().read())?.attempts ?? [])],
      [
        [1, 1],
        [3, 1],
      ],
    );
    writeFileSync(join(dir, JOURNAL_NAME), `${JSON.stringify(start)}\nnot json\n${JSON.stringify(retry(1))}\n`);
    await assert.rejects(open().read(), /journal.jsonl: line 2 is not a journal record/);
    writeFileSync(join(dir, JOURNAL_NAME), `${JSON.stringify(retry(1))}\n`);
    await assert.rejects(open().read(), /does not start with a job record/);
  });

  it("reads a version 1 journal (whole reports) as the same state", async () => {
    const dir = await tempDir();
    writeFileSync(
      join(dir, JOURNAL_NAME),
      [{ ...start, version: 1 }, { type: "unit", report: report(4) }, retry(5, 2)]
        .map((r) => JSON.stringify(r))
        .join("\n"),
    );
    const c = await new Journal(new FileAppendLog(join(dir, JOURNAL_NAME))).read();
    assert.equal(c?.start.version, 1);
    assert.equal(c?.units.get(4)?.[1][0], 1.5 + 4);
    assert.deepEqual([...(c?.attempts ?? [])], [[5, 2]]);
  });

  for (const kind of ["a local file", "one object per append"] as const) {
    it(`compacts into a snapshot that replays to the same state (${kind})`, async () => {
      const dir = join(await tempDir(), ".expo");
      const make = () =>
        kind === "a local file"
          ? new FileAppendLog(join(dir, JOURNAL_NAME))
          : new ObjectAppendLog(new LocalStorage(dir), JOURNAL_NAME);
      const log = new CountedLog(make());
      const journal = new Journal(log, { compactAfterRecords: 10, compactAfterFlushes: 10 });
      await journal.append(start);
      const reference = new Journal(
        new CountedLog(
          kind === "a local file"
            ? new FileAppendLog(join(dir, "plain.jsonl"))
            : new ObjectAppendLog(new LocalStorage(join(dir, "plain")), JOURNAL_NAME),
        ),
      );
      await reference.append(start);
      for (let i = 0; i < 60; i++) {
        const records = [unit(i), retry(100 + i, 1), retry(100 + (i % 7), 2)];
        await Promise.all([journal.append(...records), reference.append(...records)]);
      }
      await journal.append(retry(1000));
      await journal.close();
      await reference.append(retry(1000));
      await reference.close();
      assert.ok(log.rewrites >= 3, `compacted ${log.rewrites} times`);
      if (kind === "one object per append") {
        const names = readdirSync(dir).filter((n) => n.startsWith("journal-"));
        assert.equal(names.filter((n) => n.includes("snapshot")).length, 1, names.join(" "));
        assert.ok(names.length < 12, `a snapshot and a short tail: ${names.join(" ")}`);
      }
      const compacted = await replay(make());
      const plain = await replay(
        kind === "a local file"
          ? new FileAppendLog(join(dir, "plain.jsonl"))
          : new ObjectAppendLog(new LocalStorage(join(dir, "plain")), JOURNAL_NAME),
      );
      assert.ok(compacted && compacted.units.length === 60);
      assert.deepEqual(compacted, plain);
      // A journal resumed from a snapshot keeps appending after it, and compacts again.
      const resumed = new Journal(make(), { compactAfterRecords: 10, compactAfterFlushes: 10 });
      await resumed.read();
      for (let i = 60; i < 80; i++) await resumed.append(unit(i));
      await resumed.close();
      assert.equal((await replay(make()))?.units.length, 80);
      await new Journal(make()).remove();
      assert.deepEqual(
        readdirSync(dir).filter((n) => n.startsWith("journal")),
        [],
      );
    });
  }

  it("an object log cut short while removing still reads as a journal of this job (a valid prefix)", async () => {
    const dir = join(await tempDir(), ".expo");
    const storage = new LocalStorage(dir);
    const journal = new Journal(new ObjectAppendLog(storage, JOURNAL_NAME));
    await journal.append(start);
    for (let i = 0; i < 5; i++) await journal.append(unit(i));
    await journal.close();
    // What a removal cut short can leave: some appends gone, never the first object (removed last).
    for (const n of ["journal-00000003.jsonl", "journal-00000005.jsonl"]) await storage.delete(n);
    const c = await new Journal(new ObjectAppendLog(storage, JOURNAL_NAME)).read();
    assert.deepEqual([...(c?.units.keys() ?? [])].sort(), [0, 2, 4]);
  });
});
