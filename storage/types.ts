// The one interface planner, workers, journal and finalizer use for checkpoints and outputs. A location is
// a folder (local) or a prefix (S3); names are plain file names inside it. Which kind a location is gets
// decided in openStorage, nowhere else.

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

/**
 * A log that only grows, durable at every append: the coordinator's journal. Local folders append to one file;
 * object stores, whose objects cannot grow, write one object per append.
 */
export interface AppendLog {
  /** Where it lives, for messages. */
  readonly where: string;
  /**
   * Everything appended so far, in order (UTF-8), as pieces that each end on a line (or, the last, on a line
   * torn by a crash); undefined when there is no log. Bytes, not a string, and pieces, not one buffer: a
   * 100k-unit journal is parsed line by line without a second, decoded or concatenated copy of it all.
   */
  read(): Promise<Buffer[] | undefined>;
  /**
   * Resolves once the text is durable. Trying the same append again after a failure leaves the log as one
   * success would (a retry after a lost reply does not duplicate or tear it).
   */
  append(text: string): Promise<void>;
  /**
   * Replaces everything appended so far with `text` (a compacted equivalent), atomically: a reader sees the
   * old log or the new one, never a mix; later appends follow it.
   */
  rewrite(text: string): Promise<void>;
  /** Deletes the log (and a folder that only it needed). */
  remove(): Promise<void>;
  /** Releases handles; the log stays. */
  close(): Promise<void>;
}

export interface Storage {
  /** Canonical location (absolute path or s3:// URL), used in messages and provenance. */
  readonly location: string;
  readonly limits: StorageLimits;
  /** Whether writePart wants the part's SHA-256 (sent as the part checksum and as the signed payload hash). */
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
  /**
   * Writes a small object whole and durably only if no object of that name exists: true when this call created
   * it, false when one was there (another writer's, or this writer's own whose reply was lost: read it to tell).
   * A reader sees the whole object or none. Stores that ignore S3's If-None-Match answer true every time
   * (coordinator/outputLease.ts probes for that).
   */
  createExclusive(name: string, data: Buffer): Promise<boolean>;
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
  /**
   * Makes the object visible under its name, durably. Done again once it is done (a retry after a lost reply,
   * a restarted coordinator finishing its commit), it succeeds when the object there is the one these parts
   * make.
   */
  completeMultipart(name: string, uploadId: string, parts: WrittenPart[]): Promise<void>;
  abortMultipart(name: string, uploadId: string): Promise<void>;
  /**
   * Upload ids of the multipart uploads open for `name`, whoever opened them. Asked per name: MinIO lists the
   * uploads of an exact key, but not those under a prefix (nor, after a restart, those of a whole bucket).
   */
  listUploads(name: string): Promise<string[]>;
  delete(name: string): Promise<void>;
  /** Removes the location itself once nothing is left in it (a local folder; S3 prefixes are not objects). */
  removeIfEmpty(): Promise<void>;
  /** The append-only log `name` in this location (created on first append). */
  appendLog(name: string): AppendLog;
  /** Refuses (UsageError) a location this process cannot write to, before anything is written. */
  checkWritable(): Promise<void>;
  /** The location with symbolic links resolved, for telling whether two locations overlap. */
  realLocation(): Promise<string>;
  /** Releases cached handles and connections. */
  close(): Promise<void>;
}
