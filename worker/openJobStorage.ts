import type { JobContext } from "../core/leaseService.js";
import { openStorage } from "../storage/openStorage.js";
import type { StorageSettings } from "../storage/s3Settings.js";
import type { Storage } from "../storage/types.js";

export interface JobStorage {
  aligned: Storage;
  base: Storage;
  outputs: Storage[];
  close(): Promise<void>;
}

/** The job's inputs, pinned to the versions the coordinator planned with, and its outputs. */
export function openJobStorage(job: JobContext, settings: StorageSettings): JobStorage {
  const aligned = openStorage(job.aligned, settings);
  const base = openStorage(job.base, settings);
  const outputs = job.outputs.map((o) => openStorage(o.location, settings));
  for (const [file, etag] of Object.entries(job.inputVersions.aligned)) aligned.pin(file, etag);
  for (const [file, etag] of Object.entries(job.inputVersions.base)) base.pin(file, etag);
  return {
    aligned,
    base,
    outputs,
    close: async () => {
      await Promise.all([aligned.close(), base.close(), ...outputs.map((o) => o.close())]);
    },
  };
}
