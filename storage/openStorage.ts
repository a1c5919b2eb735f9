import { UsageError } from "../checkpoint/errors.js";
import { LocalStorage } from "./localStorage.js";
import type { Storage } from "./types.js";

/** Storage for a location string: a local folder path (s3:// arrives with the S3 backend). */
export function openStorage(location: string): Storage {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new UsageError(`${location}: unsupported location scheme (local folders only in this build)`);
  }
  return new LocalStorage(location);
}
