// An output written to S3 checked against the same job run locally: data sections of the shards and every other
// file byte for byte (headers name the input locations, the report names times), and nothing else under the
// output prefix: no journal, no temporaries, no stray objects.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { getObject, listKeys, openUploads } from "../../harness/s3Objects.js";

/** Every file of a local output except the report (which names locations and times) equals the S3 copy. */
export async function assertSameAsLocal(client: S3Client, localDir: string, bucket: string, prefix: string) {
  const files = readdirSync(localDir).filter((f) => f !== "expo-report.json");
  assert.ok(files.some((f) => f.endsWith(".safetensors")));
  for (const f of files) {
    const remote = await getObject(client, bucket, `${prefix}/${f}`);
    const local = readFileSync(join(localDir, f));
    if (f.endsWith(".safetensors")) {
      // Headers name the input locations; the data must be identical.
      assert.ok(dataSection(local).equals(dataSection(remote)), `${f}: data identical to the local run`);
    } else {
      assert.ok(local.equals(remote), `${f} identical`);
    }
  }
}

/** The output prefix holds exactly the files of the local run (the checkpoint and its report), nothing more. */
export async function assertOnlyCheckpoint(client: S3Client, localDir: string, bucket: string, prefix: string) {
  const keys = await listKeys(client, bucket, `${prefix}/`);
  assert.deepEqual(
    keys.map((k) => k.slice(prefix.length + 1)),
    readdirSync(localDir).sort(),
    "nothing under the output prefix but the checkpoint and its report",
  );
}

export function dataSection(shard: Buffer): Buffer {
  return shard.subarray(8 + Number(shard.readBigUInt64LE(0)));
}

/** Open multipart uploads for the output's shards (by exact key: MinIO lists no others after a restart). */
export async function openOutputUploads(client: S3Client, localDir: string, bucket: string, prefix: string) {
  const shards = readdirSync(localDir).filter((f) => f.endsWith(".safetensors"));
  return openUploads(
    client,
    bucket,
    shards.map((f) => `${prefix}/${f}`),
  );
}
