// Commit order: shards, non-weight files, report, and last the index (or, for a single-file
// checkpoint, the one shard): a reader never sees a complete-looking partial output.
import type { Checkpoint } from "../checkpoint/types.js";
import { INDEX_FILE } from "../checkpoint/types.js";
import type { Storage } from "../storage/types.js";
import { buildReport, type ExpoReport } from "./buildReport.js";
import type { Coordinator } from "./coordinator.js";

export const REPORT_FILE = "expo-report.json";

export async function finalize(coordinator: Coordinator, aligned: Checkpoint, base: Checkpoint): Promise<ExpoReport[]> {
  const { plan, spec, reports, outputs } = coordinator;
  const uploads = coordinator.uploadIds();
  const result: ExpoReport[] = [];
  for (const [k, output] of plan.outputs.entries()) {
    const storage = outputs[k] as Storage;
    const complete = async (file: string) => {
      const shard = plan.shards.find((s) => s.file === file);
      const parts = (shard?.unitIds ?? []).map((id) => {
        const p = reports.get(id)?.parts.find((x) => x.output === k);
        if (!p) throw new Error(`${output.location}/${file}: unit ${id} has no part`);
        return { partNumber: p.partNumber, etag: p.etag, checksumSha256: p.checksumSha256 };
      });
      await storage.completeMultipart(file, (uploads[k] as Record<string, string>)[file] as string, parts);
    };
    const commitShard = aligned.indexed ? undefined : output.shards[0]?.file;
    for (const s of output.shards) if (s.file !== commitShard) await complete(s.file);
    for (const file of aligned.otherFiles) await storage.writeSmall(file, await aligned.storage.readSmall(file));
    const report = buildReport(k, spec, plan, reports, aligned, base);
    await storage.writeSmall(REPORT_FILE, Buffer.from(`${JSON.stringify(report, null, 2)}\n`));
    if (commitShard) {
      await complete(commitShard);
    } else {
      const index = {
        metadata: { ...(aligned.index?.metadata ?? {}), total_size: plan.bytes.alignedRead },
        weight_map: aligned.index?.weight_map ?? {},
      };
      await storage.writeSmall(INDEX_FILE, Buffer.from(`${JSON.stringify(index, null, 2)}\n`));
    }
    result.push(report);
  }
  return result;
}

/** Aborts every upload the job opened; never touches the inputs. */
export async function abortUploads(coordinator: Coordinator): Promise<void> {
  const uploads = coordinator.uploadIds();
  await Promise.all(
    coordinator.plan.outputs.flatMap((o, k) =>
      o.shards.map((s) => {
        const id = uploads[k]?.[s.file];
        return id ? (coordinator.outputs[k] as Storage).abortMultipart(s.file, id).catch(() => undefined) : undefined;
      }),
    ),
  );
}
