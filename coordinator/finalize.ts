// Commit order: shards, non-weight files, report, and last the index (or, for a single-file
// checkpoint, the one shard): a reader never sees a complete-looking partial output. Every step can be done
// again (a restarted coordinator finishing a commit cut short completes shards that are complete already).
// A commit that fails for good deletes what it wrote, so a failed job leaves nothing; one that fails because
// storage stayed unreachable keeps it all for the restart that finishes the commit.
import PQueue from "p-queue";
import { INDEX_FILE } from "../checkpoint/types.js";
import { LeaseLostError, StorageUnavailableError } from "../core/errors.js";
import type { UnitReport } from "../core/leaseService.js";
import { type ExpoReport, REPORT_FILE } from "../core/report.js";
import { settleAll } from "../core/settleAll.js";
import type { PlannedJob } from "../plan/prepareJob.js";
import { buildReport } from "../report/buildReport.js";
import type { Storage } from "../storage/types.js";

const COMMITS_IN_FLIGHT = 16;

/** uploads[k][shard file]: the multipart upload id of output k's shard. */
export type UploadIds = ReadonlyArray<Readonly<Record<string, string>>>;

export async function finalize(
  job: PlannedJob,
  reports: ReadonlyMap<number, UnitReport>,
  uploads: UploadIds,
): Promise<ExpoReport[]> {
  const written: Array<{ storage: Storage; file: string }> = [];
  try {
    return await commit(job, reports, uploads, written);
  } catch (e) {
    // Kept for the restart (an outage), or for the coordinator that took the output over (a lost lease).
    if (!(e instanceof StorageUnavailableError || e instanceof LeaseLostError))
      await Promise.all(written.map(({ storage, file }) => storage.delete(file).catch(() => undefined)));
    throw e;
  }
}

async function commit(
  job: PlannedJob,
  reports: ReadonlyMap<number, UnitReport>,
  uploads: UploadIds,
  written: Array<{ storage: Storage; file: string }>,
): Promise<ExpoReport[]> {
  const { plan, spec, aligned, base } = job;
  const result: ExpoReport[] = [];
  for (const [k, output] of plan.outputs.entries()) {
    const storage = job.outputs[k] as Storage;
    const complete = async (file: string) => {
      const shard = plan.shards.find((s) => s.file === file);
      const parts = (shard?.unitIds ?? []).map((id) => {
        const p = reports.get(id)?.parts.find((x) => x.output === k);
        if (!p) throw new Error(`${output.location}/${file}: unit ${id} has no part`);
        return { partNumber: p.partNumber, etag: p.etag, checksumSha256: p.checksumSha256 };
      });
      written.push({ storage, file });
      await storage.completeMultipart(file, uploads[k]?.[file] as string, parts);
    };
    const write = async (file: string, data: Buffer) => {
      written.push({ storage, file });
      await storage.writeSmall(file, data);
    };
    const commitShard = plan.layout.indexed ? undefined : output.shards[0]?.file;
    // Within a step the files are committed side by side: each is made durable on its own (a flush, a rename,
    // a folder sync; an S3 CompleteMultipartUpload), and concurrent flushes share the disk's journal commits.
    await eachSettled(
      output.shards.filter((s) => s.file !== commitShard),
      (s) => complete(s.file),
    );
    const report = buildReport(k, spec, plan, reports, aligned, base);
    await eachSettled([...aligned.otherFiles, REPORT_FILE], async (file) =>
      write(
        file,
        file === REPORT_FILE
          ? Buffer.from(`${JSON.stringify(report, null, 2)}\n`)
          : await aligned.storage.readSmall(file),
      ),
    );
    if (commitShard) {
      await complete(commitShard);
    } else {
      const index = {
        metadata: { ...plan.layout.indexMetadata, total_size: plan.layout.totalSize },
        weight_map: plan.layout.weightMap,
      };
      await write(INDEX_FILE, Buffer.from(`${JSON.stringify(index, null, 2)}\n`));
    }
    result.push(report);
  }
  return result;
}

/**
 * `task` for every item, at most COMMITS_IN_FLIGHT at once (a 405B output has ~200 shards); all settle before
 * the first failure is thrown, so the cleanup that follows sees every file that was written.
 */
async function eachSettled<T>(items: T[], task: (item: T) => Promise<void>): Promise<void> {
  const queue = new PQueue({ concurrency: COMMITS_IN_FLIGHT });
  await settleAll(items.map((item) => queue.add(() => task(item))));
}
