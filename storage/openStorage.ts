import { UsageError } from "../core/errors.js";
import { LocalStorage } from "./localStorage.js";
import { RetryingStorage } from "./retryingStorage.js";
import type { StorageSettings } from "./s3Settings.js";
import { S3Storage } from "./s3Storage.js";
import type { Storage } from "./types.js";

/** Storage for a location string: `s3://bucket/prefix` or a local folder path; every call retried by `settings.retry`. */
export function openStorage(location: string, settings: StorageSettings): Storage {
  return new RetryingStorage(backend(location, settings), settings.retry);
}

function backend(location: string, settings: StorageSettings): Storage {
  if (location.startsWith("s3://")) {
    if (!/^s3:\/\/[^/]+/.test(location)) throw new UsageError(`${location}: expected s3://bucket/prefix`);
    return new S3Storage(location, settings.s3);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location))
    throw new UsageError(`${location}: unsupported location (a folder or s3://bucket/prefix)`);
  return new LocalStorage(location);
}
