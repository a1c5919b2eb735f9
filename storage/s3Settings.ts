// How S3 locations are reached and how long storage may be unreachable. Resolved once at the edge (flags and the
// standard AWS variables) and passed to openStorage, and to worker processes as flags.
import type { StorageRetry } from "./storageRetry.js";

export interface S3Settings {
  /** S3-compatible endpoint URL; undefined: AWS S3 for the region. */
  endpoint?: string;
  forcePathStyle: boolean;
  region: string;
  /** Keep-alive sockets per process: enough for every unit in flight (an aligned read, base reads, a part upload). */
  maxSockets: number;
  /** Send SHA-256 part checksums to the server (x-amz-checksum-sha256). */
  partChecksums: boolean;
}

export interface StorageSettings {
  s3: S3Settings;
  /** The process's retry policy and outage tracker (one per process: every location shares it). */
  retry: StorageRetry;
}

/** Path-style addressing by default for endpoints named by IP or localhost: virtual hosts cannot reach them. */
export function defaultPathStyle(endpoint: string | undefined): boolean {
  if (!endpoint || !URL.canParse(endpoint)) return false;
  const host = new URL(endpoint).hostname;
  return host === "localhost" || /^[\d.]+$/.test(host) || host.startsWith("[");
}
