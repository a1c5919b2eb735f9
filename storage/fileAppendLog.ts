// An append-only log as one local file, opened once and fdatasync'ed per append (an open per append cost more
// than the append's own writing). Appends are positional, at the end as this log knows it, so an append tried
// again after a failure writes the same bytes over whatever part of them landed instead of after it. A rewrite
// (compaction) goes to a temp file that is fsync'ed and renamed over the log.
import { constants } from "node:fs";
import { type FileHandle, mkdir, open, rename, rm, rmdir } from "node:fs/promises";
import { dirname } from "node:path";
import { UsageError } from "../core/errors.js";
import { syncFolder } from "./syncFolder.js";
import type { AppendLog } from "./types.js";
import { writeSynced } from "./writeSynced.js";

/** A reader frees each piece once it has parsed it: its peak holds a piece, not the log, beside what it parsed. */
const PIECE_BYTES = 1024 * 1024;

export class FileAppendLog implements AppendLog {
  private fh?: FileHandle;
  /** Bytes of the log that earlier appends made durable: where the next one goes. */
  private size = 0;

  constructor(readonly where: string) {}

  async read(): Promise<Buffer[] | undefined> {
    try {
      return await readInPieces(this.where, PIECE_BYTES);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      throw new UsageError(`${this.where}: cannot read (${code})`);
    }
  }

  async append(text: string): Promise<void> {
    const fh = await this.handle();
    const data = Buffer.from(text);
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await fh.write(data, done, data.length - done, this.size + done);
      done += bytesWritten;
    }
    await fh.datasync();
    this.size += data.length;
  }

  async rewrite(text: string): Promise<void> {
    await mkdir(dirname(this.where), { recursive: true });
    const temp = `${this.where}.compacting`;
    await writeSynced(temp, text);
    await this.close();
    await rename(temp, this.where);
    await syncFolder(dirname(this.where));
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }

  async remove(): Promise<void> {
    await this.close();
    await rm(this.where, { force: true });
    await rm(`${this.where}.compacting`, { force: true });
    // Only when empty: an output's temporary files may share the folder.
    await rmdir(dirname(this.where)).catch(() => undefined);
  }

  private async handle(): Promise<FileHandle> {
    if (!this.fh) {
      await mkdir(dirname(this.where), { recursive: true });
      const fh = await open(this.where, constants.O_RDWR | constants.O_CREAT);
      this.size = await completeLines(fh);
      this.fh = fh;
    }
    return this.fh;
  }
}

/**
 * The length of the file's complete lines. A line torn by a crash mid-append is cut off, so that what is
 * appended next starts on a line of its own (a reader drops a torn last line, but not one in the middle).
 */
async function completeLines(fh: FileHandle): Promise<number> {
  let end = (await fh.stat()).size;
  const chunk = Buffer.alloc(64 * 1024);
  for (let at = end; at > 0; ) {
    const from = Math.max(0, at - chunk.length);
    const { bytesRead } = await fh.read(chunk, 0, at - from, from);
    const newline = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (newline >= 0) {
      end = from + newline + 1;
      break;
    }
    at = from;
    if (at === 0) end = 0;
  }
  const size = (await fh.stat()).size;
  if (end < size) await fh.truncate(end);
  return end;
}

/** The file in pieces of about `size` bytes, each ending on a line (the last on whatever ends the file). */
async function readInPieces(path: string, size: number): Promise<Buffer[]> {
  const fh = await open(path, constants.O_RDONLY);
  try {
    const pieces: Buffer[] = [];
    let carry = Buffer.alloc(0);
    for (;;) {
      const chunk = Buffer.allocUnsafe(size);
      const { bytesRead } = await fh.read(chunk, 0, size, null);
      if (bytesRead === 0) break;
      const data =
        carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      const cut = data.lastIndexOf(0x0a) + 1;
      if (cut > 0) pieces.push(data.subarray(0, cut));
      // The rest of a line goes on with the next chunk: copied, so that a piece holds only its own chunk.
      carry = Buffer.from(data.subarray(cut));
    }
    if (carry.length > 0) pieces.push(carry);
    return pieces;
  } finally {
    await fh.close();
  }
}
