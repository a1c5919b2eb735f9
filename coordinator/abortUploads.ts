// Every multipart upload open for the job's output shards is aborted: the ones the job opened (known by id, for
// stores that cannot list uploads), and any other one open under a shard's name, which only an earlier attempt
// at this job can have left (a CreateMultipartUpload retried after its reply was lost, a coordinator killed
// between opening its uploads and journaling them). Run on failure, and after the commit for the strays.
// Never touches the inputs.
import type { JobPlan } from "../core/plan.js";
import type { Storage } from "../storage/types.js";
import type { UploadIds } from "./finalize.js";

/** Shards listed and aborted at once: a 405B output has ~190. */
const CONCURRENCY = 16;

export async function abortUploads(plan: JobPlan, outputs: readonly Storage[], uploads: UploadIds): Promise<void> {
  const shards = plan.outputs.flatMap((o, k) => o.shards.map((s) => ({ k, file: s.file })));
  for (let i = 0; i < shards.length; i += CONCURRENCY) {
    await Promise.all(
      shards.slice(i, i + CONCURRENCY).map(async ({ k, file }) => {
        const storage = outputs[k] as Storage;
        const ids = new Set<string>();
        const own = uploads[k]?.[file];
        if (own) ids.add(own);
        // Best effort: a store that cannot list uploads (s3rver) still gets the job's own aborted.
        for (const id of await storage.listUploads(file).catch(() => [])) ids.add(id);
        await Promise.all([...ids].map((id) => storage.abortMultipart(file, id).catch(() => undefined)));
      }),
    );
  }
}
