// Turns a journal into what a restarted coordinator resumes from, after checking that it belongs to
// this job: the same spec, and inputs unchanged since the journal was started.
import { UsageError } from "../core/errors.js";
import type { UnitReport } from "../core/leaseService.js";
import type { JobPlan } from "../core/plan.js";
import type { JournalContents } from "./journal.js";
import { unpackReport } from "./unpackReport.js";

export interface Resume {
  uploads: Array<Record<string, string>>;
  /** Reports of finished units, by unit id. */
  reports: Map<number, UnitReport>;
  /** Failed attempts of units not finished, by unit id. */
  attempts: Map<number, number>;
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
  const reports = new Map<number, UnitReport>();
  for (const [unitId, packed] of contents.units) reports.set(unitId, unpackReport(packed, plan, where));
  const attempts = new Map([...contents.attempts].filter(([unitId]) => plan.units[unitId] !== undefined));
  return { uploads: start.uploads, reports, attempts };
}
