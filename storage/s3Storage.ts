// Storage over an S3 prefix (AWS S3, MinIO, Ceph RGW, …). Reads are ranged GETs pinned to the
// ETag recorded at planning (If-Match), so an object replaced mid-job fails the job instead of
// mixing two versions; outputs are multipart uploads completed by the coordinator.
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import { ObjectAppendLog } from "./objectAppendLog.js";
import { s3Client } from "./s3Client.js";
import { describeS3Error, isNotFound } from "./s3Errors.js";
import type { S3Settings } from "./s3Settings.js";
import type { AppendLog, ObjectInfo, Storage, StorageLimits, WrittenPart } from "./types.js";

export const S3_LIMITS: StorageLimits = { minPartSize: 5 * 1024 * 1024, maxPartSize: 5 * 1024 ** 3, maxParts: 10_000 };

type Sdk = typeof import("@aws-sdk/client-s3");

export function parseS3Location(location: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(location);
  if (!m || !m[1]) throw new Error(`${location}: not an s3://bucket/prefix location`);
  return { bucket: m[1], prefix: (m[2] as string).replace(/\/+$/, "") };
}

export class S3Storage implements Storage {
  readonly location: string;
  readonly limits = S3_LIMITS;
  private readonly bucket: string;
  private readonly prefix: string;
  private clientPromise?: Promise<{ client: S3Client; sdk: Sdk }>;
  private readonly partChecksums: boolean;
  /** Always: the part checksum where enabled, and the signed payload hash in any case (see writePart). */
  readonly wantsPartSha256 = true;
  /** ETags pinned for reads (from stat or from the plan). */
  private readonly pinned = new Map<string, string>();

  constructor(
    location: string,
    private readonly settings: S3Settings,
  ) {
    const { bucket, prefix } = parseS3Location(location);
    this.bucket = bucket;
    this.prefix = prefix;
    this.location = `s3://${bucket}${prefix ? `/${prefix}` : ""}`;
    this.partChecksums = this.settings.partChecksums;
  }

