// Storage over a local folder. Multipart outputs are temp files under <dir>/.expo/ written with
// positioned writes; completing one fsyncs it and renames it into place, so a reader never sees a
// partial shard under its final name.
import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import {
  access,
  constants,
  type FileHandle,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  rmdir,
  stat,
} from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { ObjectChangedError, UsageError } from "../core/errors.js";
import { FileAppendLog } from "./fileAppendLog.js";
import { syncFolder } from "./syncFolder.js";
import type { AppendLog, ObjectInfo, Storage, StorageLimits, WrittenPart } from "./types.js";
import { writeSynced } from "./writeSynced.js";

const TEMP_DIR = ".expo";

/** Size, mtime and inode: changes when the file is rewritten or replaced. */
function localEtag(s: Stats): string {
  return `${s.size}-${Math.trunc(s.mtimeMs * 1000)}-${s.ino}`;
}

export class LocalStorage implements Storage {
  readonly location: string;
  readonly wantsPartSha256 = false;
  readonly limits: StorageLimits = { minPartSize: 0, maxPartSize: Number.MAX_SAFE_INTEGER, maxParts: 1_000_000 };
  private readonly readers = new Map<string, Promise<FileHandle>>();
  private readonly pinned = new Map<string, string>();
  private readonly writers = new Map<string, Promise<FileHandle>>();
  /** Set when this instance created the folder: close() removes it again if nothing was committed. */
  private created = false;
  /** The topmost folder createExclusive had to make (the location or one above it): close() removes it if empty. */
  private createdRoot?: string;

  constructor(dir: string) {
    this.location = resolve(dir);
  }

  async exists(): Promise<boolean> {
    try {
      return (await stat(this.location)).isDirectory();
    } catch {
      return false;
    }
  }

