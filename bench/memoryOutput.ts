// An output location that only opens multipart uploads: all Coordinator.start() asks of it (benchmarks of the
// coordinator at scale, without output files).
import type { Storage } from "../storage/types.js";
import { S3_LIMITS } from "./scaleJob.js";

export function memoryOutput(location: string): Storage {
  let next = 0;
  const unused = () => Promise.reject(new Error("not used by the lease benchmark"));
  return {
    location,
    limits: S3_LIMITS,
    wantsPartSha256: false,
    exists: async () => true,
    list: async () => [],
    stat: async () => undefined,
    pin: () => undefined,
    readRange: unused,
    readSmall: unused,
    writeSmall: unused,
    createExclusive: unused,
    createMultipart: async (name: string) => `upload-${name}-${++next}`,
    writePart: unused,
    completeMultipart: unused,
    abortMultipart: async () => undefined,
    listUploads: async () => [],
    delete: async () => undefined,
    removeIfEmpty: async () => undefined,
    appendLog: () => {
      throw new Error("not used by the lease benchmark");
    },
    checkWritable: async () => undefined,
    realLocation: async () => location,
    close: async () => undefined,
  };
}
