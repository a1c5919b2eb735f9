// Direct S3 access for assertions, with the test's own client (not the code under test).
import {
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";

export function testClient(env: Record<string, string>): S3Client {
  return new S3Client({
    endpoint: env.AWS_ENDPOINT_URL,
    region: env.AWS_REGION ?? "us-east-1",
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID as string, secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string },
  });
}

export async function getObject(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await (r.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

export async function putObject(client: S3Client, bucket: string, key: string, body: Buffer): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

export async function listKeys(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key as string).sort();
}

/**
 * Multipart uploads open in the bucket, as "key uploadId", or only those of `keys`. Give the keys after a MinIO
 * restart: MinIO then lists the uploads of an exact key, but no longer those of a whole bucket.
 */
export async function openUploads(client: S3Client, bucket: string, keys?: string[]): Promise<string[]> {
  const list = async (prefix?: string) => {
    const r = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
    return (r.Uploads ?? [])
      .filter((u) => prefix === undefined || u.Key === prefix)
      .map((u) => `${u.Key} ${u.UploadId}`);
  };
  if (keys === undefined) return list();
  return (await Promise.all(keys.map((k) => list(k)))).flat();
}
