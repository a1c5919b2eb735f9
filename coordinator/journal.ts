// The coordinator's append-only journal: the job's identity, its multipart upload ids and input versions
// (first record), then every finished unit's report and every failed attempt. A restarted coordinator replays it
// and does not redo finished units. Appends are group-committed: every record written while a flush is in
// progress goes into the next one, and append() resolves once its records are durable (the storage's AppendLog:
// fdatasync locally, one object per flush on S3).
//
// The journal keeps what it holds as state (the start record, the finished units' packed reports, the attempts
// spent on unfinished units) and compacts itself: once the records since the last snapshot outnumber the
// snapshot's units (or 1024 flushes have piled up), the log is rewritten as one snapshot of that state, so a
// replay reads one snapshot and a short tail however long the job ran.
import { LeaseLostError, StorageUnavailableError, UsageError } from "../core/errors.js";
import type { UnitReport } from "../core/leaseService.js";
import type { AppendLog } from "../storage/types.js";
import { type PackedReport, packReport } from "./packReport.js";

export interface JournalStart {
  type: "start";
  /** 1: unit records hold whole reports; 2: packed reports and snapshots (both are read). */
  version: 1 | 2;
  jobId: string;
  specHash: string;
  tool: { name: string; version: string };
  createdAt: string;
  inputs: { base: Record<string, string>; aligned: Record<string, string> };
  /** uploads[k][shard file] = multipart upload id of output k's shard. */
  uploads: Array<Record<string, string>>;
}

/** A failed attempt or an expired lease; `transient`: storage was unreachable, no attempt was spent. */
export interface JournalRetry {
  type: "retry";
  unitId: number;
  attempt: number;
  error: string;
  transient?: boolean;
}

/** What the coordinator appends: a finished unit's report comes packed (it keeps it packed too). */
export type JournalRecord = JournalStart | { type: "unit"; unit: PackedReport } | JournalRetry;

/** A line of the log: the records above as stored, and the snapshot's records. */
type StoredRecord =
  | JournalStart
  | JournalRetry
  | { type: "unit"; unit?: PackedReport; report?: UnitReport }
  | { type: "units"; units: PackedReport[] }
  | { type: "attempts"; attempts: Array<[number, number]> };

/** What a journal holds: everything a restarted coordinator resumes from (replayJournal.ts checks and unpacks it). */
export interface JournalContents {
  start: JournalStart;
  /** Packed reports of finished units, by unit id. */
  units: Map<number, PackedReport>;
  /** Attempts spent on units not finished, by unit id. */
  attempts: Map<number, number>;
}

export interface JournalOptions {
  /** Compact once this many records were appended since the last snapshot (and more than the snapshot holds). */
  compactAfterRecords?: number;
  /** Compact once this many flushes were made since the last snapshot (each an object on S3). */
  compactAfterFlushes?: number;
}

export const JOURNAL_NAME = "journal.jsonl";

/** Packed reports per line of a snapshot. */
// Lines of a few tens of KiB: each is parsed as a short-lived string the young generation collects at once.
const UNITS_PER_LINE = 100;

export class Journal {
  private pending: string[] = [];
  private pendingRecords = 0;
  private flushing?: Promise<void>;
  private failed?: Error;
  private closed = false;
  private contents?: JournalContents;
  private tailRecords = 0;
  private tailFlushes = 0;
  private snapshotUnits = 0;
  private readonly compactAfterRecords: number;
  private readonly compactAfterFlushes: number;

  constructor(
    private readonly log: AppendLog,
    options: JournalOptions = {},
  ) {
    this.compactAfterRecords = options.compactAfterRecords ?? 1024;
    this.compactAfterFlushes = options.compactAfterFlushes ?? 1024;
  }

  /** Where it lives, for messages. */
  get where(): string {
    return this.log.where;
  }

  /** What the journal holds; undefined when there is none. A torn last line (a crash mid-append) is dropped. */
  async read(): Promise<JournalContents | undefined> {
    const pieces = await this.log.read();
    if (pieces === undefined) return undefined;
    let line = 0;
    const count = pieces.length;
    for (let p = 0; p < count; p++) {
      // Taken out of the list: a piece is garbage once parsed, so the peak is what was parsed plus a piece.
      const bytes = pieces.shift() as Buffer;
      let at = 0;
      while (at < bytes.length) {
        const end = bytes.indexOf(0x0a, at);
        line++;
        // One line decoded at a time: never the whole journal as a string.
        const raw = bytes.toString("utf8", at, end < 0 ? bytes.length : end);
        at = end < 0 ? bytes.length : end + 1;
        if (raw === "") continue;
        let record: StoredRecord;
        try {
          record = JSON.parse(raw) as StoredRecord;
        } catch {
          // A line torn by a crash mid-append can only be the log's last.
          if (end < 0 && p === count - 1) break;
          throw new UsageError(
            `${this.where}: line ${line} is not a journal record (remove the journal to start over)`,
          );
        }
        if (!this.contents && record.type !== "start") {
          throw new UsageError(`${this.where}: does not start with a job record (remove the journal to start over)`);
        }
        this.apply(record);
        if (record.type === "units") this.snapshotUnits += record.units.length;
        else if (record.type !== "start" && record.type !== "attempts") this.tailRecords++;
      }
    }
    // Unknown: count the tail as one flush per record, so that a long tail is compacted at the next flush.
    this.tailFlushes = this.tailRecords;
    return this.contents;
  }