  async list(): Promise<string[]> {
    const entries = await readdir(this.location, { withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort();
  }

  async stat(name: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await stat(this.path(name));
      if (!s.isFile()) return undefined;
      const etag = localEtag(s);
      this.pinned.set(name, etag);
      return { size: s.size, mtimeMs: s.mtimeMs, etag };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  pin(name: string, etag: string): void {
    this.pinned.set(name, etag);
  }

  async readRange(name: string, offset: number, length: number, into: Buffer, intoOffset: number): Promise<void> {
    let fh = this.readers.get(name);
    if (!fh) {
      fh = open(this.path(name), constants.O_RDONLY);
      this.readers.set(name, fh);
      fh.catch(() => this.readers.delete(name));
    }
    const handle = await fh;
    const pinned = this.pinned.get(name);
    if (pinned !== undefined && localEtag(await handle.stat()) !== pinned) {
      throw new ObjectChangedError(`${this.path(name)}: the file changed since the job was planned; restart the job`);
    }
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(into, intoOffset + done, length - done, offset + done);
      if (bytesRead === 0) {
        throw new Error(
          `${this.path(name)}: unexpected end of file at byte ${offset + done} (wanted ${offset + length})`,
        );
      }
      done += bytesRead;
    }
  }

  readSmall(name: string): Promise<Buffer> {
    return readFile(this.path(name));
  }

  async writeSmall(name: string, data: Buffer): Promise<void> {
    await this.makeTempDir();
    const temp = this.tempPath(randomBytes(8).toString("hex"), name);
    await writeSynced(temp, data);
    await rename(temp, this.path(name));
    await syncFolder(this.location);
  }

  /**
   * Written and fsync'ed under a temporary name in the folder itself, then hard-linked to `name`: link() fails
   * when `name` exists (atomically, on local file systems and NFS alike), and a reader never sees it half written.
   */
  async createExclusive(name: string, data: Buffer): Promise<boolean> {
    const temp = this.path(`.${name}.${randomBytes(8).toString("hex")}.tmp`);
    // The folder can vanish between mkdir and open: another process that released its lease removed it empty.
    for (let attempt = 0, written = false; !written; attempt++) {
      try {
        const made = await mkdir(this.location, { recursive: true });
        this.createdRoot ??= made;
        await writeSynced(temp, data, "wx");
        written = true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= 5) throw e;
      }
    }
    try {
      await link(temp, this.path(name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw e;
    } finally {
      await rm(temp, { force: true });
    }
    await syncFolder(this.location);
    return true;
  }

  async createMultipart(name: string, size: number): Promise<string> {
    await this.makeTempDir();
    const uploadId = randomBytes(8).toString("hex");
    const fh = await open(this.tempPath(uploadId, name), "wx");
    try {
      await fh.truncate(size);
    } finally {
      await fh.close();
    }
    return uploadId;
  }

  async writePart(
    name: string,
    uploadId: string,
    partNumber: number,
    offset: number,
    chunks: Buffer[],
  ): Promise<WrittenPart> {
    const temp = this.tempPath(uploadId, name);
    let fh = this.writers.get(temp);
    if (!fh) {
      fh = open(temp, constants.O_WRONLY);
      this.writers.set(temp, fh);
      fh.catch(() => this.writers.delete(temp));
    }
    const handle = await fh;
    let position = offset;
    for (const chunk of chunks) {
      let done = 0;
      while (done < chunk.length) {
        const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position + done);
        done += bytesWritten;
      }
      position += chunk.length;
    }
    // Flush each part as it is written: the disk works while other units compute, and completion's
    // fsync has little left to do.
    await handle.datasync();
    return { partNumber, etag: `${offset}-${position - offset}` };
  }

  async completeMultipart(name: string, uploadId: string, parts: WrittenPart[]): Promise<void> {
    const temp = this.tempPath(uploadId, name);
    await this.closeWriter(temp);
    let fh: FileHandle;
    try {
      fh = await open(temp, constants.O_RDWR);
    } catch (e) {
      // Renamed into place already (by a coordinator that died before recording its commit) when the file
      // there has the size these parts make.
      if ((e as NodeJS.ErrnoException).code === "ENOENT" && (await this.completedAs(name, parts))) return;
      throw e;
    }
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, this.path(name));
    await syncFolder(this.location);
  }

  async abortMultipart(name: string, uploadId: string): Promise<void> {
    const temp = this.tempPath(uploadId, name);
    await this.closeWriter(temp);
    await rm(temp, { force: true });
    await rmdir(join(this.location, TEMP_DIR)).catch(() => undefined);
  }

  async listUploads(name: string): Promise<string[]> {
    let entries: string[];
    try {
      entries = await readdir(join(this.location, TEMP_DIR));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
    return entries.flatMap((f) => {
      const m = /^upload-([0-9a-f]{16})-(.+)$/.exec(f);
      return m && m[2] === name ? [m[1] as string] : [];
    });
  }

  async delete(name: string): Promise<void> {
    await rm(this.path(name), { force: true });
  }

  async removeIfEmpty(): Promise<void> {
    await rmdir(join(this.location, TEMP_DIR)).catch(() => undefined);
    await rmdir(this.location).catch(() => undefined);
  }

  appendLog(name: string): AppendLog {
    return new FileAppendLog(this.path(name));
  }

  /** The folder, or the nearest existing folder above it, must be a writable folder. */
  async checkWritable(): Promise<void> {
    let dir = this.location;
    for (;;) {
      try {
        const s = await stat(dir);
        if (!s.isDirectory()) throw new UsageError(`${this.location}: ${dir} is not a folder`);
        await access(dir, constants.W_OK);
        return;
      } catch (e) {
        if (e instanceof UsageError) throw e;
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== "ENOENT" && code !== "ENOTDIR")
          throw new UsageError(`${this.location}: ${dir} is not writable (${code})`);
        if (dirname(dir) === dir) return;
        dir = dirname(dir);
      }
    }
  }

  /** Symbolic links of the longest existing prefix resolved. */
  async realLocation(): Promise<string> {
    let head = this.location;
    const tail: string[] = [];
    for (;;) {
      try {
        return join(await realpath(head), ...tail);
      } catch {
        const parent = dirname(head);
        if (parent === head) return this.location;
        tail.unshift(basename(head));
        head = parent;
      }
    }
  }

  async close(): Promise<void> {
    const handles = [...this.readers.values(), ...this.writers.values()];
    this.readers.clear();
    this.writers.clear();
    await Promise.all(handles.map((p) => p.then((h) => h.close()).catch(() => undefined)));
    await rmdir(join(this.location, TEMP_DIR)).catch(() => undefined);
    if (this.created) await rmdir(this.location).catch(() => undefined);
    if (this.createdRoot !== undefined) await removeEmptyUpTo(this.location, this.createdRoot);
  }

  /** The parts' etags are `offset-length` (writePart): the completed file ends where the last part ends. */
  private async completedAs(name: string, parts: WrittenPart[]): Promise<boolean> {
    const end = Math.max(
      0,
      ...parts.map((p) => {
        const [offset, length] = p.etag.split("-").map(Number);
        return (offset ?? 0) + (length ?? 0);
      }),
    );
    const s = await stat(this.path(name)).catch(() => undefined);
    return s?.isFile() === true && s.size === end;
  }

  private async makeTempDir(): Promise<void> {
    if (!(await this.exists())) this.created = true;
    await mkdir(join(this.location, TEMP_DIR), { recursive: true });
  }

  private path(name: string): string {
    return join(this.location, name);
  }

  private tempPath(uploadId: string, name: string): string {
    return join(this.location, TEMP_DIR, `upload-${uploadId}-${name}`);
  }

  private async closeWriter(temp: string): Promise<void> {
    const fh = this.writers.get(temp);
    if (!fh) return;
    this.writers.delete(temp);
    await fh.then((h) => h.close()).catch(() => undefined);
  }
}

/** Removes `dir` and the folders above it up to `top`, stopping at the first that is not empty. */
async function removeEmptyUpTo(dir: string, top: string): Promise<void> {
  for (let d = dir; d.startsWith(top); d = dirname(d)) {
    try {
      await rmdir(d);
    } catch (e) {
      // Gone already (another storage over a folder inside removed it) is fine; not empty ends the climb.
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") return;
    }
  }
}
