// sweep.json and sweep.svg into the report location (a folder or an s3:// prefix), each written whole.
import { SWEEP_PLOT_FILE, SWEEP_REPORT_FILE, type SweepReport } from "../core/sweep.js";
import type { Storage } from "../storage/types.js";
import { renderSweepSvg } from "./renderSweepSvg.js";

export async function writeSweepReport(storage: Storage, report: SweepReport): Promise<void> {
  await storage.writeSmall(SWEEP_REPORT_FILE, Buffer.from(`${JSON.stringify(report, null, 2)}\n`));
  await storage.writeSmall(SWEEP_PLOT_FILE, Buffer.from(renderSweepSvg(report)));
}