  /** Resolves once the records are durable. Refused once the journal is closed or removed. */
  async append(...records: JournalRecord[]): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.closed) throw new Error(`journal ${this.where}: closed`);
    for (const r of records) {
      this.pending.push(`${JSON.stringify(r)}\n`);
      this.pendingRecords++;
      this.apply(r);
    }
    while (this.pending.length > 0 || this.flushing) {
      if (this.flushing) {
        await this.flushing;
        continue;
      }
      // Closed while this append waited for the flush before it: the journal must not change any more.
      if (this.closed) throw new Error(`journal ${this.where}: closed`);
      const text = this.pending.join("");
      const count = this.pendingRecords;
      this.pending = [];
      this.pendingRecords = 0;
      await this.exclusive(() => this.log.append(text));
      this.tailRecords += count;
      this.tailFlushes++;
      if (this.compactionDue()) void this.exclusive(() => this.compact()).catch(() => undefined);
      return;
    }
  }

  /** Stops appends and waits for the flush in flight: after this the journal no longer changes. */
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

  /** Runs a write to the log as the one in flight; a failure fails the journal (its state is no longer the log's). */
  private exclusive(write: () => Promise<void>): Promise<void> {
    const run = write().then(
      () => {
        this.flushing = undefined;
      },
      (e: unknown) => {
        this.flushing = undefined;
        const message = `journal ${this.where}: ${e instanceof Error ? e.message : String(e)}`;
        // An outage stays an outage: the coordinator keeps journal and uploads for a restart. A lost output lease
        // stays one too: the coordinator stops without touching anything.
        this.failed =
          e instanceof LeaseLostError
            ? e
            : e instanceof StorageUnavailableError
              ? new StorageUnavailableError(message)
              : new Error(message);
        throw this.failed;
      },
    );
    this.flushing = run;
    return run;
  }

  private compactionDue(): boolean {
    return (
      this.tailFlushes >= this.compactAfterFlushes ||
      this.tailRecords >= Math.max(this.compactAfterRecords, this.snapshotUnits)
    );
  }

  /** Rewrites the log as a snapshot of its state. Records appended meanwhile follow it (replaying them twice is harmless). */
  private async compact(): Promise<void> {
    const c = this.contents;
    if (!c || this.closed) return;
    const units = [...c.units.values()];
    const lines = [JSON.stringify({ ...c.start, version: 2 })];
    for (let i = 0; i < units.length; i += UNITS_PER_LINE)
      lines.push(JSON.stringify({ type: "units", units: units.slice(i, i + UNITS_PER_LINE) }));
    lines.push(JSON.stringify({ type: "attempts", attempts: [...c.attempts] }));
    await this.log.rewrite(`${lines.join("\n")}\n`);
    this.snapshotUnits = units.length;
    this.tailRecords = 0;
    this.tailFlushes = 0;
  }

  /** A record's effect on the state: the same whether it was read back or just appended, and for duplicates. */
  private apply(r: StoredRecord): void {
    if (r.type === "start") {
      this.contents ??= { start: r, units: new Map(), attempts: new Map() };
      return;
    }
    const c = this.contents;
    if (!c) return;
    const done = (p: PackedReport) => {
      c.units.set(p[0], p);
      c.attempts.delete(p[0]);
    };
    const spent = (unitId: number, attempts: number) => {
      if (!c.units.has(unitId)) c.attempts.set(unitId, Math.max(c.attempts.get(unitId) ?? 0, attempts));
    };
    switch (r.type) {
      case "unit":
        if (r.unit) done(r.unit);
        else if (r.report) done(packReport(r.report));
        break;
      case "units":
        for (const p of r.units) done(p);
        break;
      case "retry":
        if (!r.transient) spent(r.unitId, r.attempt);
        break;
      case "attempts":
        for (const [unitId, n] of r.attempts) spent(unitId, n);
        break;
    }
  }
}
