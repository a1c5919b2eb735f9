// The sweep's journal, beside its report: the sweep's identity first, then one record per finished
// evaluation. A rerun (after Ctrl-C or a crash) reads it and does not evaluate again what already has a
// score; failures are recorded too, for the record, and evaluated again. Appends are serialized: several
// evaluations may finish at once.
import { UsageError } from "../core/errors.js";
import type { SweepFailure, SweepResult } from "../core/sweep.js";
import type { AppendLog } from "../storage/types.js";

export const SWEEP_JOURNAL_NAME = "sweep-journal.jsonl";

export type SweepRecord =
  | { type: "start"; version: 1; sweepId: string; createdAt: string }
  | ({ type: "evaluated"; attempts: number } & SweepResult)
  | ({ type: "failed" } & SweepFailure);

export class SweepJournal {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly log: AppendLog) {}

  get where(): string {
    return this.log.where;
  }

  /** Every record, in order; undefined when there is none. A torn last line (a crash mid-append) is dropped. */
  async read(): Promise<SweepRecord[] | undefined> {
    const pieces = await this.log.read();
    if (pieces === undefined) return undefined;
    const lines = Buffer.concat(pieces).toString("utf8").split("\n");
    const records: SweepRecord[] = [];
    for (const [i, line] of lines.entries()) {
      if (line === "") continue;
      try {
        records.push(JSON.parse(line) as SweepRecord);
      } catch {
        if (i === lines.length - 1) break;
        throw new UsageError(`${this.where}: line ${i + 1} is not a sweep record (remove the journal to start over)`);
      }
    }
    if (records.length > 0 && records[0]?.type !== "start")
      throw new UsageError(`${this.where}: does not start with a sweep record (remove the journal to start over)`);
    return records;
  }

  /** Resolves once the record is durable. */
  append(record: SweepRecord): Promise<void> {
    const next = this.tail.then(() => this.log.append(`${JSON.stringify(record)}\n`));
    this.tail = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.tail;
    await this.log.close();
  }

  async remove(): Promise<void> {
    await this.tail;
    await this.log.remove();
  }
}
