// The local backend's contract: positioned part writes land at their offsets, nothing is visible
// under the final name before completion, abort leaves nothing, and reads are pinned to the
// version recorded at planning.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ObjectChangedError } from "../../../core/errors.js";
import { LocalStorage } from "../../../storage/localStorage.js";
import { tempDir } from "../../support/tempDir.js";

describe("LocalStorage", () => {
  it("assembles parts written out of order; the object appears only on completion", async () => {
    const dir = join(await tempDir(), "out");
    const s = new LocalStorage(dir);
    const id = await s.createMultipart("a.bin", 10);
    await s.writePart("a.bin", id, 2, 4, [Buffer.from("efgh"), Buffer.from("ij")]);
    assert.equal(await s.stat("a.bin"), undefined, "not visible before completion");
    await s.writePart("a.bin", id, 1, 0, [Buffer.from("abcd")]);
    await s.completeMultipart("a.bin", id, []);
    assert.equal(readFileSync(join(dir, "a.bin"), "utf8"), "abcdefghij");
    await s.close();
    assert.deepEqual(readdirSync(dir), ["a.bin"], "no temp files left");
  });

  it("abort removes the temp file, and a folder it created", async () => {
    const dir = join(await tempDir(), "fresh");
    const s = new LocalStorage(dir);
    const id = await s.createMultipart("a.bin", 4);
    await s.writePart("a.bin", id, 1, 0, [Buffer.from("abcd")]);
    await s.abortMultipart("a.bin", id);
    await s.close();
    assert.ok(!existsSync(dir));
  });

  it("a read after the file changed since stat fails naming the file", async () => {
    const dir = await tempDir();
    const file = join(dir, "x.safetensors");
    writeFileSync(file, Buffer.alloc(64, 1));
    const s = new LocalStorage(dir);
    await s.stat("x.safetensors");
    const into = Buffer.alloc(8);
    await s.readRange("x.safetensors", 0, 8, into, 0);
    writeFileSync(file, Buffer.alloc(80, 2));
    await assert.rejects(s.readRange("x.safetensors", 8, 8, into, 0), (e: Error) => {
      assert.ok(e instanceof ObjectChangedError);
      assert.match(e.message, /x\.safetensors: the file changed since the job was planned/);
      return true;
    });
    await s.close();
  });

  it("a short file is an error, not a silent partial read", async () => {
    const dir = await tempDir();
    writeFileSync(join(dir, "y"), Buffer.alloc(10));
    const s = new LocalStorage(dir);
    await assert.rejects(s.readRange("y", 4, 8, Buffer.alloc(8), 0), /unexpected end of file/);
    await s.close();
  });
});
