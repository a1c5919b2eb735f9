// The one interface planner, workers and finalizer use for checkpoints and outputs. A location is
// a folder (local) or a prefix (S3, later); names are plain file names inside it.

export interface ObjectInfo {
  size: number;
  /** Content identity: S3 ETag, or size+mtime for local files. Recorded at planning, checked on read. */
  etag: string;
  mtimeMs: number;
}

/** A part written by a worker; the finalizer needs these to complete the upload. */
export interface WrittenPart {
  partNumber: number;
  etag: string;
  /** Base64 SHA-256 the server verified, where it supports part checksums. */
  checksumSha256?: string;
}

export interface StorageLimits {
  /** Every part but the last must be at least this many bytes. */
  minPartSize: number;
  maxPartSize: number;
  maxParts: number;
}

export interface Storage {
  /** Canonical location (absolute path or s3:// URL), used in messages and provenance. */
  readonly location: string;
  readonly limits: StorageLimits;
  /** Whether writePart wants the part's SHA-256 (sent as the part checksum). */
  readonly wantsPartSha256: boolean;
  /** Whether the location exists (folder / bucket+prefix reachable). */
  exists(): Promise<boolean>;
  /** Plain file names directly inside the location. */
  list(): Promise<string[]>;
  /** undefined when the object does not exist. Pins the returned version for later reads. */
  stat(name: string): Promise<ObjectInfo | undefined>;
  /** Pins the version (etag from planning) that reads of `name` must see; a changed object fails the read. */
  pin(name: string, etag: string): void;
  /** Reads exactly `length` bytes at `offset` into `into` at `intoOffset`; fails on a short object. */
  readRange(name: string, offset: number, length: number, into: Buffer, intoOffset: number): Promise<void>;
  readSmall(name: string): Promise<Buffer>;
  /** Writes a small object whole and durably. */
  writeSmall(name: string, data: Buffer): Promise<void>;
  /** Starts an output object written in parts; returns an upload id any process can write parts to. */
  createMultipart(name: string, size: number): Promise<string>;
  /**
   * Writes one part; `offset` is the part's byte offset in the final object (local files write there).
   * `sha256` (hex), when the caller has it, is sent as the part checksum where the store supports one.
   */
  writePart(
    name: string,
    uploadId: string,
    partNumber: number,
    offset: number,
    chunks: Buffer[],
    sha256?: string,
  ): Promise<WrittenPart>;
  /** Makes the object visible under its name, durably. */
  completeMultipart(name: string, uploadId: string, parts: WrittenPart[]): Promise<void>;
  abortMultipart(name: string, uploadId: string): Promise<void>;
  delete(name: string): Promise<void>;
  /** Releases cached handles and connections. */
  close(): Promise<void>;
}
