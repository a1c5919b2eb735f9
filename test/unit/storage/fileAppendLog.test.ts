// The local append log reads back as pieces that each end on a line, whatever the lines' lengths: a replay
// parses and frees one piece at a time, and no line is ever split between two.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { FileAppendLog } from "../../../storage/fileAppendLog.js";
import { tempDir } from "../../support/tempDir.js";

const MiB = 1024 * 1024;

describe("FileAppendLog", () => {
  it("reads a log of several MiB as pieces that each end on a line and together are the file", async () => {
    // Short lines, lines of a few hundred KiB, and one longer than a piece.
    const lines = [
      ...Array.from({ length: 3000 }, (_, i) => `{"type":"retry","unitId":${i}}`),
      ...Array.from({ length: 12 }, (_, i) => `{"type":"units","units":"${String(i).repeat(300_000)}"}`),
      `{"type":"units","units":"${"x".repeat(3 * MiB)}"}`,
      '{"type":"retry","unitId":1}',
    ];
    const text = `${lines.join("\n")}\n`;
    const where = join(await tempDir(), "journal.jsonl");
    writeFileSync(where, text);
    const pieces = (await new FileAppendLog(where).read()) ?? [];
    assert.ok(pieces.length > 3, `${pieces.length} pieces`);
    for (const piece of pieces) assert.equal(piece[piece.length - 1], 0x0a, "each piece ends on a line");
    assert.ok(pieces.filter((p) => p.length <= 2 * MiB).length >= pieces.length - 1, "pieces of about a MiB");
    assert.equal(Buffer.concat(pieces).toString(), text);
  });

  it("gives back a torn last line as the end of the last piece", async () => {
    const where = join(await tempDir(), "journal.jsonl");
    const text = `${"a".repeat(MiB - 3)}\n${"b".repeat(10)}\n{"type":"ret`;
    writeFileSync(where, text);
    const pieces = (await new FileAppendLog(where).read()) ?? [];
    assert.equal(Buffer.concat(pieces).toString(), text);
    assert.equal(pieces.at(-1)?.toString().endsWith('{"type":"ret'), true);
  });

  it("reads an empty log as no pieces, and a missing one as none at all", async () => {
    const dir = await tempDir();
    writeFileSync(join(dir, "empty.jsonl"), "");
    assert.deepEqual(await new FileAppendLog(join(dir, "empty.jsonl")).read(), []);
    assert.equal(await new FileAppendLog(join(dir, "missing.jsonl")).read(), undefined);
  });
});
