// Every multipart upload open for the job's output shards is aborted: the ones the job opened (known by id, for
// stores that cannot list uploads), and any other one open under a shard's name, which only an earlier attempt
// at this job can have left (a CreateMultipartUpload retried after its reply was lost, a coordinator killed
// between opening its uploads and journaling them). Run on failure, and after the commit for the strays.
// Never touches the inputs.
import type { JobPlan } from "../core/plan.js";
import type { Storage } from "../storage/types.js";
import type { UploadIds } from "./finalize.js";

export async function abortUploads(plan: JobPlan, outputs: readonly Storage[], uploads: UploadIds): Promise<void> {
  await Promise.all(
    plan.outputs.map(async (o, k) => {
      const storage = outputs[k] as Storage;
      const shards = new Set(o.shards.map((s) => s.file));
      const ids = new Map<string, string>();
      for (const s of o.shards) {
        const id = uploads[k]?.[s.file];
        if (id) ids.set(`${s.file}\n${id}`, s.file);
      }
      // Best effort: a store that cannot list uploads (s3rver) still gets the job's own aborted.
      const open = await storage.listUploads().catch(() => []);
      for (const u of open) if (shards.has(u.name)) ids.set(`${u.name}\n${u.uploadId}`, u.name);
      await Promise.all(
        [...ids].map(([key, name]) => storage.abortMultipart(name, key.slice(name.length + 1)).catch(() => undefined)),
      );
    }),
  );
}
