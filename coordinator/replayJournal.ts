// Turns a journal into what a restarted coordinator resumes from, after checking that it belongs to
// this job: the same spec, and inputs unchanged since the journal was started.
import { UsageError } from "../core/errors.js";
import type { JobPlan } from "../core/plan.js";
import type { JournalContents } from "./journal.js";
import type { PackedReport } from "./packReport.js";
import { unpackReport } from "./unpackReport.js";

export interface Resume {
  uploads: Array<Record<string, string>>;
  /** Reports of finished units, by unit id: packed, each checked against the plan (the journal's own copies). */
  reports: ReadonlyMap<number, PackedReport>;
  /** Failed attempts of units not finished, by unit id. */
  attempts: Map<number, number>;
  /** Bytes the finished units read and wrote. */
  bytes: { read: number; written: number };
}

export function replayJournal(
  where: string,
  contents: JournalContents,
  plan: JobPlan,
  identity: { jobId: string; specHash: string },
): Resume {
  const { start } = contents;
  if (start.version !== 1 && start.version !== 2)
    throw new UsageError(`${where}: journal version ${start.version} is not supported`);
  if (start.specHash !== identity.specHash) {
    throw new UsageError(
      `${where}: belongs to a different job (started ${start.createdAt} with another spec); remove it to start over`,
    );
  }
  for (const side of ["base", "aligned"] as const) {
    const then = start.inputs[side];
    const now = plan.inputVersions[side];
    for (const file of new Set([...Object.keys(then), ...Object.keys(now)])) {
      if (then[file] !== now[file]) {
        throw new UsageError(
          `${where}: ${side} input ${file} changed since the journal was started (${then[file] ?? "absent"} then, ${now[file] ?? "absent"} now); remove the journal and the output to start over`,
        );
      }
    }
  }
  const bytes = { read: 0, written: 0 };
  for (const packed of contents.units.values()) {
    // Throws for a report that does not fit this plan, before anything is owned.
    const r = unpackReport(packed, plan, where);
    bytes.read += r.bytes.aligned + r.bytes.base;
    bytes.written += r.bytes.written;
  }
  const attempts = new Map([...contents.attempts].filter(([unitId]) => plan.units.has(unitId)));
  return { uploads: start.uploads, reports: contents.units, attempts, bytes };
}
