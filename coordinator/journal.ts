// The coordinator's append-only journal: the job's identity, its multipart upload ids and input
// versions (first record), then every finished unit's report and every failed attempt. A restarted
// coordinator replays it and does not redo finished units. Appends are group-committed: every
// record written while a flush is in progress goes into the next one, and append() resolves once
// its records are durable (the storage's AppendLog: fdatasync locally, one object per flush on S3).
import { UsageError } from "../core/errors.js";
import type { UnitReport } from "../core/leaseService.js";
import type { AppendLog } from "../storage/types.js";

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

export const JOURNAL_NAME = "journal.jsonl";

export class Journal {
  private pending: string[] = [];
  private flushing?: Promise<void>;
  private failed?: Error;
  private closed = false;

  constructor(private readonly log: AppendLog) {}

  /** Where it lives, for messages. */
  get where(): string {
    return this.log.where;
  }

  /** Every record, in order; undefined when there is no journal. A torn last line (a crash mid-append) is dropped. */
  async read(): Promise<JournalRecord[] | undefined> {
    const text = await this.log.read();
    if (text === undefined) return undefined;
    const lines = text.split("\n");
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

  /** Resolves once the records are durable. Refused once the journal is closed or removed. */
  async append(...records: JournalRecord[]): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.closed) throw new Error(`journal ${this.where}: closed`);
    for (const r of records) this.pending.push(`${JSON.stringify(r)}\n`);
    while (this.pending.length > 0 || this.flushing) {
      if (this.flushing) {
        await this.flushing;
        continue;
      }
      // Closed while this append waited for the flush before it: the journal must not change any more.
      if (this.closed) throw new Error(`journal ${this.where}: closed`);
      const text = this.pending.join("");
      this.pending = [];
      this.flushing = this.log.append(text).finally(() => {
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

  /** Stops appends and waits for the one in flight: after this the journal no longer changes. */
  private async quiesce(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.flushing.catch(() => undefined);
  }

  /** Releases the journal's handles, keeping it (a suspended job resumes from it). */
  async close(): Promise<void> {
    await this.quiesce();
    await this.log.close();
  }

  /** Removes the journal once the output is committed (or aborted), after any append in flight has landed. */
  async remove(): Promise<void> {
    await this.quiesce();
    await this.log.remove();
  }
}
