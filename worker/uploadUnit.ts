import { createHash } from "node:crypto";
import type { JobContext, PartReport } from "../coordinator/leaseService.js";
import type { WorkUnit } from "../coordinator/plan.js";
import type { Storage } from "../storage/types.js";

/** Writes the unit's part to every output (part 1 prefixed with that output's header). */
export async function uploadUnit(
  unit: WorkUnit,
  job: JobContext,
  outputs: Storage[],
  outs: Buffer[],
): Promise<PartReport[]> {
  const length = unit.dataEnd - unit.dataStart;
  return Promise.all(
    job.outputs.map(async (output, k) => {
      const shard = output.shards[unit.shard];
      if (!shard) throw new Error(`${output.location}: no upload for shard ${unit.shard}`);
      const data = (outs[k] as Buffer).subarray(0, length);
      const chunks = unit.partNumber === 1 ? [shard.header, data] : [data];
      const offset = unit.partNumber === 1 ? 0 : shard.header.length + unit.dataStart;
      const hash = createHash("sha256");
      for (const c of chunks) hash.update(c);
      const sha256 = hash.digest("hex");
      const written = await (outputs[k] as Storage).writePart(
        unit.shard,
        shard.uploadId,
        unit.partNumber,
        offset,
        chunks,
      );
      const size = chunks.reduce((n, c) => n + c.length, 0);
      return {
        output: k,
        partNumber: unit.partNumber,
        etag: written.etag,
        checksumSha256: written.checksumSha256,
        sha256,
        offset,
        size,
      };
    }),
  );
}
