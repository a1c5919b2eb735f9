// Flags and endings shared by `sweep` (one machine) and `sweep-report` (the report Job on Kubernetes): where
// the report goes, what to keep, the sweep's /metrics and how long it lingers after the report.
import type { Argv } from "yargs";
import { UsageError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { Conclusion } from "../sweep/concludeSweep.js";

export function sweepReportOptions<T>(y: Argv<T>) {
  return y
    .option("report", {
      type: "string",
      describe: "folder or s3:// prefix for sweep.json and sweep.svg (and the sweep's journal)",
    })
    .option("keep", {
      choices: ["all", "best"] as const,
      default: "all" as const,
      describe: "best: delete every other candidate once the report is written (not when an evaluation failed)",
    })
    .option("linger", {
      type: "number",
      default: 0,
      describe: "seconds to keep serving /metrics after the report (a last scrape); SIGINT/SIGTERM end it",
    });
}

export function requireReport(report: string | undefined): string {
  if (report === undefined || report === "")
    throw new UsageError("missing --report (a folder or s3:// prefix for sweep.json and sweep.svg)");
  return report;
}

export function lingerSeconds(linger: number): number {
  if (!(linger >= 0)) throw new UsageError(`--linger ${linger}: must be a number of seconds >= 0`);
  return linger;
}

/** Waits `seconds`, or until `interrupted` resolves (a signal), with the metrics still served. */
export async function linger(seconds: number, interrupted: Promise<unknown>, log: Logger): Promise<void> {
  if (seconds <= 0) return;
  log.info(`serving metrics ${seconds} s more (SIGINT/SIGTERM end it)`);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, seconds * 1000))), interrupted]);
  clearTimeout(timer);
}

/** stdout: the report as JSON (--json), or a table of the scores and the conclusion. */
export function printSweepSummary(c: Conclusion, where: string, json: boolean): void {
  const { report, deleted } = c;
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...report, reportLocation: where, deleted })}\n`);
    return;
  }
  const rows: string[][] = [["α", "score", "seconds", "model"]];
  const fmt = (x: number | null) => (x === null ? "—" : String(Number(x.toPrecision(6))));
  rows.push(["0 (aligned)", fmt(report.baseline.score), "", report.baseline.model]);
  for (const r of report.results)
    rows.push([String(r.alpha), fmt(r.score), r.seconds === null ? "" : r.seconds.toFixed(1), r.model]);
  for (const f of report.failed) rows.push([String(f.alpha), "failed", "", `${f.model}: ${f.error}`]);
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  for (const r of rows)
    process.stdout.write(
      `${r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd()}\n`,
    );
  process.stdout.write(`${report.conclusion}\nreport: ${where}/sweep.json, ${where}/sweep.svg\n`);
  if (deleted.length > 0) process.stdout.write(`deleted (--keep best): ${deleted.join(", ")}\n`);
}
