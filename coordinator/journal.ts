// The coordinator's append-only journal: the job's identity, its multipart upload ids and input
// versions (first record), then every finished unit's report and every failed attempt. A restarted
// coordinator replays it and does not redo finished units. Appends are group-committed: every
// record written while a flush is in progress goes into the next one, and append() resolves once
// its records are durable (fdatasync locally; one PUT per flush on S3, where objects cannot grow).
import { type FileHandle, mkdir, open, readFile, rm, rmdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { UsageError } from "../checkpoint/errors.js";
import { openStorage } from "../storage/openStorage.js";
import type { Storage } from "../storage/types.js";
import type { UnitReport } from "./leaseService.js";

export interface JournalStart {
  type: "start";
  version: 1;
  jobId: string;
  specHash: string;
  tool: { name: string; version: string };
  createdAt: string;
  inputs: { base: Record<string, string>; aligned: Record<string, string> };
  /** uploads[k][shard file] = multipart upload id of output k's shard. */
  uploads: Array<Record<string, string>>;
}

export type JournalRecord =
  | JournalStart
  | { type: "unit"; report: UnitReport }
  | { type: "retry"; unitId: number; attempt: number; error: string };

interface Log {
  readonly where: string;
  readLines(): Promise<string[] | undefined>;
  write(text: string): Promise<void>;
  remove(): Promise<void>;
  close(): Promise<void>;
}

export const JOURNAL_FILE = "journal.jsonl";

export class Journal {
  private pending: string[] = [];
  private flushing?: Promise<void>;
  private failed?: Error;

  private constructor(private readonly log: Log) {}

  /** The journal in folder or S3 prefix `location` (created on first append). */
  static open(location: string): Journal {
    return new Journal(location.startsWith("s3://") ? new ObjectLog(openStorage(location)) : new FileLog(location));
  }

  /** Where it lives, for messages. */
  get where(): string {
    return this.log.where;
  }

  /** Every record, in order; undefined when there is no journal. A torn last line (a crash mid-append) is dropped. */
  async read(): Promise<JournalRecord[] | undefined> {
    const lines = await this.log.readLines();
    if (!lines) return undefined;
    const records: JournalRecord[] = [];
    for (const [i, line] of lines.entries()) {
      if (line === "") continue;
      try {
        records.push(JSON.parse(line) as JournalRecord);
      } catch {
        if (i === lines.length - 1) break;
        throw new UsageError(`${this.where}: line ${i + 1} is not a journal record (remove the journal to start over)`);
      }
    }
    if (records.length > 0 && records[0]?.type !== "start") {
      throw new UsageError(`${this.where}: does not start with a job record (remove the journal to start over)`);
    }
    return records;
  }

  /** Resolves once the records are durable. */
  async append(...records: JournalRecord[]): Promise<void> {
    if (this.failed) throw this.failed;
    for (const r of records) this.pending.push(`${JSON.stringify(r)}\n`);
    while (this.pending.length > 0 || this.flushing) {
      if (this.flushing) {
        await this.flushing;
        continue;
      }
      const text = this.pending.join("");
      this.pending = [];
      this.flushing = this.log.write(text).finally(() => {
        this.flushing = undefined;
      });
      try {
        await this.flushing;
      } catch (e) {
        this.failed = new Error(`journal ${this.where}: ${(e as Error).message}`);
        throw this.failed;
      }
      return;
    }
  }

  /** Releases the journal's file handle or client, keeping the journal (a suspended job resumes from it). */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    await this.log.close();
  }

  /** Removes the journal once the output is committed (or aborted): waits for appends in flight. */
  async remove(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    await this.log.remove();
  }
}

/** A local file appended to and fdatasync'ed per flush. */
class FileLog implements Log {
  readonly where: string;
  private fh?: FileHandle;

  constructor(private readonly dir: string) {
    this.where = join(dir, JOURNAL_FILE);
  }

  async readLines(): Promise<string[] | undefined> {
    try {
      return (await readFile(this.where, "utf8")).split("\n");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new UsageError(`${this.where}: cannot read journal (${(e as NodeJS.ErrnoException).code})`);
    }
  }

  async write(text: string): Promise<void> {
    // Opened once (O_APPEND) and kept: an open per flush cost more than the flush's own writing.
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
    await rmdir(this.dir).catch(() => undefined);
  }
}

/** Objects journal-00000001.jsonl, ... under an S3 prefix: one PUT per flush. */
class ObjectLog implements Log {
  readonly where: string;
  private next = 1;

  constructor(private readonly storage: Storage) {
    this.where = `${storage.location}/journal-*.jsonl`;
  }

  private async names(): Promise<string[]> {
    if (!(await this.storage.exists())) return [];
    return (await this.storage.list()).filter((n) => /^journal-\d{8}\.jsonl$/.test(n)).sort();
  }

  async readLines(): Promise<string[] | undefined> {
    const names = await this.names();
    if (names.length === 0) return undefined;
    this.next = Number(names.at(-1)?.slice(8, 16)) + 1;
    const texts = await Promise.all(names.map((n) => this.storage.readSmall(n)));
    return texts
      .map((t) => t.toString("utf8"))
      .join("")
      .split("\n");
  }

  async write(text: string): Promise<void> {
    const name = `journal-${String(this.next).padStart(8, "0")}.jsonl`;
    this.next++;
    await this.storage.writeSmall(name, Buffer.from(text));
  }

  async remove(): Promise<void> {
    for (const n of await this.names()) await this.storage.delete(n);
    await this.storage.close();
  }

  close(): Promise<void> {
    return this.storage.close();
  }
}
