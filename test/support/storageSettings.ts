import type { StorageSettings } from "../../storage/s3Settings.js";
import { StorageRetry } from "../../storage/storageRetry.js";

/** Settings for in-process jobs over local folders (S3 is not reached with these). */
export const LOCAL_STORAGE: StorageSettings = {
  s3: { forcePathStyle: false, region: "us-east-1", maxSockets: 64, partChecksums: true },
  retry: new StorageRetry({ timeoutMs: 30_000 }),
};
