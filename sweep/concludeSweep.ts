// The end of a sweep, local or on Kubernetes: sweep.json and sweep.svg written, the chosen model published to
// the metrics, and with --keep best the other candidates deleted, unless an evaluation failed (its model
// could have been the best).
import type { Logger } from "../core/logger.js";
import type { SweepFailure, SweepReport, SweepResult } from "../core/sweep.js";
import type { Storage } from "../storage/types.js";
import { buildSweepReport } from "./buildSweepReport.js";
import { keepBest } from "./keepBest.js";
import type { Candidate } from "./sweepCandidates.js";
import type { SweepProgress } from "./sweepProgress.js";
import { writeSweepReport } from "./writeSweepReport.js";

export type KeepPolicy = "all" | "best";

export interface Conclusion {
  report: SweepReport;
  /** Candidates deleted by --keep best. */
  deleted: string[];
}

export async function concludeSweep(o: {
  reportStorage: Storage;
  candidates: readonly Candidate[];
  results: readonly SweepResult[];
  failures: readonly SweepFailure[];
  keep: KeepPolicy;
  open: (location: string) => Storage;
  progress: SweepProgress;
  log: Logger;
}): Promise<Conclusion> {
  const report = buildSweepReport(o.candidates, o.results, o.failures);
  await writeSweepReport(o.reportStorage, report);
  o.progress.best = report.best?.alpha;
  o.log.info(`report written to ${o.reportStorage.location}: ${report.conclusion}`, { best: report.best });
  let deleted: string[] = [];
  if (o.keep === "best" && report.best) {
    if (o.failures.length > 0) {
      o.log.warn(`--keep best: nothing deleted, ${o.failures.length} evaluation(s) failed`);
    } else {
      deleted = await keepBest(o.candidates, report.best.alpha, o.open);
      if (deleted.length > 0) o.log.info(`--keep best: deleted ${deleted.length} candidate(s)`, { deleted });
    }
  }
  return { report, deleted };
}
