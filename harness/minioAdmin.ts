import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { testClient } from "./s3Objects.js";

/** A test tool built by .ci/run: from its environment variable, or in ~/.cache/llm-expo/bin. */
export function findTool(envVar: string, name: string): string | undefined {
  const candidates = [process.env[envVar], join(homedir(), ".cache", "llm-expo", "bin", name)];
  return candidates.find((c): c is string => Boolean(c && existsSync(c)));
}

export async function createBuckets(env: Record<string, string>, buckets: string[]): Promise<void> {
  const client = testClient(env);
  try {
    for (const b of buckets) await client.send(new CreateBucketCommand({ Bucket: b }));
  } finally {
    client.destroy();
  }
}

/**
 * A user who may list and read every bucket but write nothing, added with the Go test tool
 * test/tools/minio-admin.
 */
export async function createReadOnlyUser(endpoint: string, root: { user: string; password: string }) {
  const bin = findTool("MINIO_ADMIN_BIN", "minio-admin");
  if (!bin) throw new Error("minio-admin not built (.ci/run builds it from test/tools/minio-admin)");
  const user = { user: "expo-reader", password: "expo-reader-secret" };
  await promisify(execFile)(bin, [endpoint, root.user, root.password, user.user, user.password]);
  return user;
}
