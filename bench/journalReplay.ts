// Journals of 100k-unit jobs and their replay (issue 12): for the Llama-3.1-405B pair (~97k units at 8 MiB) and
// the DeepSeek-V3 index (~92k tensors, ~82k units), every unit's report (bench/syntheticReport.ts: statistics per
// extrapolated segment, one part) and a retry for 1 % of them go through a real Journal, group-committed 32 records
// at a time, into a local folder (FileAppendLog, fdatasync) and, where MinIO is built, into an S3 prefix (one
// object per flush). Then a fresh process (replayJournalChild.js) plans the job and replays the journal as a
// restarted coordinator would: time per step and peak RSS. Side by side, the same records journaled without
// compaction (every record in the tail): the baseline. Targets: replay <= 2 s, peak RSS <= 300 MiB.
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JOURNAL_NAME, Journal, type JournalRecord } from "../coordinator/journal.js";
import { packReport } from "../coordinator/packReport.js";
import { s3StorageSettings, startMinio } from "../harness/s3Servers.js";
import { openStorage } from "../storage/openStorage.js";
import type { StorageSettings } from "../storage/s3Settings.js";
import { StorageRetry } from "../storage/storageRetry.js";
import type { AppendLog } from "../storage/types.js";
import type { ReplayResult } from "./replayJournalChild.js";
import { runJsonChild } from "./runJsonChild.js";
import { type ScaleJob, type ScaleLayout, scaleJob } from "./scaleJob.js";
import { seededRandom, syntheticStart } from "./syntheticJournal.js";
import { syntheticReport } from "./syntheticReport.js";

const MiB = 1024 * 1024;
const BATCH = 32;

export interface JournalWrite {
  records: number;
  flushes: number;
  compactions: number;
  seconds: number;
}

/** Journals every unit of the job (and a retry for 1 % of them) at `location`; `compact: false` never compacts. */
async function writeJournal(
  job: ScaleJob,
  location: string,
  settings: StorageSettings,
  compact: boolean,
): Promise<JournalWrite> {
  const counted = countWrites(openStorage(location, settings).appendLog(JOURNAL_NAME));
  const journal = new Journal(
    counted.log,
    compact ? {} : { compactAfterRecords: Number.POSITIVE_INFINITY, compactAfterFlushes: Number.POSITIVE_INFINITY },
  );
  const random = seededRandom();
  const t0 = performance.now();
  await journal.append(syntheticStart(job.spec, job.plan));
  const records: JournalRecord[] = [];
  for (const unit of job.plan.units) {
    if (unit.id % 100 === 7) records.push({ type: "retry", unitId: unit.id, attempt: 1, error: "lease expired" });
    records.push({ type: "unit", unit: packReport(syntheticReport(unit, job.plan.outputs.length, random)) });
  }
  for (let i = 0; i < records.length; i += BATCH)
    await Promise.all(records.slice(i, i + BATCH).map((r) => journal.append(r)));
  await journal.close();
  return {
    records: records.length + 1,
    flushes: counted.flushes(),
    compactions: counted.rewrites(),
    seconds: (performance.now() - t0) / 1000,
  };
}

function countWrites(log: AppendLog) {
  let flushes = 0;
  let rewrites = 0;
  return {
    flushes: () => flushes,
    rewrites: () => rewrites,
    log: {
      where: log.where,
      read: () => log.read(),
      append: (text: string) => {
        flushes++;
        return log.append(text);
      },
      rewrite: (text: string) => {
        rewrites++;
        return log.rewrite(text);
      },
      remove: () => log.remove(),
      close: () => log.close(),
    } satisfies AppendLog,
  };
}

function replayChild(layout: ScaleLayout, location: string, env: NodeJS.ProcessEnv = {}): Promise<ReplayResult> {
  return runJsonChild<ReplayResult>("replayJournalChild.js", [layout, location], env);
}

function line(what: string, w: JournalWrite, r: ReplayResult, bytes?: number): string {
  const replay = r.readSeconds + r.replaySeconds + r.startSeconds;
  return `  ${what}: wrote ${w.records} records in ${w.flushes} flushes, ${w.compactions} compactions, ${w.seconds.toFixed(1)} s${bytes === undefined ? "" : `, ${(bytes / MiB).toFixed(1)} MiB on disk`}; replay of ${r.unitsDone} done units: read ${r.readSeconds.toFixed(2)} s + check/unpack ${r.replaySeconds.toFixed(2)} s + start ${r.startSeconds.toFixed(2)} s = ${replay.toFixed(2)} s (target <= 2 s); plan ${r.planSeconds.toFixed(2)} s; peak RSS ${(r.peakRssBytes / MiB).toFixed(0)} MiB (target <= 300 MiB)`;
}

export async function benchJournalReplay(layouts: ScaleLayout[] = ["llama-405b", "deepseek-v3"]): Promise<void> {
  const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), "llm-expo-journal-"));
  const local: StorageSettings = {
    s3: { forcePathStyle: false, region: "us-east-1", maxSockets: 64, partChecksums: true },
    retry: new StorageRetry({ timeoutMs: 60_000 }),
  };
  const minio = await startMinio(["journals"]);
  // The S3 client takes its credentials from the environment, as the CLI's does.
  if (minio) Object.assign(process.env, minio.env);
  try {
    for (const layout of layouts) {
      const job = scaleJob(layout, 8 * MiB);
      console.log(`${layout}: ${job.plan.units.length} units, ${job.aligned.tensors.size} tensors`);
      for (const compact of [true, false]) {
        const dir = join(root, `${layout}-${compact ? "compacted" : "tail"}`);
        const w = await writeJournal(job, dir, local, compact);
        const bytes = (await stat(join(dir, JOURNAL_NAME))).size;
        const r = await replayChild(layout, dir);
        console.log(line(`local folder, ${compact ? "compacting" : "never compacted (baseline)"}`, w, r, bytes));
        await rm(dir, { recursive: true, force: true });
      }
      if (minio) {
        for (const compact of [true, false]) {
          const location = `s3://journals/${layout}-${compact ? "compacted" : "tail"}`;
          const w = await writeJournal(job, location, s3StorageSettings(minio), compact);
          const r = await replayChild(layout, location, minio.env);
          console.log(
            line(`S3 prefix (MinIO on loopback), ${compact ? "compacting" : "never compacted (baseline)"}`, w, r),
          );
        }
      } else console.log("  S3: skipped (MinIO not built: .ci/run builds it, or set MINIO_BIN)");
    }
  } finally {
    await minio?.stop();
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop() as string)) {
  // `node dist/bench/journalReplay.js llama-405b`: that layout only.
  const only = process.argv.slice(2) as ScaleLayout[];
  await benchJournalReplay(only.length > 0 ? only : undefined);
}
