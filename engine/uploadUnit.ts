import type { JobContext, PartReport } from "../core/leaseService.js";
import type { WorkUnit } from "../core/plan.js";
import { settleAll } from "../core/settleAll.js";
import { sha256 as nativeSha256 } from "../kernel/sha256.js";
import type { Storage } from "../storage/types.js";

/** Writes the unit's part to every output (part 1 prefixed with that output's header); every write settled. */
export async function uploadUnit(
  unit: WorkUnit,
  job: JobContext,
  outputs: Storage[],
  outs: Buffer[],
): Promise<PartReport[]> {
  const length = unit.dataEnd - unit.dataStart;
  return settleAll(
    job.outputs.map(async (output, k) => {
      const shard = output.shards[unit.shard];
      if (!shard) throw new Error(`${output.location}: no upload for shard ${unit.shard}`);
      const data = (outs[k] as Buffer).subarray(0, length);
      const chunks = unit.partNumber === 1 ? [shard.header, data] : [data];
      const offset = unit.partNumber === 1 ? 0 : shard.header.length + unit.dataStart;
      const storage = outputs[k] as Storage;
      // Hashed on the libuv pool, beside the write unless the store wants the checksum with the part.
      const hashing = nativeSha256(chunks).then((d) => d.toString("hex"));
      const checksum = storage.wantsPartSha256 ? await hashing : undefined;
      const written = await storage.writePart(unit.shard, shard.uploadId, unit.partNumber, offset, chunks, checksum);
      const sha256 = await hashing;
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
