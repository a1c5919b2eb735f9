import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";

export async function createBuckets(env: Record<string, string>, buckets: string[]): Promise<void> {
  const client = new S3Client({
    endpoint: env.AWS_ENDPOINT_URL,
    region: env.AWS_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID as string, secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string },
  });
  try {
    for (const b of buckets) await client.send(new CreateBucketCommand({ Bucket: b }));
  } finally {
    client.destroy();
  }
}

/** A user with MinIO's built-in read-only policy, added with the Go test tool test/tools/minio-admin. */
export async function createReadOnlyUser(endpoint: string, root: { user: string; password: string }) {
  const bin = [process.env.MINIO_ADMIN_BIN, join(homedir(), ".cache", "llm-expo", "bin", "minio-admin")].find(
    (c): c is string => Boolean(c && existsSync(c)),
  );
  if (!bin) throw new Error("minio-admin not built (.ci/run builds it from test/tools/minio-admin)");
  const user = { user: "expo-reader", password: "expo-reader-secret" };
  await promisify(execFile)(bin, [endpoint, root.user, root.password, user.user, user.password]);
  return user;
}
