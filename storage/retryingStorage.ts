// A Storage whose every call goes through the process's StorageRetry: openStorage hands out only these, so
// planning, the journal, the uploads, the workers' reads and parts and the commit all wait out an outage the
// same way. Every call here is safe to repeat: reads and puts are idempotent, a part is the same bytes under
// the same number, completion accepts an object already completed, the append log's append and rewrite are
// written to be repeated; a CreateMultipartUpload whose reply was lost leaves an extra upload, which the
// coordinator aborts at the end (listUploads).
import type { StorageOperation, StorageRetry } from "./storageRetry.js";
import type { AppendLog, ObjectInfo, Storage, StorageLimits, WrittenPart } from "./types.js";

export class RetryingStorage implements Storage {
  constructor(
    private readonly inner: Storage,
    private readonly retry: StorageRetry,
  ) {}

  get location(): string {
    return this.inner.location;
  }

  get limits(): StorageLimits {
    return this.inner.limits;
  }

  get wantsPartSha256(): boolean {
    return this.inner.wantsPartSha256;
  }

  exists(): Promise<boolean> {
    return this.run("stat", undefined, () => this.inner.exists());
  }

  list(): Promise<string[]> {
    return this.run("list", undefined, () => this.inner.list());
  }

  stat(name: string): Promise<ObjectInfo | undefined> {
    return this.run("stat", name, () => this.inner.stat(name));
  }

  pin(name: string, etag: string): void {
    this.inner.pin(name, etag);
  }

  readRange(name: string, offset: number, length: number, into: Buffer, intoOffset: number): Promise<void> {
    return this.run("read", name, () => this.inner.readRange(name, offset, length, into, intoOffset));
  }

  readSmall(name: string): Promise<Buffer> {
    return this.run("read_small", name, () => this.inner.readSmall(name));
  }

  writeSmall(name: string, data: Buffer): Promise<void> {
    return this.run("write_small", name, () => this.inner.writeSmall(name, data));
  }

  createExclusive(name: string, data: Buffer): Promise<boolean> {
    return this.run("write_small", name, () => this.inner.createExclusive(name, data));
  }

  createMultipart(name: string, size: number): Promise<string> {
    return this.run("create_upload", name, () => this.inner.createMultipart(name, size));
  }

  writePart(
    name: string,
    uploadId: string,
    partNumber: number,
    offset: number,
    chunks: Buffer[],
    sha256?: string,
  ): Promise<WrittenPart> {
    return this.run("write_part", name, () => this.inner.writePart(name, uploadId, partNumber, offset, chunks, sha256));
  }

  completeMultipart(name: string, uploadId: string, parts: WrittenPart[]): Promise<void> {
    return this.run("complete_upload", name, () => this.inner.completeMultipart(name, uploadId, parts));
  }

  abortMultipart(name: string, uploadId: string): Promise<void> {
    return this.run("abort_upload", name, () => this.inner.abortMultipart(name, uploadId));
  }

  listUploads(name: string): Promise<string[]> {
    return this.run("list_uploads", name, () => this.inner.listUploads(name));
  }

  removeIfEmpty(): Promise<void> {
    return this.run("delete", undefined, () => this.inner.removeIfEmpty());
  }

  delete(name: string): Promise<void> {
    return this.run("delete", name, () => this.inner.delete(name));
  }

  appendLog(name: string): AppendLog {
    const log = this.inner.appendLog(name);
    const run = <T>(operation: StorageOperation, call: () => Promise<T>) => this.retry.run(operation, log.where, call);
    return {
      where: log.where,
      read: () => run("journal_read", () => log.read()),
      append: (text) => run("journal_append", () => log.append(text)),
      rewrite: (text) => run("journal_compact", () => log.rewrite(text)),
      remove: () => run("journal_remove", () => log.remove()),
      close: () => log.close(),
    };
  }

  checkWritable(): Promise<void> {
    return this.run("check", undefined, () => this.inner.checkWritable());
  }

  realLocation(): Promise<string> {
    return this.run("check", undefined, () => this.inner.realLocation());
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private run<T>(operation: StorageOperation, name: string | undefined, call: () => Promise<T>): Promise<T> {
    return this.retry.run(operation, name === undefined ? this.location : `${this.location}/${name}`, call);
  }
}
