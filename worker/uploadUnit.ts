import { createHash } from "node:crypto";
import { setImmediate } from "node:timers/promises";
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
      const sha256 = await sha256Hex(chunks);
      const storage = outputs[k] as Storage;
      const written = await storage.writePart(unit.shard, shard.uploadId, unit.partNumber, offset, chunks, sha256);
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

/**
 * SHA-256 in slices with a turn of the event loop between them: hashing a 64 MiB part must not hold
 * up the reads and writes of the other units in flight. (WebCrypto's off-thread digest copies its
 * input, which costs more memory and time than it saves here.)
 */
async function sha256Hex(chunks: Buffer[]): Promise<string> {
  const hash = createHash("sha256");
  for (const chunk of chunks) {
    for (let at = 0; at < chunk.length; at += HASH_SLICE) {
      hash.update(chunk.subarray(at, at + HASH_SLICE));
      await setImmediate();
    }
  }
  return hash.digest("hex");
}

const HASH_SLICE = 4 * 1024 * 1024;
