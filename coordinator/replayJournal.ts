// Turns a journal into what a restarted coordinator resumes from, after checking that it belongs to
// this job: the same spec, and inputs unchanged since the journal was started.
import { UsageError } from "../core/errors.js";
import type { UnitReport } from "../core/leaseService.js";
import type { JobPlan } from "../core/plan.js";
import type { JournalRecord, JournalStart } from "./journal.js";

export interface Resume {
  uploads: Array<Record<string, string>>;
  /** Reports of finished units, by unit id. */
  reports: Map<number, UnitReport>;
  /** Failed attempts of units not finished, by unit id. */
  attempts: Map<number, number>;
}

export function replayJournal(
  where: string,
  records: JournalRecord[],
  plan: JobPlan,
  identity: { jobId: string; specHash: string },
): Resume {
  const start = records[0] as JournalStart;
  if (start.version !== 1) throw new UsageError(`${where}: journal version ${start.version} is not supported`);
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
  const units = new Set(plan.units.map((u) => u.id));
  const reports = new Map<number, UnitReport>();
  const attempts = new Map<number, number>();
  for (const r of records) {
    if (r.type === "unit" && units.has(r.report.unitId)) reports.set(r.report.unitId, r.report);
    if (r.type === "retry") attempts.set(r.unitId, Math.max(attempts.get(r.unitId) ?? 0, r.attempt));
  }
  for (const id of reports.keys()) attempts.delete(id);
  return { uploads: start.uploads, reports, attempts };
}
