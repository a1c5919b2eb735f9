// An append-only log as one local file, opened once with O_APPEND and fdatasync'ed per append: an open per
// append cost more than the append's own writing.
import { type FileHandle, mkdir, open, readFile, rm, rmdir } from "node:fs/promises";
import { dirname } from "node:path";
import { UsageError } from "../core/errors.js";
import type { AppendLog } from "./types.js";

export class FileAppendLog implements AppendLog {
  private fh?: FileHandle;

  constructor(readonly where: string) {}

  async read(): Promise<string | undefined> {
    try {
      return await readFile(this.where, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      throw new UsageError(`${this.where}: cannot read (${code})`);
    }
  }

  async append(text: string): Promise<void> {
    if (!this.fh) {
      await mkdir(dirname(this.where), { recursive: true });
      this.fh = await open(this.where, "a");
    }
    await this.fh.writeFile(text);
    await this.fh.datasync();
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }

  async remove(): Promise<void> {
    await this.close();
    await rm(this.where, { force: true });
    // Only when empty: an output's temporary files may share the folder.
    await rmdir(dirname(this.where)).catch(() => undefined);
  }
}