  async exists(): Promise<boolean> {
    await this.call("HeadBucket", undefined, (c) =>
      c.client.send(new c.sdk.HeadBucketCommand({ Bucket: this.bucket })),
    );
    const r = await this.call("ListObjectsV2", undefined, (c) =>
      c.client.send(new c.sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.dirPrefix(), MaxKeys: 1 })),
    );
    return (r.KeyCount ?? 0) > 0;
  }

  async list(): Promise<string[]> {
    const names: string[] = [];
    let token: string | undefined;
    do {
      const r = await this.call("ListObjectsV2", undefined, (c) =>
        c.client.send(
          new c.sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.dirPrefix(),
            Delimiter: "/",
            ContinuationToken: token,
          }),
        ),
      );
      for (const o of r.Contents ?? []) if (o.Key) names.push(o.Key.slice(this.dirPrefix().length));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return names.filter((n) => n !== "").sort();
  }

  async stat(name: string): Promise<ObjectInfo | undefined> {
    const c = await this.connect();
    try {
      const r = await c.client.send(new c.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
      const etag = r.ETag ?? "";
      this.pinned.set(name, etag);
      return { size: r.ContentLength ?? 0, etag, mtimeMs: r.LastModified?.getTime() ?? 0 };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw describeS3Error(e, "HeadObject", `${this.location}/${name}`);
    }
  }

  pin(name: string, etag: string): void {
    this.pinned.set(name, etag);
  }

  async readRange(name: string, offset: number, length: number, into: Buffer, intoOffset: number): Promise<void> {
    if (length === 0) return;
    const r = await this.call("GetObject", name, (c) =>
      c.client.send(
        new c.sdk.GetObjectCommand({
          Bucket: this.bucket,
          Key: this.key(name),
          Range: `bytes=${offset}-${offset + length - 1}`,
          IfMatch: this.pinned.get(name),
        }),
      ),
    );
    // A body that breaks after the response started is retried like a failed request (storage/storageRetry.ts).
    await readInto(r.Body as Readable, into, intoOffset, length, `${this.location}/${name}`);
  }

  async readSmall(name: string): Promise<Buffer> {
    const r = await this.call("GetObject", name, (c) =>
      c.client.send(new c.sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.key(name) })),
    );
    // Straight into one buffer of the announced size: a journal snapshot of tens of MiB is not copied twice.
    if (r.ContentLength !== undefined) {
      const into = Buffer.allocUnsafe(r.ContentLength);
      await readInto(r.Body as Readable, into, 0, r.ContentLength, `${this.location}/${name}`);
      return into;
    }
    const bytes = await (r.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async writeSmall(name: string, data: Buffer): Promise<void> {
    await this.call("PutObject", name, (c) =>
      c.client.send(new c.sdk.PutObjectCommand({ Bucket: this.bucket, Key: this.key(name), Body: data })),
    );
  }

  /**
   * PutObject with If-None-Match: * (AWS S3 since 2024, MinIO): 412 when the key exists, 409 when
   * another conditional write to it is in flight (that one wins or fails on its own; either way not this one).
   */
  async createExclusive(name: string, data: Buffer): Promise<boolean> {
    const c = await this.connect();
    try {
      await c.client.send(
        new c.sdk.PutObjectCommand({ Bucket: this.bucket, Key: this.key(name), Body: data, IfNoneMatch: "*" }),
      );
      return true;
    } catch (e) {
      if (isConditionFailed(e)) return false;
      throw describeS3Error(e, "PutObject", `${this.location}/${name}`);
    }
  }

  async createMultipart(name: string, _size: number): Promise<string> {
    const r = await this.call("CreateMultipartUpload", name, (c) =>
      c.client.send(
        new c.sdk.CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.key(name),
          ChecksumAlgorithm: this.partChecksums ? "SHA256" : undefined,
        }),
      ),
    );
    if (!r.UploadId) throw new Error(`${this.location}/${name}: CreateMultipartUpload returned no upload id`);
    return r.UploadId;
  }

  async writePart(
    name: string,
    uploadId: string,
    partNumber: number,
    _offset: number,
    chunks: Buffer[],
    sha256?: string,
  ): Promise<WrittenPart> {
    const length = chunks.reduce((n, c) => n + c.length, 0);
    const checksum = !this.partChecksums
      ? undefined
      : sha256
        ? Buffer.from(sha256, "hex").toString("base64")
        : chunks.reduce((h, c) => h.update(c), createHash("sha256")).digest("base64");
    // Several chunks (the shard header before part 1's data) go out as a stream of the chunks themselves: no
    // concatenated copy of a 64 MiB part. Each try builds its own stream (storage/storageRetry.ts retries).
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Readable.from(chunks, { objectMode: false });
    const r = await this.call("UploadPart", name, (c) => {
      const command = new c.sdk.UploadPartCommand({
        Bucket: this.bucket,
        Key: this.key(name),
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: body,
        ContentLength: length,
        ChecksumSHA256: checksum,
      });
      // SigV4 signs a hash of the payload: given none, the SDK hashes a buffer body a second time on the event
      // loop (0.6 CPU s per GiB here, as much as the part's own hash). The hash the worker already has goes in
      // the signed header instead, and the server checks the body against it.
      if (sha256)
        command.middlewareStack.add(
          (next) => (args) => {
            (args.request as { headers: Record<string, string> }).headers["x-amz-content-sha256"] = sha256;
            return next(args);
          },
          { step: "build", name: "expoPayloadHash" },
        );
      return c.client.send(command);
    });
    return { partNumber, etag: r.ETag ?? "", checksumSha256: r.ChecksumSHA256 ?? checksum };
  }

  async completeMultipart(name: string, uploadId: string, parts: WrittenPart[]): Promise<void> {
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    const c = await this.connect();
    try {
      await c.client.send(
        new c.sdk.CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.key(name),
          UploadId: uploadId,
          MultipartUpload: {
            Parts: sorted.map((p) => ({
              PartNumber: p.partNumber,
              ETag: p.etag,
              ChecksumSHA256: this.partChecksums ? p.checksumSha256 : undefined,
            })),
          },
        }),
      );
    } catch (e) {
      // No such upload any more: completed already (a try whose reply was lost, a coordinator that died
      // before recording its commit) when the object there is the one these parts make.
      if (!isNoSuchUpload(e) || !(await this.completedAs(name, sorted))) {
        throw describeS3Error(e, "CompleteMultipartUpload", `${this.location}/${name}`);
      }
    }
  }

  async abortMultipart(name: string, uploadId: string): Promise<void> {
    const c = await this.connect();
    try {
      await c.client.send(
        new c.sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key(name), UploadId: uploadId }),
      );
    } catch (e) {
      // Aborted or completed already: nothing left to abort.
      if (!isNoSuchUpload(e)) throw describeS3Error(e, "AbortMultipartUpload", `${this.location}/${name}`);
    }
  }

  async listUploads(name: string): Promise<string[]> {
    const ids: string[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const r = await this.call("ListMultipartUploads", name, (c) =>
        c.client.send(
          new c.sdk.ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: this.key(name),
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        ),
      );
      for (const u of r.Uploads ?? []) if (u.Key === this.key(name) && u.UploadId) ids.push(u.UploadId);
      if (!r.IsTruncated) return ids;
      keyMarker = r.NextKeyMarker;
      uploadIdMarker = r.NextUploadIdMarker;
    }
  }

  async delete(name: string): Promise<void> {
    await this.call("DeleteObject", name, (c) =>
      c.client.send(new c.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(name) })),
    );
  }

  async removeIfEmpty(): Promise<void> {
    // A prefix is not an object: nothing is left once its objects are deleted.
  }

  appendLog(name: string): AppendLog {
    return new ObjectAppendLog(this, name);
  }

  /** Permissions show when the uploads are opened (a denied CreateMultipartUpload is a usage error). */
  async checkWritable(): Promise<void> {}

  async realLocation(): Promise<string> {
    return this.location;
  }

  async close(): Promise<void> {
    // The client is shared per process (keep-alive sockets); nothing to release per location.
  }

  /** The SDK is loaded on first use: local-only runs never pay for importing it. */
  private connect(): Promise<{ client: S3Client; sdk: Sdk }> {
    this.clientPromise ??= Promise.all([import("@aws-sdk/client-s3"), s3Client(this.settings)]).then(
      ([sdk, client]) => ({
        sdk,
        client,
      }),
    );
    return this.clientPromise;
  }

  /**
   * Whether `name` is the object these parts complete to: its ETag is the multipart ETag they make (MD5 of
   * the parts' MD5s, "-" and the part count) where the parts' ETags are MD5s, as on AWS S3, MinIO and Ceph;
   * otherwise (stores with other ETags) that an object of that name exists.
   */
  private async completedAs(name: string, parts: WrittenPart[]): Promise<boolean> {
    const c = await this.connect();
    let etag: string | undefined;
    try {
      etag = (await c.client.send(new c.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.key(name) }))).ETag;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw describeS3Error(e, "HeadObject", `${this.location}/${name}`);
    }
    const md5s = parts.map((p) => /^"?([0-9a-f]{32})"?$/i.exec(p.etag)?.[1]);
    if (md5s.some((m) => m === undefined)) return etag !== undefined;
    const digest = createHash("md5")
      .update(Buffer.concat(md5s.map((m) => Buffer.from(m as string, "hex"))))
      .digest("hex");
    return etag?.replace(/"/g, "") === `${digest}-${parts.length}`;
  }

  private key(name: string): string {
    return `${this.dirPrefix()}${name}`;
  }

  private dirPrefix(): string {
    return this.prefix ? `${this.prefix}/` : "";
  }

  private async call<T>(
    operation: string,
    name: string | undefined,
    send: (c: { client: S3Client; sdk: Sdk }) => Promise<T>,
  ): Promise<T> {
    const c = await this.connect();
    try {
      return await send(c);
    } catch (e) {
      throw describeS3Error(e, operation, name === undefined ? this.location : `${this.location}/${name}`);
    }
  }
}

async function readInto(body: Readable, into: Buffer, at: number, length: number, where: string): Promise<void> {
  let done = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (done + chunk.length > length) throw new Error(`${where}: server sent more bytes than the requested range`);
      chunk.copy(into, at + done);
      done += chunk.length;
    }
  } catch (e) {
    const err = e as { message?: string; code?: string };
    if (err.message?.startsWith(where)) throw e;
    // The connection broke mid-body: name the object, keep what tells an outage (the code) and mark it as such.
    throw Object.assign(new Error(`${where}: GetObject body: ${err.message ?? String(e)}`), {
      code: err.code,
      stream: true,
    });
  }
  if (done !== length)
    throw Object.assign(new Error(`${where}: short read (${done} of ${length} bytes)`), { stream: true });
}

function isConditionFailed(e: unknown): boolean {
  const err = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const status = err.$metadata?.httpStatusCode;
  return (
    err.name === "PreconditionFailed" ||
    err.name === "ConditionalRequestConflict" ||
    err.Code === "PreconditionFailed" ||
    status === 412 ||
    status === 409
  );
}

function isNoSuchUpload(e: unknown): boolean {
  const err = e as { name?: string; Code?: string };
  return err.name === "NoSuchUpload" || err.Code === "NoSuchUpload";
}
